package redoxfs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/redox-cook/cook/internal/fsutil"
)

// FS is a RedoxFS filesystem opened for reading. It implements fs.FS,
// fs.ReadDirFS, fs.StatFS and fs.ReadLinkFS; Open and Stat follow symbolic
// links (absolute targets resolve from the filesystem root), Lstat and
// ReadLink do not. Every block read is checked against the SeaHash in the
// pointer that refers to it. An FS is safe for concurrent use.
//
// Work is bounded by what the image holds, never by what a field of it
// claims: a node whose size is beyond what its block pointers can address
// is corrupt, and a walk refuses a node reached twice. An FS made with
// WithContext stops every read and walk once its context is done.
type FS struct {
	r    io.ReaderAt
	off  int64
	hdr  *header
	slot int
	ctx  context.Context // nil: never cancelled

	cache *blockCache

	skipHash bool // tests only: let damaged blocks reach the parsers
}

// blockCache holds verified metadata blocks, shared by an FS and the
// copies WithContext makes of it.
type blockCache struct {
	mu     sync.Mutex
	blocks map[blockPtr][]byte
}

// Info describes a filesystem's header.
type Info struct {
	UUID       [16]byte
	Size       int64  // filesystem size in bytes
	Generation uint64 // generation of the newest header
	Slot       int    // header ring slot it was read from
}

// UUIDString formats the UUID the way the bootloader prints it.
func (i Info) UUIDString() string {
	u := i.UUID
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Open reads the filesystem that starts at byte offset of r. It scans the
// whole header ring and uses the valid header with the highest generation.
func Open(r io.ReaderAt, offset int64) (*FS, error) {
	ring := make([]byte, headerRing*BlockSize)
	n, err := r.ReadAt(ring, offset)
	if n < BlockSize {
		if err == nil || err == io.EOF {
			err = ErrTruncated
		}
		return nil, fmt.Errorf("redoxfs: reading header at byte %d: %w", offset, err)
	}
	if n < len(ring) && err != nil && err != io.EOF {
		return nil, fmt.Errorf("redoxfs: reading header ring at byte %d: %w", offset, err)
	}
	var best *header
	bestSlot := -1
	var slot0Err error
	for i := 0; i+BlockSize <= n; i += BlockSize {
		h, err := unmarshalHeader(ring[i : i+BlockSize])
		if i == 0 && err != nil {
			slot0Err = err
		}
		if err != nil {
			continue
		}
		if best == nil || h.generation > best.generation {
			best, bestSlot = h, i/BlockSize
		}
	}
	if best == nil {
		return nil, fmt.Errorf("redoxfs: header ring at byte %d: %w (slot 0: %v)", offset, ErrNoFilesystem, slot0Err)
	}
	if best.size < (headerRing+1)*BlockSize || best.size%BlockSize != 0 {
		return nil, fmt.Errorf("redoxfs: header slot %d at byte %d: size %d: %w", bestSlot, offset+int64(bestSlot)*BlockSize, best.size, ErrCorrupt)
	}
	if have, ok := sizeOf(r); ok && offset+int64(best.size) > have {
		return nil, fmt.Errorf("redoxfs: filesystem at byte %d is %d bytes (header slot %d) but the image ends at byte %d: %w", offset, best.size, bestSlot, have, ErrTruncated)
	}
	return &FS{r: r, off: offset, hdr: best, slot: bestSlot, cache: &blockCache{blocks: make(map[blockPtr][]byte)}}, nil
}

// WithContext returns a view of f whose reads, directory listings and
// walks fail with ctx's error once ctx is done (Ctrl-C on a 4 PiB sparse
// file). Files and directories opened through the view keep it.
func (f *FS) WithContext(ctx context.Context) *FS {
	g := *f
	g.ctx = ctx
	return &g
}

// alive returns the context's error once it is done.
func (f *FS) alive() error {
	if f.ctx == nil {
		return nil
	}
	return f.ctx.Err()
}

// sizeOf returns the length of r when r can tell it (*os.File of a
// regular file, *io.SectionReader, *bytes.Reader).
func sizeOf(r io.ReaderAt) (int64, bool) {
	switch v := r.(type) {
	case interface{ Size() int64 }:
		return v.Size(), true
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size(), true
		}
	}
	return 0, false
}

// Info returns the header the filesystem was opened with.
func (f *FS) Info() Info {
	return Info{UUID: f.hdr.uuid, Size: int64(f.hdr.size), Generation: f.hdr.generation, Slot: f.slot}
}

