package initfs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/redox-cook/cook/internal/fsutil"
)

// Options tune Write.
type Options struct {
	// MaxSize limits the image size in bytes, counted in whole pages as
	// upstream's archiver counts it; 0 means DefaultMaxSize. Offsets in
	// the format are 32-bit, so anything above 4 GiB is treated as 4 GiB.
	MaxSize int64
}

// Stats describes a written image.
type Stats struct {
	Size           int64  // bytes written
	Inodes         int    // inodes, the root included
	BootstrapEntry uint64 // the bootstrap's entry address
	BootstrapSize  int64
}

// node is one entry of the source tree, with its place in the image.
type node struct {
	name   string
	kind   Kind
	src    string // host path: the file to copy
	size   int64  // file size when scanned
	target string // symlink target as stored
	kids   []*node

	off, length uint32 // content
	ino         uint16
	nameOff     uint32
}

// Write archives the directory dir, with the bootstrap ELF file bootstrap
// copied in front of it, into w, in upstream redox-initfs-ar's layout and
// byte-compatible with its output.
// Entries are sorted by name, so the same tree always gives the same bytes
// (upstream takes them in readdir order). The image is written front to
// back in one pass after the tree has been scanned, so w need not seek.
func Write(ctx context.Context, w io.Writer, dir, bootstrap string, opt Options) (Stats, error) {
	root, count, err := scan(ctx, dir)
	if err != nil {
		return Stats{}, err
	}
	bs, err := openBootstrap(bootstrap)
	if err != nil {
		return Stats{}, err
	}
	defer bs.f.Close()

	l := &layout{max: maxSize(opt.MaxSize)}
	if err := l.plan(root, count, bs); err != nil {
		return Stats{}, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &countWriter{w: bw}
	if err := l.emit(ctx, cw, bs); err != nil {
		return Stats{}, err
	}
	if err := bw.Flush(); err != nil {
		return Stats{}, err
	}
	return Stats{Size: cw.n, Inodes: len(l.inodes), BootstrapEntry: bs.entry, BootstrapSize: bs.size}, nil
}

// WriteFile writes the image to out through a temporary file in the same
// directory that is renamed over out only when it is complete.
func WriteFile(ctx context.Context, out, dir, bootstrap string, opt Options) (Stats, error) {
	if st, err := os.Stat(out); err == nil && !st.Mode().IsRegular() {
		return Stats{}, fmt.Errorf("initfs %s: output exists and is not a regular file", out)
	}
	var st Stats
	err := fsutil.WriteAtomic(out, 0o644, func(f *os.File) (err error) {
		st, err = Write(ctx, f, dir, bootstrap, opt)
		return err
	})
	if err != nil {
		return Stats{}, fmt.Errorf("initfs %s: %w", out, err)
	}
	return st, nil
}

func maxSize(m int64) uint64 {
	if m <= 0 {
		return DefaultMaxSize
	}
	if m > math.MaxUint32+1 {
		return math.MaxUint32 + 1
	}
	return uint64(m)
}

// scan reads the tree under dir (not following symlinks below it) into
// nodes sorted by name and counts them.
func scan(ctx context.Context, dir string) (*node, int, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("initfs source: %w", err)
	}
	if !st.IsDir() {
		return nil, 0, fmt.Errorf("initfs source %s: %w", dir, ErrNotDir)
	}
	s := &scanner{ctx: ctx, roots: rootForms(dir)}
	root := &node{kind: KindDir}
	if err := s.dir(root, dir, ""); err != nil {
		return nil, 0, err
	}
	return root, s.count + 1, nil
}

type scanner struct {
	ctx   context.Context
	roots []string // absolute forms of the source directory
	count int      // inodes so far, the root excluded
}

func (s *scanner) dir(n *node, hostDir, rel string) error {
	ents, err := readDir(s.ctx, hostDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		s.count++
		if s.count+1 > MaxInodes {
			return fmt.Errorf("initfs source %s: more than %d files: %w", hostDir, MaxInodes, ErrTooLarge)
		}
		name := e.Name()
		if len(name) > MaxNameLen {
			return fmt.Errorf("initfs source %s: a name longer than %d bytes: %w", hostDir, MaxNameLen, ErrTooLarge)
		}
		p := filepath.Join(hostDir, name)
		if len(rel)+1+len(name) > MaxPath {
			return fmt.Errorf("initfs source %s: path longer than %d bytes: %w", p, MaxPath, ErrTooLarge)
		}
		info, err := e.Info() // lstat
		if err != nil {
			return fmt.Errorf("initfs source: %w", err)
		}
		k := &node{name: name}
		switch t := info.Mode(); {
		case t.IsRegular():
			if info.Size() > math.MaxUint32 {
				return fmt.Errorf("initfs source %s: %d bytes, the format allows %d: %w", p, info.Size(), uint64(math.MaxUint32), ErrTooLarge)
			}
			k.kind, k.src, k.size = KindFile, p, info.Size()
			if t.Perm()&0o100 != 0 { // upstream: mode & 0o100
				k.kind = KindExec
			}
		case t.IsDir():
			k.kind = KindDir
			if err := s.dir(k, p, path.Join(rel, name)); err != nil {
				return err
			}
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("initfs source: %w", err)
			}
			k.kind, k.target = KindSymlink, s.linkTarget(rel, target)
			if len(k.target) > MaxPath {
				return fmt.Errorf("initfs source %s: symlink target longer than %d bytes: %w", p, MaxPath, ErrTooLarge)
			}
		default:
			return fmt.Errorf("initfs source %s: %s: %w", p, typeName(t), ErrUnsupported)
		}
		n.kids = append(n.kids, k)
	}
	return nil
}

