package initfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/redox-cook/cook/internal/fsutil"
)

// Image is an initfs image opened for reading. Every offset and length it
// follows is checked against the image size, nothing is allocated from a
// size the image states without a bound, and walks visit each inode once.
type Image struct {
	r      io.ReaderAt
	size   int64 // bytes of the image (InitfsSize, within the file)
	Header Header
	inodes []byte // the inode table, InodeCount*InodeSize bytes (at most 786 KiB)
}

// File is an Image opened from a file; Close closes the file.
type File struct {
	*Image
	f *os.File
}

// Close closes the underlying file.
func (f *File) Close() error { return f.f.Close() }

// OpenFile opens the image in the file at path.
func OpenFile(path string) (*File, error) {
	f, err := fsutil.OpenRegular(path) // a FIFO would block past Ctrl-C
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	var im *Image
	if err == nil {
		im, err = Open(f, st.Size())
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("initfs %s: %w", path, err)
	}
	return &File{Image: im, f: f}, nil
}

// Open reads the header and the inode table of the image held in the first
// size bytes of r. Every offset and length is checked against the image
// size.
func Open(r io.ReaderAt, size int64) (*Image, error) {
	if size < HeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrNotInitfs, size)
	}
	head := make([]byte, 0x2C) // the current header and the older one
	n, err := r.ReadAt(head[:min(int64(len(head)), size)], 0)
	if n < HeaderSize {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading the header: %w", err)
	}
	if string(head[:len(Magic)]) != Magic {
		return nil, ErrNotInitfs
	}
	h := decodeHeader(head)
	if size > math.MaxUint32 { // offsets are 32-bit (upstream InitFs::new)
		size = math.MaxUint32
	}
	if h.InitfsSize > uint64(size) || h.InitfsSize < HeaderSize {
		if n >= 0x2C && isOldLayout(head, size) {
			return nil, ErrOldLayout
		}
		return nil, fmt.Errorf("%w: header says %d bytes, the image has %d", ErrCorrupt, h.InitfsSize, size)
	}
	size = int64(h.InitfsSize)
	tableLen := int64(h.InodeCount) * InodeSize
	if int64(h.InodeTableOffset) < HeaderSize || int64(h.InodeTableOffset)+tableLen > size {
		return nil, fmt.Errorf("%w: inode table %#x+%d outside the image (%d bytes)", ErrCorrupt, h.InodeTableOffset, tableLen, size)
	}
	if h.RootInode >= h.InodeCount {
		return nil, fmt.Errorf("%w: root inode %d of %d", ErrCorrupt, h.RootInode, h.InodeCount)
	}
	table := make([]byte, tableLen)
	if _, err := r.ReadAt(table, int64(h.InodeTableOffset)); err != nil {
		return nil, fmt.Errorf("reading the inode table: %w", err)
	}
	return &Image{r: r, size: size, Header: h, inodes: table}, nil
}

// isOldLayout reports whether head is the pre-2026 header: initfs_size at
// 0x22 equal to the image size and page_size 4096 at 0x2A.
func isOldLayout(head []byte, size int64) bool {
	old := uint64(head[0x22]) | uint64(head[0x23])<<8 | uint64(head[0x24])<<16 | uint64(head[0x25])<<24 |
		uint64(head[0x26])<<32 | uint64(head[0x27])<<40 | uint64(head[0x28])<<48 | uint64(head[0x29])<<56
	page := uint16(head[0x2A]) | uint16(head[0x2B])<<8
	return old == uint64(size) && page == PageSize
}

// Size is the image size in bytes (the header's initfs_size).
func (im *Image) Size() int64 { return im.size }

// Root is the root directory's inode number.
func (im *Image) Root() uint16 { return im.Header.RootInode }

// Inode returns inode n.
func (im *Image) Inode(n uint16) (Inode, error) {
	if n >= im.Header.InodeCount {
		return Inode{}, fmt.Errorf("%w: inode %d of %d", ErrCorrupt, n, im.Header.InodeCount)
	}
	return decodeInode(im.inodes[int(n)*InodeSize:]), nil
}

// data checks that in's bytes lie inside the image.
func (im *Image) data(n uint16, in Inode) error {
	if int64(in.Offset)+int64(in.Length) > im.size {
		return fmt.Errorf("%w: inode %d data %#x+%d outside the image (%d bytes)", ErrCorrupt, n, in.Offset, in.Length, im.size)
	}
	return nil
}

