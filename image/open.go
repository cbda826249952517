package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/redoxfs"
)

// FS is a RedoxFS found in an image file (a bare filesystem or a
// partitioned disk), opened for reading.
type FS struct {
	*redoxfs.FS
	Offset int64 // byte offset of the filesystem in the file
	file   *os.File
}

// Close closes the image file.
func (f *FS) Close() error { return f.file.Close() }

// Search is the offset to give OpenFS to have it look for the filesystem.
const Search = -1

// LegacyOffset is where the BIOS bootloader looks for RedoxFS on a whole
// disk, and where OpenFS looks last.
const LegacyOffset = 2 * MiB

// OpenFS opens the RedoxFS in the image file at path: at byte offset
// when offset is not Search; else at byte 0, else in a GPT partition (one
// named REDOX first), else at LegacyOffset. The GPT is checked against the
// file before it is read (see ReadGPT). The filesystem's reads and walks
// stop once ctx is done. An error for a missing file wraps fs.ErrNotExist.
func OpenFS(ctx context.Context, path string, offset int64) (*FS, error) {
	if offset < 0 && offset != Search {
		return nil, fmt.Errorf("%s: negative offset %d", path, offset)
	}
	f, err := fsutil.OpenRegular(path) // a FIFO would block past Ctrl-C
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	at, fsys, err := findFS(f, st.Size(), offset)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &FS{FS: fsys.WithContext(ctx), Offset: at, file: f}, nil
}

// findFS looks for RedoxFS in r (size bytes) as OpenFS does.
func findFS(r io.ReaderAt, size, offset int64) (int64, *redoxfs.FS, error) {
	if offset >= 0 {
		fsys, err := redoxfs.Open(r, offset)
		return offset, fsys, err
	}
	var errs []string
	try := func(at int64, where string) *redoxfs.FS {
		fsys, err := redoxfs.Open(r, at)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", where, err))
		}
		return fsys
	}
	if fsys := try(0, "byte 0"); fsys != nil {
		return 0, fsys, nil
	}
	table, err := ReadGPT(r, size)
	switch {
	case errors.Is(err, ErrNoGPT):
	case err != nil:
		errs = append(errs, err.Error())
	default:
		for _, pass := range []func(*gpt.Partition) bool{
			func(p *gpt.Partition) bool { return p.Name == "REDOX" },
			func(p *gpt.Partition) bool { return p.Name != "REDOX" },
		} {
			for i, p := range table.Partitions {
				if p == nil || p.Type == gpt.Unused || !pass(p) {
					continue
				}
				where := fmt.Sprintf("GPT partition %d %q", i+1, p.Name)
				if p.Start >= uint64(size)/gptSector {
					errs = append(errs, fmt.Sprintf("%s: starts at LBA %d, beyond the image's end", where, p.Start))
					continue
				}
				at := int64(p.Start) * gptSector
				if fsys := try(at, fmt.Sprintf("%s at byte %d", where, at)); fsys != nil {
					return at, fsys, nil
				}
			}
		}
	}
	if size > LegacyOffset {
		if fsys := try(LegacyOffset, fmt.Sprintf("byte %d", LegacyOffset)); fsys != nil {
			return LegacyOffset, fsys, nil
		}
	}
	return 0, nil, fmt.Errorf("no RedoxFS found:\n  %s", strings.Join(errs, "\n  "))
}

// GPT limits: go-diskfs reads entries of exactly this size, and a table
// of more than gptMaxEntries is not one any partitioning tool writes.
const (
	gptSector     = 512
	gptEntrySize  = 128
	gptMaxEntries = 1 << 16
)

// ErrNoGPT means an image has no GPT header (neither at LBA 1 nor, as a
// backup, in its last sector).
var ErrNoGPT = errors.New("no GPT")

// gptHeader is the part of a GPT header ReadGPT checks.
type gptHeader struct {
	lba        uint64 // where it was read
	myLBA      uint64
	entriesLBA uint64
	count      uint32
	entrySize  uint32
	entriesCRC uint32
}