// readDir returns the entries of dir sorted by name, reading them in
// batches so that a huge directory fails at the format's limit.
func readDir(ctx context.Context, dir string) ([]fs.DirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("initfs source: %w", err)
	}
	defer f.Close()
	var ents []fs.DirEntry
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch, err := f.ReadDir(1024)
		ents = append(ents, batch...)
		if len(ents) > math.MaxUint16 {
			return nil, fmt.Errorf("initfs source %s: more than %d entries: %w", dir, math.MaxUint16, ErrTooLarge)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("initfs source: %w", err)
		}
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, nil
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "unknown file type"
}

// rootForms returns the absolute path of dir and, when different, its path
// with symlinks resolved: an absolute symlink target under either is inside
// the tree.
func rootForms(dir string) []string {
	var out []string
	if abs, err := filepath.Abs(dir); err == nil {
		out = append(out, filepath.Clean(abs))
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		if abs, err := filepath.Abs(real); err == nil && (len(out) == 0 || abs != out[0]) {
			out = append(out, filepath.Clean(abs))
		}
	}
	return out
}

// linkTarget is the target stored for a symlink in directory rel (relative
// to the tree's root) pointing at target. Upstream's archiver stores the
// path from the link's directory to the target: a relative target with "."
// components and repeated or trailing slashes dropped (".." kept), which
// this reproduces. For an absolute target upstream diffs against the host
// path of the directory; here a target inside the source tree gets the same
// relative path, and any other absolute target is taken as rooted at the
// tree (so /bin/x means the image's bin/x) — it never depends on where the
// tree is on the host.
func (s *scanner) linkTarget(rel, target string) string {
	if !strings.HasPrefix(target, "/") {
		var parts []string
		for _, c := range strings.Split(target, "/") {
			if c != "" && c != "." {
				parts = append(parts, c)
			}
		}
		return strings.Join(parts, "/")
	}
	t := path.Clean(target)
	inTree := "/" + strings.TrimPrefix(t, "/")
	for _, r := range s.roots {
		r = filepath.ToSlash(r)
		if t == r {
			inTree = "/"
			break
		}
		if strings.HasPrefix(t, strings.TrimSuffix(r, "/")+"/") {
			inTree = "/" + strings.TrimPrefix(t, strings.TrimSuffix(r, "/")+"/")
			break
		}
	}
	out, err := filepath.Rel("/"+rel, inTree)
	if err != nil || out == "." {
		return ""
	}
	return filepath.ToSlash(out)
}

type bootstrapFile struct {
	path  string
	f     *os.File
	size  int64
	entry uint64
}

func openBootstrap(p string) (*bootstrapFile, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("initfs bootstrap: %w", err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%w: not a regular file", ErrBootstrap)
	}
	if err == nil && st.Size() > math.MaxUint32 {
		err = fmt.Errorf("%w: %d bytes", ErrTooLarge, st.Size())
	}
	var entry uint64
	if err == nil {
		head := make([]byte, 0x20)
		if _, rerr := io.ReadFull(f, head); rerr != nil {
			err = fmt.Errorf("%w: no ELF header", ErrBootstrap)
		} else {
			entry, err = ELFEntry(head)
		}
	}
	// The kernel jumps to the entry with the bootstrap's file offset N
	// mapped at LoadAddress+BootstrapOffset+N; anything outside those
	// bytes cannot be the bootstrap's code.
	lo := uint64(LoadAddress + BootstrapOffset)
	if err == nil && (entry < lo || entry >= lo+uint64(st.Size())) {
		err = fmt.Errorf("%w: entry point %#x is outside the bootstrap as the kernel maps it (%#x..%#x): link it so that file offset N is at address %#x+N",
			ErrBootstrap, entry, lo, lo+uint64(st.Size()), lo)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("initfs bootstrap %s: %w", p, err)
	}
	return &bootstrapFile{path: p, f: f, size: st.Size(), entry: entry}, nil
}

type regionKind uint8

const (
	rHeader regionKind = iota
	rBootstrap
	rDir
	rFile
	rLink
	rName
	rInodes
)

// region is one allocation, in the order upstream's bump allocator makes
// them (which is also offset order).
type region struct {
	kind regionKind
	off  uint32
	n    *node
}

type layout struct {
	off     uint64
	max     uint64
	regions []region
	inodes  []Inode
	header  Header
}