// DirEntry is one entry of a directory.
type DirEntry struct {
	Name  string
	Inode uint16
}

// ReadDir returns the entries of directory inode n in stored order.
func (im *Image) ReadDir(ctx context.Context, n uint16) ([]DirEntry, error) {
	var out []DirEntry
	err := im.eachEntry(ctx, n, func(e DirEntry) (bool, error) {
		out = append(out, e)
		return true, nil
	})
	return out, err
}

// eachEntry calls fn for the entries of directory inode n in stored order,
// reading the entry table a page at a time, until fn returns false.
func (im *Image) eachEntry(ctx context.Context, n uint16, fn func(DirEntry) (bool, error)) error {
	in, err := im.Inode(n)
	if err != nil {
		return err
	}
	if in.Kind != KindDir {
		return fmt.Errorf("inode %d: %w", n, ErrNotDir)
	}
	if err := im.data(n, in); err != nil {
		return err
	}
	// The archiver writes at most 65535 entries per directory.
	if in.Length%DirEntrySize != 0 || in.Length > math.MaxUint16*DirEntrySize {
		return fmt.Errorf("%w: directory inode %d has a %d-byte entry table", ErrCorrupt, n, in.Length)
	}
	var buf [PageSize]byte
	for done := uint32(0); done < in.Length; {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := buf[:min(in.Length-done, PageSize)]
		if _, err := im.r.ReadAt(chunk, int64(in.Offset)+int64(done)); err != nil {
			return fmt.Errorf("reading directory inode %d: %w", n, err)
		}
		for i := 0; i < len(chunk); i += DirEntrySize {
			idx := (done + uint32(i)) / DirEntrySize
			d := decodeDirent(chunk[i:])
			if d.inode >= im.Header.InodeCount {
				return fmt.Errorf("%w: directory inode %d entry %d names inode %d of %d", ErrCorrupt, n, idx, d.inode, im.Header.InodeCount)
			}
			name, err := im.name(d)
			if err != nil {
				return fmt.Errorf("directory inode %d entry %d: %w", n, idx, err)
			}
			more, err := fn(DirEntry{Name: name, Inode: d.inode})
			if err != nil || !more {
				return err
			}
		}
		done += uint32(len(chunk))
	}
	return nil
}

func (im *Image) name(d dirent) (string, error) {
	if d.nameLen == 0 || int(d.nameLen) > MaxNameLen {
		return "", fmt.Errorf("%w: name of %d bytes", ErrCorrupt, d.nameLen)
	}
	if int64(d.nameOffset)+int64(d.nameLen) > im.size {
		return "", fmt.Errorf("%w: name %#x+%d outside the image", ErrCorrupt, d.nameOffset, d.nameLen)
	}
	b := make([]byte, d.nameLen)
	if _, err := im.r.ReadAt(b, int64(d.nameOffset)); err != nil {
		return "", err
	}
	s := string(b)
	if s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
		return "", fmt.Errorf("%w: invalid name %q", ErrCorrupt, s)
	}
	return s, nil
}

// Open returns a reader of regular file inode n's bytes.
func (im *Image) Open(n uint16) (*io.SectionReader, error) {
	in, err := im.Inode(n)
	if err != nil {
		return nil, err
	}
	if in.Kind != KindFile && in.Kind != KindExec {
		return nil, fmt.Errorf("inode %d (%s): %w", n, in.Kind, ErrNotFile)
	}
	if err := im.data(n, in); err != nil {
		return nil, err
	}
	return io.NewSectionReader(im.r, int64(in.Offset), int64(in.Length)), nil
}

// CopyFile writes the regular file at path p to w, checking ctx between
// chunks, and returns the bytes written.
func (im *Image) CopyFile(ctx context.Context, w io.Writer, p string) (int64, error) {
	n, err := im.Lookup(ctx, p)
	if err != nil {
		return 0, err
	}
	r, err := im.Open(n)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	buf := make([]byte, min(r.Size(), 1<<20))
	var done int64
	for done < r.Size() {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		m, err := r.Read(buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return done, werr
			}
			done += int64(m)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return done, fmt.Errorf("%s: %w", p, err)
		}
	}
	return done, nil
}