// parseGPTHeader decodes the header in b (a 512-byte sector) when go-diskfs
// would accept it: signature, revision 1.0, a 92-byte header, zero
// reserved bytes and a matching CRC. ok is false otherwise.
func parseGPTHeader(b []byte, lba uint64) (h gptHeader, ok bool) {
	if string(b[0:8]) != "EFI PART" || !bytes.Equal(b[8:12], []byte{0, 0, 1, 0}) ||
		binary.LittleEndian.Uint32(b[12:16]) != 92 || binary.LittleEndian.Uint32(b[20:24]) != 0 {
		return h, false
	}
	hdr := bytes.Clone(b[:92])
	want := binary.LittleEndian.Uint32(hdr[16:20])
	clear(hdr[16:20])
	if crc32.ChecksumIEEE(hdr) != want {
		return h, false
	}
	return gptHeader{
		lba:        lba,
		myLBA:      binary.LittleEndian.Uint64(b[24:32]),
		entriesLBA: binary.LittleEndian.Uint64(b[72:80]),
		count:      binary.LittleEndian.Uint32(b[80:84]),
		entrySize:  binary.LittleEndian.Uint32(b[84:88]),
		entriesCRC: binary.LittleEndian.Uint32(b[88:92]),
	}, true
}

// check refuses a header whose entry table is not 128-byte entries, holds
// more than gptMaxEntries, or does not lie inside the image.
func (h gptHeader) check(size int64) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("GPT header at LBA %d: %d entries of %d bytes: %s", h.lba, h.count, h.entrySize, fmt.Sprintf(format, args...))
	}
	if h.entrySize != gptEntrySize {
		return bad("entry size %d, want %d", h.entrySize, gptEntrySize)
	}
	if h.count > gptMaxEntries {
		return bad("more than %d entries", gptMaxEntries)
	}
	sectors := uint64(size) / gptSector
	tableSectors := (uint64(h.count)*gptEntrySize + gptSector - 1) / gptSector
	if h.entriesLBA < 2 || h.entriesLBA > sectors || tableSectors > sectors-h.entriesLBA {
		return bad("entry table at LBA %d lies outside the image (%d sectors)", h.entriesLBA, sectors)
	}
	return nil
}

// entriesOK reports whether the entry table h describes matches its CRC
// (h has passed check).
func (h gptHeader) entriesOK(r io.ReaderAt) bool {
	b := make([]byte, uint64(h.count)*gptEntrySize)
	if _, err := r.ReadAt(b, int64(h.entriesLBA)*gptSector); err != nil {
		return false
	}
	return crc32.ChecksumIEEE(b) == h.entriesCRC
}

// ReadGPT reads the GPT of a disk image of size bytes with go-diskfs, after
// checking every header go-diskfs would use — the primary at LBA 1 and,
// when the primary or its entries are damaged, the backup in the last
// sector — against the image and sane limits: go-diskfs allocates
// whatever entry table a header declares. It returns ErrNoGPT when the
// image has no GPT header, and an error naming the header's fault when a
// header's table cannot be real.
func ReadGPT(r io.ReaderAt, size int64) (*gpt.Table, error) {
	if size < 2*gptSector {
		return nil, ErrNoGPT
	}
	sector := make([]byte, gptSector)
	if _, err := r.ReadAt(sector, gptSector); err != nil {
		return nil, fmt.Errorf("GPT: reading LBA 1: %w", err)
	}
	primary := "" // what is wrong with a primary that go-diskfs passes over
	h, ok := parseGPTHeader(sector, 1)
	switch {
	case ok:
		if err := h.check(size); err != nil {
			return nil, err
		}
		if !h.entriesOK(r) {
			primary = fmt.Sprintf("the entry table at LBA %d does not match its CRC", h.entriesLBA)
		}
	case string(sector[:8]) == "EFI PART":
		primary = "the header at LBA 1 is damaged"
	default:
		primary = "no header at LBA 1"
	}
	if primary != "" {
		// go-diskfs turns to the backup in the last sector: check it too.
		last := uint64(size)/gptSector - 1
		if _, err := r.ReadAt(sector, int64(last)*gptSector); err != nil {
			return nil, fmt.Errorf("GPT: reading LBA %d: %w", last, err)
		}
		h, ok := parseGPTHeader(sector, last)
		switch {
		case !ok && primary == "no header at LBA 1":
			return nil, ErrNoGPT
		case !ok || h.myLBA != last:
			return nil, fmt.Errorf("GPT: %s, and there is no valid backup header at LBA %d", primary, last)
		}
		if err := h.check(size); err != nil {
			return nil, err
		}
	}
	table, err := gpt.Read(&diskFile{io.NewSectionReader(r, 0, size)}, gptSector, gptSector)
	if err != nil {
		return nil, fmt.Errorf("GPT: %w", err)
	}
	return table, nil
}

// diskFile gives go-diskfs the file interface it reads through.
type diskFile struct{ *io.SectionReader }

func (diskFile) Stat() (fs.FileInfo, error) { return nil, errors.ErrUnsupported }
func (diskFile) Close() error               { return nil }
