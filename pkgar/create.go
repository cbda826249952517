package pkgar

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ulikunitz/xz/lzma"
	"github.com/zeebo/blake3"

	"github.com/redox-cook/cook/internal/fsutil"
)

// CreateOption configures Create and Write.
type CreateOption func(*createOptions) error

type createOptions struct {
	arch      Architecture
	packaging Packaging
}

// WithPackaging sets how entry data is stored: Uncompressed (the default) or
// LZMA2 (upstream's COOKBOOK_COMPRESSED=true): each entry is then its
// uncompressed length as a little-endian u64 followed by a raw LZMA2 stream.
func WithPackaging(p Packaging) CreateOption {
	return func(o *createOptions) error {
		if p != Uncompressed && p != LZMA2 {
			return fmt.Errorf("unknown packaging %d", p)
		}
		o.packaging = p
		return nil
	}
}

// Info describes a package just written.
type Info struct {
	Header  Header
	Entries []Entry
	// Size is the package file's size in bytes (upstream's network_size).
	Size int64
	// StorageSize is upstream's storage_size: the file size, or for LZMA2
	// packages the head size plus the sum of the uncompressed entry sizes.
	StorageSize int64
}

// Create packages the tree at stageDir into the file dst, signed with key.
// The file is written beside dst under a temporary name and renamed into
// place only when complete. Output is deterministic: the same tree (names,
// contents, symlink targets, permission bits) and key give the same bytes.
func Create(ctx context.Context, dst, stageDir string, key *SecretKey, opts ...CreateOption) (*Info, error) {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating package %s: %w", dst, err)
	}
	var info *Info
	err := fsutil.WriteAtomic(dst, 0o644, func(f *os.File) (err error) {
		info, err = Write(ctx, f, stageDir, key, opts...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating package %s: %w", dst, err)
	}
	return info, nil
}

// Write packages the tree at stageDir into w, which must be positioned at
// the start of an empty file: data is streamed first after room for the
// head, then the head is written at offset 0. File contents are never held
// in memory as a whole.
func Write(ctx context.Context, w io.WriteSeeker, stageDir string, key *SecretKey, opts ...CreateOption) (*Info, error) {
	o := createOptions{}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if key == nil {
		return nil, errors.New("pkgar: no signing key")
	}
	entries, err := walkStage(stageDir)
	if err != nil {
		return nil, err
	}
	if uint64(len(entries)) > uint64(^uint32(0)) {
		return nil, fmt.Errorf("%s: %d entries, more than pkgar can hold", stageDir, len(entries))
	}
	h := Header{PublicKey: key.Public(), Count: uint32(len(entries)), Flags: NewFlags(o.arch, o.packaging)}
	headSize := h.HeadSize()
	if _, err := w.Seek(headSize, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seeking past the package head: %w", err)
	}

	var dataSize int64
	var unpacked uint64
	if f, ok := w.(*os.File); ok && o.packaging == Uncompressed {
		dataSize, err = writeDataParallel(ctx, f, stageDir, headSize, entries)
		if err != nil {
			return nil, err
		}
		unpacked = uint64(dataSize)
	} else {
		dataSize, unpacked, err = writeDataOrdered(ctx, w, stageDir, o.packaging, entries)
		if err != nil {
			return nil, err
		}
	}

	head := make([]byte, headSize)
	table := head[HeaderSize:]
	for i := range entries {
		if err := entries[i].put(table[i*EntrySize:]); err != nil {
			return nil, err
		}
	}
	h.Blake3 = Hash(blake3.Sum256(table))
	h.put(head)
	copy(h.Signature[:], key.sign(head[64:HeaderSize]))
	h.put(head)
	if _, err := w.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seeking to the package head: %w", err)
	}
	if _, err := w.Write(head); err != nil {
		return nil, fmt.Errorf("writing package head: %w", err)
	}
	size := headSize + dataSize
	storage := size
	if o.packaging == LZMA2 {
		storage = headSize + int64(unpacked)
	}
	return &Info{Header: h, Entries: entries, Size: size, StorageSize: storage}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeSymlink(w io.Writer, p Packaging, full string, e *Entry) (uint64, error) {
	target, err := os.Readlink(full)
	if err != nil {
		return 0, fmt.Errorf("stage entry: %w", err)
	}
	data := []byte(target)
	e.Blake3 = Hash(blake3.Sum256(data))
	if p == LZMA2 {
		lw, err := newLZMA2Writer(w, uint64(len(data)))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", full, err)
		}
		if _, err := lw.Write(data); err != nil {
			return 0, fmt.Errorf("%s: compressing: %w", full, err)
		}
		if err := lw.Close(); err != nil {
			return 0, fmt.Errorf("%s: compressing: %w", full, err)
		}
	} else if _, err := w.Write(data); err != nil {
		return 0, fmt.Errorf("writing package data: %w", err)
	}
	return uint64(len(data)), nil
}

func writeFile(ctx context.Context, w io.Writer, p Packaging, full string, e *Entry, hs *hasher) (uint64, error) {
	f, err := os.Open(full)
	if err != nil {
		return 0, fmt.Errorf("stage entry: %w", err)
	}
	defer f.Close()
	want := e.Size
	var dst io.Writer = w
	var lw io.WriteCloser
	if p == LZMA2 {
		lw, err = newLZMA2Writer(w, want)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", full, err)
		}
		dst = lw
	}
	sum, n, err := hs.copyAndHash(ctx, dst, f)
	if err != nil {
		return 0, fmt.Errorf("packaging %s: %w", full, err)
	}
	if n != want {
		return 0, fmt.Errorf("packaging %s: file changed while packaging (%d bytes read, %d expected)", full, n, want)
	}
	if lw != nil {
		if err := lw.Close(); err != nil {
			return 0, fmt.Errorf("packaging %s: compressing: %w", full, err)
		}
	}
	e.Blake3 = sum
	return n, nil
}

// lzma2DictCap is the dictionary size used to write LZMA2 entries (that of
// xz preset 5, which upstream's writer uses).
const lzma2DictCap = 8 << 20

func newLZMA2Writer(w io.Writer, ulen uint64) (io.WriteCloser, error) {
	var pre [8]byte
	binary.LittleEndian.PutUint64(pre[:], ulen)
	if _, err := w.Write(pre[:]); err != nil {
		return nil, err
	}
	dict := lzma2DictCap
	if ulen < uint64(dict) {
		dict = max(int(ulen), lzma.MinDictCap)
	}
	return lzma.Writer2Config{DictCap: dict}.NewWriter2(w)
}