// ReadLink returns symlink inode n's target.
func (im *Image) ReadLink(n uint16) (string, error) {
	in, err := im.Inode(n)
	if err != nil {
		return "", err
	}
	if in.Kind != KindSymlink {
		return "", fmt.Errorf("inode %d (%s) is not a symlink: %w", n, in.Kind, ErrCorrupt)
	}
	if err := im.data(n, in); err != nil {
		return "", err
	}
	if in.Length > MaxPath {
		return "", fmt.Errorf("%w: symlink inode %d target of %d bytes", ErrCorrupt, n, in.Length)
	}
	b := make([]byte, in.Length)
	if _, err := im.r.ReadAt(b, int64(in.Offset)); err != nil {
		return "", fmt.Errorf("reading symlink inode %d: %w", n, err)
	}
	return string(b), nil
}

// Lookup returns the inode number of the entry at p ("a/b/c", relative to
// the root; "" or "/" is the root). Symlinks are not followed.
func (im *Image) Lookup(ctx context.Context, p string) (uint16, error) {
	if len(p) > MaxPath {
		return 0, fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	cur := im.Root()
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." {
			continue
		}
		found := false
		err := im.eachEntry(ctx, cur, func(e DirEntry) (bool, error) {
			if e.Name == c {
				cur, found = e.Inode, true
			}
			return !found, nil
		})
		if errors.Is(err, ErrNotDir) {
			return 0, fmt.Errorf("%s: %w", p, ErrNotDir)
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", p, err)
		}
		if !found {
			return 0, fmt.Errorf("%s: %w", p, ErrNotFound)
		}
	}
	return cur, nil
}

// Entry is one entry met by Walk.
type Entry struct {
	Path   string // slash-separated, relative to the root
	Inode  uint16
	Kind   Kind
	Size   uint32 // the inode's data length
	Target string // a symlink's target
}

// Walk calls fn for every entry below the root, depth first in stored
// order, each directory before its contents. An inode reached twice (which
// the archiver never writes; it would let a directory contain itself) is an
// ErrCorrupt error, so a walk takes at most InodeCount steps, and paths are
// at most MaxPath bytes, which bounds the depth.
func (im *Image) Walk(ctx context.Context, fn func(Entry) error) error {
	w := &walker{im: im, ctx: ctx, fn: fn, seen: make([]uint64, (int(im.Header.InodeCount)+63)/64)}
	w.mark(im.Root())
	return w.dir(im.Root(), "")
}

type walker struct {
	im   *Image
	ctx  context.Context
	fn   func(Entry) error
	seen []uint64
}

func (w *walker) mark(n uint16) bool {
	if w.seen[n/64]&(1<<(n%64)) != 0 {
		return false
	}
	w.seen[n/64] |= 1 << (n % 64)
	return true
}

func (w *walker) dir(n uint16, prefix string) error {
	err := w.im.eachEntry(w.ctx, n, func(e DirEntry) (bool, error) {
		p := e.Name
		if prefix != "" {
			p = prefix + "/" + e.Name
		}
		if len(p) > MaxPath {
			return false, fmt.Errorf("%w: path longer than %d bytes under /%s", ErrCorrupt, MaxPath, prefix)
		}
		if !w.mark(e.Inode) {
			return false, fmt.Errorf("%w: /%s: inode %d is reached twice", ErrCorrupt, p, e.Inode)
		}
		in, err := w.im.Inode(e.Inode)
		if err != nil {
			return false, err
		}
		ent := Entry{Path: p, Inode: e.Inode, Kind: in.Kind, Size: in.Length}
		switch in.Kind {
		case KindFile, KindExec, KindDir:
			err = w.im.data(e.Inode, in)
		case KindSymlink:
			ent.Target, err = w.im.ReadLink(e.Inode)
		default:
			err = fmt.Errorf("%w: unknown inode type %d", ErrCorrupt, uint32(in.Kind))
		}
		if err != nil {
			return false, fmt.Errorf("/%s: %w", p, err)
		}
		if err := w.fn(ent); err != nil {
			return false, err
		}
		if in.Kind == KindDir {
			if err := w.dir(e.Inode, p); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	return err
}