// readBlock reads and verifies the block p points at. what names the block
// in errors.
func (f *FS) readBlock(p blockPtr, what string) ([]byte, error) {
	buf := make([]byte, p.size())
	if err := f.readBlockInto(buf, p, what); err != nil {
		return nil, err
	}
	return buf, nil
}

func (f *FS) readBlockInto(buf []byte, p blockPtr, what string) error {
	if err := f.alive(); err != nil {
		return err
	}
	idx := p.index()
	at := f.off + int64(idx)*BlockSize
	if idx+1<<p.level() > f.hdr.size/BlockSize {
		return fmt.Errorf("redoxfs: %s: block %d (level %d) lies beyond the filesystem end (%d blocks): %w", what, idx, p.level(), f.hdr.size/BlockSize, ErrCorrupt)
	}
	n, err := f.r.ReadAt(buf, at)
	if n < len(buf) {
		if err == nil || err == io.EOF {
			err = ErrTruncated
		}
		return fmt.Errorf("redoxfs: %s: reading block %d at byte %d (%d bytes): %w", what, idx, at, len(buf), err)
	}
	if sum := seaHash(buf); sum != p.hash && !f.skipHash {
		return fmt.Errorf("redoxfs: %s: block %d at byte %d: %w (pointer says %#016x, block hashes to %#016x)", what, idx, at, ErrHash, p.hash, sum)
	}
	return nil
}

// maxCached bounds the metadata cache (4 KiB blocks).
const maxCached = 4096

// readMeta is readBlock with a cache, for tree lists, directory blocks
// and indirect lists.
func (f *FS) readMeta(p blockPtr, what string) ([]byte, error) {
	if p.level() != 0 {
		return nil, fmt.Errorf("redoxfs: %s: block %d has level %d, want 0: %w", what, p.index(), p.level(), ErrCorrupt)
	}
	if err := f.alive(); err != nil {
		return nil, err
	}
	c := f.cache
	c.mu.Lock()
	b, ok := c.blocks[p]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := f.readBlock(p, what)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.blocks) >= maxCached {
		clear(c.blocks)
	}
	c.blocks[p] = b
	c.mu.Unlock()
	return b, nil
}

// node reads the node with the given id.
func (f *FS) node(id nodeID) (*node, error) {
	n, _, err := f.nodeAt(id)
	return n, err
}

// nodeAt reads the node with the given id and returns its block pointer too.
func (f *FS) nodeAt(id nodeID) (*node, blockPtr, error) {
	p, err := f.nodePtr(id)
	if err != nil {
		return nil, p, err
	}
	var b [BlockSize]byte
	if err := f.readBlockInto(b[:], p, fmt.Sprintf("node %d", id)); err != nil {
		return nil, p, err
	}
	n := unmarshalNode(b[:])
	if n.inline() && n.size > InlineMax {
		return nil, p, fmt.Errorf("redoxfs: node %d: inline data of %d bytes, over %d: %w", id, n.size, InlineMax, ErrCorrupt)
	}
	if !n.inline() && n.recordLevel <= recordLevel && n.size > maxSize(n.recordLevel) {
		return nil, p, fmt.Errorf("redoxfs: node %d: size %d is over the %d bytes its block pointers can address: %w", id, n.size, maxSize(n.recordLevel), ErrCorrupt)
	}
	return n, p, nil
}

// maxRecords is how many records a node's level data can point at.
var maxRecords = func() uint64 {
	var n uint64
	for depth, slots := range levelSlots {
		n += uint64(slots) << (8 * depth)
	}
	return n
}()

// maxSize is the largest file a node with records of BlockSize<<level
// bytes can hold (4 PiB for 128 KiB records).
func maxSize(level uint32) uint64 { return maxRecords * (BlockSize << level) }

// nodePtr finds a node's block through the four tree levels.
func (f *FS) nodePtr(id nodeID) (blockPtr, error) {
	p := f.hdr.tree
	for depth, i := range id.indexes() {
		if i >= treeListEntries {
			return p, fmt.Errorf("redoxfs: node %d: index %d at tree level %d: %w", id, i, 3-depth, ErrCorrupt)
		}
		if p.isNull() {
			return p, fmt.Errorf("redoxfs: node %d: tree level %d is empty: %w", id, 3-depth, ErrCorrupt)
		}
		b, err := f.readMeta(p, fmt.Sprintf("node %d: tree list level %d", id, 3-depth))
		if err != nil {
			return p, err
		}
		p = getPtr(b[i*16:])
	}
	if p.isNull() {
		return p, fmt.Errorf("redoxfs: node %d: not in the node tree: %w", id, ErrCorrupt)
	}
	if p.level() != 0 {
		return p, fmt.Errorf("redoxfs: node %d: block has level %d: %w", id, p.level(), ErrCorrupt)
	}
	return p, nil
}

