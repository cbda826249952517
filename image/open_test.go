package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/redox-cook/cook/redoxfs"
)

// smallGPT returns a disk image of sectors 512-byte sectors with a GPT of
// count entries (the first one a partition named name from LBA start to
// the last usable sector),
// written by hand as the UEFI spec lays it out: protective MBR, header at
// LBA 1, entries from LBA 2, backup entries and header at the end.
func smallGPT(sectors, count int, name string, start uint64) []byte {
	img := make([]byte, sectors*gptSector)
	img[446+4] = 0xEE // protective MBR partition
	binary.LittleEndian.PutUint32(img[446+8:], 1)
	binary.LittleEndian.PutUint32(img[446+12:], uint32(sectors-1))
	img[510], img[511] = 0x55, 0xAA
	entries := make([]byte, count*gptEntrySize)
	e := entries[:gptEntrySize]
	copy(e[0:16], []byte{0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4}) // Linux filesystem
	copy(e[16:32], []byte("unique partition"))
	tableSectors := (len(entries) + gptSector - 1) / gptSector
	last := uint64(sectors - 1)
	binary.LittleEndian.PutUint64(e[32:], start)
	binary.LittleEndian.PutUint64(e[40:], last-1-uint64(tableSectors))
	for i, r := range name {
		binary.LittleEndian.PutUint16(e[56+2*i:], uint16(r))
	}
	header := func(my, alt, table uint64) []byte {
		h := make([]byte, 92)
		copy(h, "EFI PART")
		copy(h[8:], []byte{0, 0, 1, 0})
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], my)
		binary.LittleEndian.PutUint64(h[32:], alt)
		binary.LittleEndian.PutUint64(h[40:], uint64(2+tableSectors))
		binary.LittleEndian.PutUint64(h[48:], last-1-uint64(tableSectors))
		copy(h[56:72], []byte("disk guid 012345"))
		binary.LittleEndian.PutUint64(h[72:], table)
		binary.LittleEndian.PutUint32(h[80:], uint32(count))
		binary.LittleEndian.PutUint32(h[84:], gptEntrySize)
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(entries))
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
		return h
	}
	copy(img[gptSector:], header(1, last, 2))
	copy(img[2*gptSector:], entries)
	backupTable := last - uint64(tableSectors)
	copy(img[backupTable*gptSector:], entries)
	copy(img[last*gptSector:], header(last, 1, backupTable))
	return img
}

// setHeader changes fields of the header at lba and fixes its CRC.
func setHeader(img []byte, lba int, count, size uint32, table uint64) {
	h := img[lba*gptSector : lba*gptSector+92]
	binary.LittleEndian.PutUint64(h[72:], table)
	binary.LittleEndian.PutUint32(h[80:], count)
	binary.LittleEndian.PutUint32(h[84:], size)
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
}

func TestReadGPT(t *testing.T) {
	img := smallGPT(64, 4, "REDOX", 8)
	table, err := ReadGPT(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if len(table.Partitions) != 1 || table.Partitions[0].Name != "REDOX" || table.Partitions[0].Start != 8 || table.Partitions[0].Type != gpt.LinuxFilesystem {
		t.Fatalf("partitions %+v", table.Partitions)
	}
	tests := []struct {
		name  string
		craft func(b []byte)
		want  string // "" for ErrNoGPT
	}{
		{"no GPT", func(b []byte) { clear(b) }, ""},
		{"huge primary", func(b []byte) { setHeader(b, 1, 1<<31, 1<<31, 2) }, "GPT header at LBA 1: 2147483648 entries of 2147483648 bytes: entry size"},
		{"too many entries", func(b []byte) { setHeader(b, 1, 1<<20, 128, 2) }, "more than 65536 entries"},
		{"table past the end", func(b []byte) { setHeader(b, 1, 4, 128, 64) }, "entry table at LBA 64 lies outside the image (64 sectors)"},
		{"table at LBA 0", func(b []byte) { setHeader(b, 1, 4, 128, 0) }, "entry table at LBA 0"},
		{"huge backup", func(b []byte) {
			b[gptSector+60] ^= 1
			setHeader(b, 63, 1<<31, 1<<31, 62)
		}, "GPT header at LBA 63: 2147483648 entries"},
		{"huge backup behind bad entries", func(b []byte) {
			b[2*gptSector] ^= 1
			setHeader(b, 63, 1<<20, 128, 62)
		}, "GPT header at LBA 63: 1048576 entries"},
		{"damaged, no backup", func(b []byte) {
			b[gptSector+60] ^= 1
			b[63*gptSector] ^= 1
		}, "the header at LBA 1 is damaged, and there is no valid backup header at LBA 63"},
		{"bad entries, no backup", func(b []byte) {
			b[2*gptSector] ^= 1
			b[63*gptSector] ^= 1
		}, "the entry table at LBA 2 does not match its CRC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(img)
			tt.craft(b)
			_, err := ReadGPT(bytes.NewReader(b), int64(len(b)))
			if tt.want == "" {
				if !errors.Is(err, ErrNoGPT) {
					t.Fatalf("ReadGPT = %v, want ErrNoGPT", err)
				}
				return
			}
			if err == nil || errors.Is(err, ErrNoGPT) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ReadGPT = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	// A damaged primary with a sound backup reads from the backup.
	b := bytes.Clone(img)
	b[gptSector+60] ^= 1
	if table, err := ReadGPT(bytes.NewReader(b), int64(len(b))); err != nil || !table.RecoveredFromBackup || len(table.Partitions) != 1 {
		t.Errorf("damaged primary: %v, %+v", err, table)
	}
}

func TestOpenFS(t *testing.T) {
	dir := t.TempDir()
	tree := redoxfs.NewTree()
	tree.Add(redoxfs.Entry{Path: "etc/hostname", Mode: 0o644, Open: redoxfs.BytesOpener([]byte("redox\n"))})
	// A GPT whose partition starts at 1 MiB holds the filesystem.
	img := smallGPT((5<<20)/gptSector+40, 128, "REDOX", 2048)
	p := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := redoxfs.Build(context.Background(), f, tree, redoxfs.Options{Offset: 1 << 20, Size: 4 << 20}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fsys, err := OpenFS(context.Background(), p, Search)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	if b, err := fs.ReadFile(fsys, "etc/hostname"); fsys.Offset != 1<<20 || err != nil || string(b) != "redox\n" {
		t.Errorf("offset %d, hostname %q, %v", fsys.Offset, b, err)
	}
	if _, err := OpenFS(context.Background(), filepath.Join(dir, "missing.img"), Search); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing image: %v", err)
	}
	if _, err := OpenFS(context.Background(), p, -2); err == nil {
		t.Error("a negative offset was accepted")
	}
	if _, err := OpenFS(context.Background(), p, 512); err == nil || !strings.Contains(err.Error(), "no valid RedoxFS") {
		t.Errorf("wrong offset: %v", err)
	}
}

// FuzzOpenGPT looks for RedoxFS in arbitrary disk images, through the GPT
// checks and go-diskfs: it may fail, but must not panic, hang or allocate
// more than the image holds. The seed is a small hand-made GPT.
func FuzzOpenGPT(f *testing.F) {
	f.Add(smallGPT(34, 4, "REDOX", 8))
	f.Fuzz(func(t *testing.T, img []byte) {
		r := bytes.NewReader(img)
		ReadGPT(r, int64(len(img)))
		findFS(r, int64(len(img)), Search)
	})
}