// alloc mirrors upstream's bump_alloc: whole pages, fail past max.
func (l *layout) alloc(size uint64, kind regionKind, n *node) (uint32, error) {
	start := l.off
	end := (start + size + PageSize - 1) / PageSize * PageSize
	if end > l.max {
		return 0, fmt.Errorf("%w: more than the %d-byte limit", ErrTooLarge, l.max)
	}
	l.off = end
	l.regions = append(l.regions, region{kind: kind, off: uint32(start), n: n})
	return uint32(start), nil
}

func (l *layout) plan(root *node, count int, bs *bootstrapFile) error {
	l.regions = make([]region, 0, 2*count+3)
	l.inodes = make([]Inode, 0, count)
	if _, err := l.alloc(PageSize, rHeader, nil); err != nil {
		return err
	}
	if _, err := l.alloc(uint64(bs.size), rBootstrap, nil); err != nil {
		return err
	}
	if err := l.dir(root); err != nil {
		return err
	}
	root.ino = uint16(len(l.inodes))
	l.inodes = append(l.inodes, Inode{Kind: KindDir, Length: root.length, Offset: root.off})
	tableLen := uint64(len(l.inodes)) * InodeSize
	tableOff, err := l.alloc(tableLen, rInodes, nil)
	if err != nil {
		return err
	}
	l.header = Header{
		InodeTableOffset: tableOff,
		InitfsSize:       uint64(tableOff) + tableLen,
		PageSize:         PageSize,
		RootInode:        root.ino,
		InodeCount:       uint16(len(l.inodes)),
		BootstrapEntry:   bs.entry,
	}
	return nil
}

// dir lays out a directory as upstream's allocate_and_write_dir does: the
// entry table, then for each entry its content, its inode and its name.
func (l *layout) dir(n *node) error {
	tableLen := uint64(len(n.kids)) * DirEntrySize
	off, err := l.alloc(tableLen, rDir, n)
	if err != nil {
		return err
	}
	n.off, n.length = off, uint32(tableLen)
	for _, k := range n.kids {
		switch k.kind {
		case KindDir:
			if err := l.dir(k); err != nil {
				return err
			}
		case KindFile, KindExec:
			if k.off, err = l.alloc(uint64(k.size), rFile, k); err != nil {
				return err
			}
			k.length = uint32(k.size)
		case KindSymlink:
			if k.off, err = l.alloc(uint64(len(k.target)), rLink, k); err != nil {
				return err
			}
			k.length = uint32(len(k.target))
		}
		k.ino = uint16(len(l.inodes))
		l.inodes = append(l.inodes, Inode{Kind: k.kind, Length: k.length, Offset: k.off})
		if k.nameOff, err = l.alloc(uint64(len(k.name)), rName, k); err != nil {
			return err
		}
	}
	return nil
}

var zeros [PageSize]byte

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// emit writes the regions front to back, zero-filling the gaps.
func (l *layout) emit(ctx context.Context, w *countWriter, bs *bootstrapFile) error {
	for _, r := range l.regions {
		if err := ctx.Err(); err != nil {
			return err
		}
		for gap := int64(r.off) - w.n; gap > 0; {
			m := min(gap, PageSize)
			if _, err := w.Write(zeros[:m]); err != nil {
				return err
			}
			gap -= m
		}
		var err error
		switch r.kind {
		case rHeader:
			_, err = w.Write(l.header.encode())
		case rBootstrap:
			err = copyExact(ctx, w, bs.f, bs.size, bs.path)
		case rDir:
			b := make([]byte, len(r.n.kids)*DirEntrySize)
			for i, k := range r.n.kids {
				dirent{inode: k.ino, nameLen: uint16(len(k.name)), nameOffset: k.nameOff}.put(b[i*DirEntrySize:])
			}
			_, err = w.Write(b)
		case rFile:
			err = copyFile(ctx, w, r.n)
		case rLink:
			_, err = io.WriteString(w, r.n.target)
		case rName:
			_, err = io.WriteString(w, r.n.name)
		case rInodes:
			b := make([]byte, len(l.inodes)*InodeSize)
			for i, in := range l.inodes {
				in.put(b[i*InodeSize:])
			}
			_, err = w.Write(b)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func copyFile(ctx context.Context, w io.Writer, n *node) error {
	f, err := os.Open(n.src)
	if err != nil {
		return fmt.Errorf("initfs source: %w", err)
	}
	defer f.Close()
	return copyExact(ctx, w, f, n.size, n.src)
}

// copyExact copies exactly size bytes of f, checking ctx between chunks,
// and fails if f no longer has that size.
func copyExact(ctx context.Context, w io.Writer, f *os.File, size int64, name string) error {
	if st, err := f.Stat(); err != nil {
		return err
	} else if st.Size() != size {
		return fmt.Errorf("initfs source %s: %d bytes, was %d: %w", name, st.Size(), size, ErrChanged)
	}
	buf := make([]byte, min(size, 1<<20))
	for left := size; left > 0; {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := io.ReadFull(f, buf[:min(left, int64(len(buf)))])
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("initfs source %s: %w", name, ErrChanged)
			}
			return fmt.Errorf("initfs source: %w", err)
		}
		if _, err := w.Write(buf[:m]); err != nil {
			return err
		}
		left -= int64(m)
	}
	return nil
}