// dirent is one directory entry.
type dirent struct {
	id   nodeID
	name string
}

// walkDir calls fn for every entry of directory node n (id dirID) until fn
// returns false. When only is non-nil, subtrees of an H-tree whose hash
// range cannot hold a name with hash *only are skipped.
func (f *FS) walkDir(dirID nodeID, n *node, only *uint32, fn func(dirent) bool) error {
	return f.walkDirVisit(dirID, n, only, fn, nil)
}

func (f *FS) walkDirVisit(dirID nodeID, n *node, only *uint32, fn func(dirent) bool, visit func(blockPtr) error) error {
	if n.mode&modeType != modeDir {
		return fmt.Errorf("redoxfs: node %d: %w", dirID, errNotDir)
	}
	m := n.levelPtr(0)
	if !m.isMarker() {
		if m.addr != 0 || n.levelPtr(1).addr != 0 {
			return fmt.Errorf("redoxfs: directory node %d: level data without an H-tree marker: %w", dirID, ErrCorrupt)
		}
		return nil // empty directory
	}
	w := &dirWalk{fs: f, id: dirID, only: only, fn: fn, seen: map[uint64]bool{}, visit: visit}
	_, err := w.walk(n.levelPtr(1), int(m.addr&0xF))
	return err
}

// dirWalk is one walk over a directory's H-tree.
type dirWalk struct {
	fs   *FS
	id   nodeID
	only *uint32
	fn   func(dirent) bool
	seen map[uint64]bool // blocks visited: a damaged tree may share them

	visit func(blockPtr) error // if set, called for every block of the tree
}

func (w *dirWalk) walk(p blockPtr, depth int) (bool, error) {
	f, dirID, only, fn := w.fs, w.id, w.only, w.fn
	if p.isNull() {
		return true, nil
	}
	if w.seen[p.index()] {
		return false, fmt.Errorf("redoxfs: directory node %d: block %d is linked twice in its H-tree: %w", dirID, p.index(), ErrCorrupt)
	}
	w.seen[p.index()] = true
	if w.visit != nil {
		if err := w.visit(p); err != nil {
			return false, err
		}
	}
	if depth == 0 {
		b, err := f.readMeta(p, fmt.Sprintf("directory node %d: entry list", dirID))
		if err != nil {
			return false, err
		}
		return f.walkDirList(dirID, p, b, fn)
	}
	b, err := f.readMeta(p, fmt.Sprintf("directory node %d: H-tree node (depth %d)", dirID, depth))
	if err != nil {
		return false, err
	}
	for i := range htreeEntries {
		e := b[i*20 : i*20+20]
		h := binary.LittleEndian.Uint32(e)
		if h == htreeEmptyHash {
			break
		}
		if only != nil && h < *only {
			continue
		}
		more, err := w.walk(getPtr(e[4:]), depth-1)
		if !more || err != nil {
			return more, err
		}
		if only != nil && h > *only {
			break
		}
	}
	return true, nil
}

func (f *FS) walkDirList(dirID nodeID, p blockPtr, b []byte, fn func(dirent) bool) (bool, error) {
	count := int(binary.LittleEndian.Uint16(b[dirListDataLen:]))
	used := int(binary.LittleEndian.Uint16(b[dirListDataLen+2:]))
	bad := func(why string) error {
		return fmt.Errorf("redoxfs: directory node %d: entry list at block %d: %s: %w", dirID, p.index(), why, ErrCorrupt)
	}
	if used > dirListDataLen {
		return false, bad(fmt.Sprintf("%d entry bytes", used))
	}
	data := b[:used]
	for i := range count {
		if len(data) < 5 {
			return false, bad(fmt.Sprintf("entry %d of %d runs past the data", i, count))
		}
		id := nodeID(binary.LittleEndian.Uint32(data))
		l := int(data[4])
		if l == 0 || len(data) < 5+l {
			return false, bad(fmt.Sprintf("entry %d has name length %d", i, l))
		}
		if !fn(dirent{id, string(data[5 : 5+l])}) {
			return false, nil
		}
		data = data[5+l:]
	}
	return true, nil
}

var errNotDir = errors.New("not a directory")

// lookup finds name in directory dirID.
func (f *FS) lookup(dirID nodeID, dir *node, name string) (nodeID, bool, error) {
	h := nameHash(name)
	var found nodeID
	var ok bool
	err := f.walkDir(dirID, dir, &h, func(e dirent) bool {
		if e.name == name {
			found, ok = e.id, true
			return false
		}
		return true
	})
	return found, ok, err
}

const maxSymlinks = 40

// resolve looks up a slash-separated path from the root. follow says
// whether a symlink in the last element is followed; symlinks in earlier
// elements always are.
func (f *FS) resolve(op, name string, follow bool) (nodeID, *node, error) {
	if !fs.ValidPath(name) {
		return 0, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	stack := []nodeID{rootID}
	cur, err := f.node(rootID)
	if err != nil {
		return 0, nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	var rest []string
	if name != "." {
		rest = strings.Split(name, "/")
	}
	links := 0
	for len(rest) > 0 {
		elem := rest[0]
		rest = rest[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			if cur, err = f.node(stack[len(stack)-1]); err != nil {
				return 0, nil, &fs.PathError{Op: op, Path: name, Err: err}
			}
			continue
		}
		if cur.mode&modeType != modeDir {
			return 0, nil, &fs.PathError{Op: op, Path: name, Err: errNotDir}
		}
		id, ok, err := f.lookup(stack[len(stack)-1], cur, elem)
		if err != nil {
			return 0, nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		if !ok {
			return 0, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		n, err := f.node(id)
		if err != nil {
			return 0, nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		if n.mode&modeType == modeSymlink && (len(rest) > 0 || follow) {
			if links++; links > maxSymlinks {
				return 0, nil, &fs.PathError{Op: op, Path: name, Err: errors.New("too many levels of symbolic links")}
			}
			target, err := f.readAll(id, n)
			if err != nil {
				return 0, nil, &fs.PathError{Op: op, Path: name, Err: err}
			}
			t := string(target)
			if strings.HasPrefix(t, "/") {
				stack = stack[:1]
				if cur, err = f.node(rootID); err != nil {
					return 0, nil, &fs.PathError{Op: op, Path: name, Err: err}
				}
			}
			rest = append(strings.Split(t, "/"), rest...)
			continue
		}
		stack = append(stack, id)
		cur = n
	}
	return stack[len(stack)-1], cur, nil
}

// readAll reads a whole (small) file or symlink target.
func (f *FS) readAll(id nodeID, n *node) ([]byte, error) {
	if n.size > 1<<20 {
		return nil, fmt.Errorf("redoxfs: node %d: %d bytes is too long for a link target", id, n.size)
	}
	b := make([]byte, n.size)
	r := &contents{fs: f, id: id, n: n}
	if _, err := r.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// contents reads the data of one node: inline bytes, or records that may be
// sparse or LZ4-compressed.
type contents struct {
	fs *FS
	id nodeID
	n  *node

	rec    int64 // index of the record in buf, or -1
	buf    []byte
	sparse bool

	visit func(blockPtr) error // if set, verify calls it for every block
}

func (c *contents) recordSize() int64 { return BlockSize << c.n.recordLevel }

func (c *contents) checkLevel() error {
	if c.n.recordLevel > recordLevel {
		return fmt.Errorf("redoxfs: node %d: record level %d: %w", c.id, c.n.recordLevel, ErrCorrupt)
	}
	return nil
}

// ReadAt implements io.ReaderAt.
func (c *contents) ReadAt(p []byte, off int64) (int, error) {
	size := int64(c.n.size)
	if off < 0 {
		return 0, fmt.Errorf("redoxfs: node %d: negative offset", c.id)
	}
	if off >= size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > size-off {
		p = p[:size-off]
	}
	if c.n.inline() {
		if size > InlineMax {
			return 0, fmt.Errorf("redoxfs: node %d: inline size %d over %d: %w", c.id, size, InlineMax, ErrCorrupt)
		}
		n := copy(p, c.n.data[off:size])
		if n < want {
			return n, io.EOF
		}
		return n, nil
	}
	if err := c.checkLevel(); err != nil {
		return 0, err
	}
	rs := c.recordSize()
	done := 0
	for done < len(p) {
		if err := c.fs.alive(); err != nil {
			return done, err
		}
		pos := off + int64(done)
		r := pos / rs
		if err := c.load(r); err != nil {
			return done, err
		}
		within := pos - r*rs
		var n int
		if c.sparse {
			n = int(min(rs-within, int64(len(p)-done)))
			clear(p[done : done+n])
		} else {
			n = copy(p[done:], c.buf[within:])
		}
		done += n
	}
	if done < want {
		return done, io.EOF
	}
	return done, nil
}

// load makes record r current.
func (c *contents) load(r int64) error {
	if c.buf != nil && c.rec == r {
		return nil
	}
	c.rec = -1
	p, err := c.recordPtr(r)
	if err != nil {
		return err
	}
	if c.buf == nil {
		c.buf = make([]byte, c.recordSize())
	}
	if p.isNull() {
		c.sparse, c.rec = true, r
		return nil
	}
	c.sparse = false
	if err := c.readRecord(p, fmt.Sprintf("node %d: record %d", c.id, r)); err != nil {
		return err
	}
	c.rec = r
	return nil
}

// readRecord reads the record p points at into c.buf, decompressing it
// and zero-filling it to the record size.
func (c *contents) readRecord(p blockPtr, what string) error {
	if c.buf == nil {
		c.buf = make([]byte, c.recordSize())
	}
	if p.decompLevel() != 0 {
		if BlockSize<<p.decompLevel() > len(c.buf) || p.level() >= p.decompLevel() {
			return fmt.Errorf("redoxfs: %s: decompressed level %d over record level %d: %w", what, p.decompLevel(), c.n.recordLevel, ErrCorrupt)
		}
		stored, err := c.fs.readBlock(p, what)
		if err != nil {
			return err
		}
		clen := int(binary.LittleEndian.Uint16(stored))
		if 2+clen > len(stored) {
			return fmt.Errorf("redoxfs: %s: compressed length %d over stored %d: %w", what, clen, len(stored), ErrCorrupt)
		}
		out := c.buf[:BlockSize<<p.decompLevel()]
		n, err := lz4.UncompressBlock(stored[2:2+clen], out)
		if err != nil {
			return fmt.Errorf("redoxfs: %s: lz4: %v: %w", what, err, ErrCorrupt)
		}
		clear(c.buf[n:])
	} else {
		if p.size() > len(c.buf) {
			return fmt.Errorf("redoxfs: %s: level %d over record level %d: %w", what, p.level(), c.n.recordLevel, ErrCorrupt)
		}
		if err := c.fs.readBlockInto(c.buf[:p.size()], p, what); err != nil {
			return err
		}
		clear(c.buf[p.size():])
	}
	return nil
}

// verify reads every indirect list and record the node points at,
// whatever its size says, checking each block's hash.
func (c *contents) verify() error {
	if err := c.checkLevel(); err != nil {
		return err
	}
	c.rec = -1
	var walk func(p blockPtr, depth int) error
	walk = func(p blockPtr, depth int) error {
		if p.isNull() {
			return nil
		}
		if c.visit != nil {
			if err := c.visit(p); err != nil {
				return err
			}
		}
		if depth == 0 {
			return c.readRecord(p, fmt.Sprintf("node %d: record at block %d", c.id, p.index()))
		}
		b, err := c.fs.readMeta(p, fmt.Sprintf("node %d: block list", c.id))
		if err != nil {
			return err
		}
		for i := range blockListEntries {
			if err := walk(getPtr(b[i*16:]), depth-1); err != nil {
				return err
			}
		}
		return nil
	}
	slot := 0
	for depth, k := range levelSlots {
		for range k {
			if err := walk(c.n.levelPtr(slot), depth); err != nil {
				return err
			}
			slot++
		}
	}
	return nil
}

// recordPtr finds the pointer to record r through the node's level data
// and indirect BlockLists; a null pointer means the record is sparse.
func (c *contents) recordPtr(r int64) (blockPtr, error) {
	base := 0
	for depth, slots := range levelSlots {
		span := int64(slots) << (8 * depth)
		if r >= span {
			r -= span
			base += slots
			continue
		}
		p := c.n.levelPtr(base + int(r>>(8*depth)))
		for d := depth; d > 0 && !p.isNull(); d-- {
			b, err := c.fs.readMeta(p, fmt.Sprintf("node %d: block list", c.id))
			if err != nil {
				return blockPtr{}, err
			}
			if len(b) != BlockSize {
				return blockPtr{}, fmt.Errorf("redoxfs: node %d: block list at block %d has level %d: %w", c.id, p.index(), p.level(), ErrCorrupt)
			}
			i := (r >> (8 * (d - 1))) & 0xFF
			p = getPtr(b[i*16:])
		}
		return p, nil
	}
	return blockPtr{}, fmt.Errorf("redoxfs: node %d: record %d beyond the largest file: %w", c.id, r, ErrCorrupt)
}

// Stat is the RedoxFS metadata of a file, returned by FileInfo.Sys.
type Stat struct {
	Inode  uint32 // node id
	Mode   uint16 // type and permission bits as stored
	UID    uint32
	GID    uint32
	Links  uint32
	Size   uint64
	Blocks uint64 // 4 KiB blocks used, including the node itself
	Ctime  time.Time
	Mtime  time.Time
	Atime  time.Time
}

func newStat(id nodeID, n *node) *Stat {
	ts := func(t timespec) time.Time { return time.Unix(int64(t.sec), int64(t.nsec)).UTC() }
	return &Stat{
		Inode: uint32(id), Mode: n.mode, UID: n.uid, GID: n.gid, Links: n.links,
		Size: n.size, Blocks: n.blocks, Ctime: ts(n.ctime), Mtime: ts(n.mtime), Atime: ts(n.atime),
	}
}

// fileInfo implements fs.FileInfo and fs.DirEntry.
type fileInfo struct {
	name string
	st   *Stat
}

func (fi *fileInfo) Name() string               { return fi.name }
func (fi *fileInfo) Size() int64                { return int64(fi.st.Size) }
func (fi *fileInfo) Mode() fs.FileMode          { return FileMode(fi.st.Mode) }
func (fi *fileInfo) ModTime() time.Time         { return fi.st.Mtime }
func (fi *fileInfo) IsDir() bool                { return fi.st.Mode&modeType == modeDir }
func (fi *fileInfo) Sys() any                   { return fi.st }
func (fi *fileInfo) Type() fs.FileMode          { return fi.Mode().Type() }
func (fi *fileInfo) Info() (fs.FileInfo, error) { return fi, nil }
func (fi *fileInfo) String() string             { return fs.FormatFileInfo(fi) }

// FileMode converts a RedoxFS mode to an fs.FileMode.
func FileMode(m uint16) fs.FileMode {
	mode := fsutil.ModeFromUnix(uint32(m))
	switch m & modeType {
	case modeFile:
	case modeDir:
		mode |= fs.ModeDir
	case modeSymlink:
		mode |= fs.ModeSymlink
	case modeSock:
		mode |= fs.ModeSocket
	default:
		mode |= fs.ModeIrregular
	}
	return mode
}

func baseName(name string) string {
	if name == "." {
		return "/"
	}
	return path.Base(name)
}

// Stat returns information about the named file, following symlinks.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	id, n, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return &fileInfo{baseName(name), newStat(id, n)}, nil
}

// Lstat returns information about the named file without following a
// symlink in its last element.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	id, n, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return &fileInfo{baseName(name), newStat(id, n)}, nil
}

// ReadLink returns the target of the named symlink.
func (f *FS) ReadLink(name string) (string, error) {
	id, n, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode&modeType != modeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	b, err := f.readAll(id, n)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(b), nil
}

// ReadDir lists the named directory, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	id, n, err := f.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	ents, err := f.readDir(id, n)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return ents, nil
}

func (f *FS) readDir(id nodeID, n *node) ([]fs.DirEntry, error) {
	var ents []fs.DirEntry
	var werr error
	err := f.walkDir(id, n, nil, func(e dirent) bool {
		cn, err := f.node(e.id)
		if err != nil {
			werr = fmt.Errorf("entry %q: %w", e.name, err)
			return false
		}
		ents = append(ents, &fileInfo{e.name, newStat(e.id, cn)})
		return true
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, nil
}

// Open opens the named file or directory for reading, following symlinks.
// Files implement io.ReaderAt and io.Seeker; directories fs.ReadDirFile.
func (f *FS) Open(name string) (fs.File, error) {
	id, n, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	fi := &fileInfo{baseName(name), newStat(id, n)}
	if n.mode&modeType == modeDir {
		return &dir{fs: f, id: id, n: n, fi: fi}, nil
	}
	return &File{c: contents{fs: f, id: id, n: n}, fi: fi}, nil
}

// File is an open regular file (or other non-directory node).
type File struct {
	c   contents
	fi  *fileInfo
	pos int64
}

func (fl *File) Stat() (fs.FileInfo, error) { return fl.fi, nil }
func (fl *File) Close() error               { return nil }

// Read implements io.Reader.
func (fl *File) Read(p []byte) (int, error) {
	n, err := fl.c.ReadAt(p, fl.pos)
	fl.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt implements io.ReaderAt.
func (fl *File) ReadAt(p []byte, off int64) (int, error) { return fl.c.ReadAt(p, off) }

// Seek implements io.Seeker.
func (fl *File) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += fl.pos
	case io.SeekEnd:
		offset += int64(fl.c.n.size)
	default:
		return 0, fmt.Errorf("redoxfs: seek: invalid whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("redoxfs: seek: negative position %d", offset)
	}
	fl.pos = offset
	return offset, nil
}

// WriteTo copies the rest of the file to w, one record at a time.
func (fl *File) WriteTo(w io.Writer) (int64, error) {
	left := int64(fl.c.n.size) - fl.pos
	if left <= 0 {
		return 0, nil
	}
	buf := make([]byte, min(left, 128<<10))
	var total int64
	for {
		n, err := fl.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

type dir struct {
	fs   *FS
	id   nodeID
	n    *node
	fi   *fileInfo
	ents []fs.DirEntry
	read bool
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.fi, nil }
func (d *dir) Close() error               { return nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.fi.name, Err: errors.New("is a directory")}
}

func (d *dir) ReadDir(count int) ([]fs.DirEntry, error) {
	if !d.read {
		ents, err := d.fs.readDir(d.id, d.n)
		if err != nil {
			return nil, err
		}
		d.ents, d.read = ents, true
	}
	if count <= 0 {
		ents := d.ents
		d.ents = nil
		return ents, nil
	}
	if len(d.ents) == 0 {
		return nil, io.EOF
	}
	count = min(count, len(d.ents))
	ents := d.ents[:count]
	d.ents = d.ents[count:]
	return ents, nil
}

// Check walks the whole tree from the root, reading every node, directory
// block, indirect list and record, and so verifying every block hash. It
// also reports blocks that two structures share.
func (f *FS) Check(ctx context.Context) error {
	f = f.WithContext(ctx)
	c := &checker{fs: f, used: make([]uint64, (f.hdr.size/BlockSize+63)/64)}
	return c.check(ctx, "/", rootID)
}

type checker struct {
	fs   *FS
	used []uint64 // bitmap of blocks seen in use
}

// mark records the blocks of p as used, failing if one already is.
func (c *checker) mark(p blockPtr, what string) error {
	for i := p.index(); i < p.index()+1<<p.level(); i++ {
		if i/64 >= uint64(len(c.used)) {
			return fmt.Errorf("redoxfs: %s: block %d lies beyond the filesystem end: %w", what, i, ErrCorrupt)
		}
		if c.used[i/64]&(1<<(i%64)) != 0 {
			return fmt.Errorf("redoxfs: %s: block %d is used twice: %w", what, i, ErrCorrupt)
		}
		c.used[i/64] |= 1 << (i % 64)
	}
	return nil
}

func (c *checker) check(ctx context.Context, name string, id nodeID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f := c.fs
	n, p, err := f.nodeAt(id)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	what := fmt.Sprintf("%s (node %d)", name, id)
	if err := c.mark(p, what); err != nil {
		return err
	}
	if id == rootID && n.mode&modeType != modeDir {
		return fmt.Errorf("redoxfs: root node is not a directory (mode %#o): %w", n.mode, ErrCorrupt)
	}
	if n.mode&modeType != modeDir {
		if n.inline() {
			return nil
		}
		r := &contents{fs: f, id: id, n: n, visit: func(p blockPtr) error { return c.mark(p, what) }}
		if err := r.verify(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	var kids []dirent
	visit := func(p blockPtr) error { return c.mark(p, what) }
	if err := f.walkDirVisit(id, n, nil, func(e dirent) bool { kids = append(kids, e); return true }, visit); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, k := range kids {
		if err := c.check(ctx, path.Join(name, k.name), k.id); err != nil {
			return err
		}
	}
	return nil
}

var (
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadLinkFS = (*FS)(nil)
	_ io.ReaderAt   = (*File)(nil)
)
