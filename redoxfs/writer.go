package redoxfs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/redox-cook/cook/internal/fsutil"
)

// Options say where and how Build writes a filesystem.
type Options struct {
	// Offset is the byte offset of the filesystem in the output.
	Offset int64
	// Size is the filesystem size in bytes, rounded down to a whole
	// number of 4 KiB blocks; the header records it.
	Size int64
	// UUID identifies the filesystem; the bootloader passes it to the
	// kernel as REDOXFS_UUID.
	UUID [16]byte
	// Time is used for entries whose ModTime is zero.
	Time time.Time
	// Compress stores each record that LZ4 shrinks to a smaller block
	// level compressed, as the upstream library does; readers
	// decompress transparently. It trades write speed for space.
	Compress bool
}

// Stats describe a filesystem Build wrote.
type Stats struct {
	Nodes      int    // files, directories and symlinks, including the root
	UsedBlocks uint64 // 4 KiB blocks in use, including the header ring
	FreeBlocks uint64
}

// minBlocks is the smallest filesystem: the header ring and a little room.
const minBlocks = headerRing + 16

// Build writes a fresh RedoxFS filesystem holding t into w at
// opt.Offset. The result depends only on t, the file contents and opt, so
// the same input gives the same bytes. File contents are streamed one
// 128 KiB record at a time; records that are all zero are left sparse. The
// header goes in last, into ring slot 0, and the other ring slots are
// zeroed. If w is a regular *os.File shorter than the filesystem, it is
// extended.
func Build(ctx context.Context, w io.WriterAt, t *Tree, opt Options) (Stats, error) {
	if opt.Offset < 0 {
		return Stats{}, fmt.Errorf("redoxfs: negative offset %d", opt.Offset)
	}
	total := uint64(max(opt.Size, 0)) / BlockSize
	if total < minBlocks {
		return Stats{}, fmt.Errorf("redoxfs: size %d bytes is under the minimum of %d: %w", opt.Size, minBlocks*BlockSize, ErrNoSpace)
	}
	bw := &writer{
		ctx:   ctx,
		out:   blockWriter{w: w, off: opt.Offset},
		alloc: newAllocator(headerRing, total),
		total: total,
		now:   toTimespec(opt.Time),
		rec:   make([]byte, BlockSize<<recordLevel),
	}
	if opt.Compress {
		bw.lz = new(lz4.Compressor)
		bw.comp = make([]byte, 2+lz4.CompressBlockBound(BlockSize<<recordLevel))
	}
	st, err := bw.build(t, opt)
	if err != nil {
		return Stats{}, err
	}
	return st, nil
}

type writer struct {
	ctx   context.Context
	out   blockWriter
	alloc *allocator
	total uint64
	now   timespec
	rec   []byte // one record of file data
	blk   [BlockSize]byte
	nodes []blockPtr      // by allocation sequence; nodes[0] is the reserved null id
	lz    *lz4.Compressor // nil unless compressing
	comp  []byte          // compressed record: u16 length, then LZ4 block
}

func toTimespec(t time.Time) timespec {
	if t.IsZero() || t.Unix() < 0 {
		return timespec{}
	}
	return timespec{uint64(t.Unix()), uint32(t.Nanosecond())}
}

func (w *writer) build(t *Tree, opt Options) (Stats, error) {
	// Number the nodes: parents before children, siblings by name.
	var order []*treeNode
	ids := map[*treeNode]nodeID{}
	var number func(*treeNode) error
	number = func(n *treeNode) error {
		id, ok := idFor(uint64(len(order) + 1))
		if !ok {
			return fmt.Errorf("redoxfs: %s: too many files for the node tree", n.Path)
		}
		ids[n] = id
		order = append(order, n)
		for _, c := range n.sorted() {
			if err := number(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := number(t.root); err != nil {
		return Stats{}, err
	}

	w.nodes = make([]blockPtr, 1, len(order)+1)
	for _, n := range order {
		if err := w.ctx.Err(); err != nil {
			return Stats{}, err
		}
		p, err := w.writeNode(n, ids)
		if err != nil {
			name := "/" + n.Path
			return Stats{}, fmt.Errorf("redoxfs: writing %s: %w", name, err)
		}
		w.nodes = append(w.nodes, p)
	}
	tree, err := w.writeTree()
	if err != nil {
		return Stats{}, fmt.Errorf("redoxfs: writing the node tree: %w", err)
	}
	alloc, err := w.writeAllocLog()
	if err != nil {
		return Stats{}, fmt.Errorf("redoxfs: writing the allocation log: %w", err)
	}
	if err := w.out.flush(); err != nil {
		return Stats{}, err
	}

	// The header ring: slots 1..255 zero, then the header in slot 0.
	if err := w.out.writeZero(1, headerRing-1); err != nil {
		return Stats{}, err
	}
	if err := w.out.extend(int64(w.total) * BlockSize); err != nil {
		return Stats{}, err
	}
	h := header{uuid: opt.UUID, size: w.total * BlockSize, tree: tree, alloc: alloc}
	h.marshal(w.blk[:])
	if err := w.out.write(0, w.blk[:]); err != nil {
		return Stats{}, err
	}
	if err := w.out.flush(); err != nil {
		return Stats{}, err
	}
	used := w.alloc.used()
	return Stats{Nodes: len(order), UsedBlocks: used, FreeBlocks: w.total - used}, nil
}

// allocate takes 2^level blocks or reports that the filesystem is full.
func (w *writer) allocate(level uint) (uint64, error) {
	idx, ok := w.alloc.alloc(level)
	if !ok {
		return 0, fmt.Errorf("%w: no room for %d more blocks in %d (%d bytes)", ErrNoSpace, 1<<level, w.total, w.total*BlockSize)
	}
	return idx, nil
}

// put writes b (4096<<level bytes) to fresh blocks and returns its pointer.
func (w *writer) put(b []byte, level uint) (blockPtr, error) {
	idx, err := w.allocate(level)
	if err != nil {
		return blockPtr{}, err
	}
	if err := w.out.write(idx, b); err != nil {
		return blockPtr{}, err
	}
	return makePtr(idx, level, seaHash(b)), nil
}

func (w *writer) writeNode(tn *treeNode, ids map[*treeNode]nodeID) (blockPtr, error) {
	e := tn.Entry
	ts := w.now
	if !e.ModTime.IsZero() {
		ts = toTimespec(e.ModTime)
	}
	n := &node{
		mode:   uint16(fsutil.UnixFromMode(e.Mode)),
		uid:    e.UID,
		gid:    e.GID,
		links:  1,
		blocks: 1,
		ctime:  ts, mtime: ts, atime: ts,
	}
	switch e.Mode.Type() {
	case fs.ModeDir:
		n.mode |= modeDir
		kids := make([]dirent, 0, len(tn.children))
		for _, c := range tn.sorted() {
			kids = append(kids, dirent{ids[c], c.name})
		}
		if err := w.writeDir(n, kids); err != nil {
			return blockPtr{}, err
		}
	case fs.ModeSymlink:
		n.mode |= modeSymlink
		n.flags = nodeFlagInline
		if err := w.writeData(n, strings.NewReader(e.Target)); err != nil {
			return blockPtr{}, err
		}
	default:
		n.mode |= modeFile
		n.recordLevel = recordLevel
		n.flags = nodeFlagInline
		if e.Open != nil {
			r, err := e.Open()
			if err != nil {
				return blockPtr{}, err
			}
			err = w.writeData(n, r)
			if cerr := r.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return blockPtr{}, err
			}
		}
	}
	n.marshal(w.blk[:])
	return w.put(w.blk[:], 0)
}

// writeData streams r into n: inline when it ends below InlineMax bytes,
// otherwise as records of n.recordLevel, each stored at the smallest level
// that holds its bytes. All-zero records are left out (sparse).
func (w *writer) writeData(n *node, r io.Reader) error {
	rs := BlockSize << n.recordLevel
	buf := w.rec[:rs]
	got, err := io.ReadFull(r, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("reading contents: %w", err)
	}
	eof := err != nil
	if eof && got < InlineMax {
		n.size = uint64(got)
		copy(n.data[:], buf[:got])
		return nil
	}
	n.flags &^= nodeFlagInline
	ix := recordIndexer{w: w, n: n}
	for rec := int64(0); got > 0; rec++ {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		n.size += uint64(got)
		if !allZero(buf[:got]) {
			level := levelFor(got)
			stored := buf[:BlockSize<<level]
			clear(stored[got:])
			p, err := w.putRecord(stored, level)
			if err != nil {
				return err
			}
			n.blocks += 1 << p.level()
			if err := ix.add(rec, p); err != nil {
				return err
			}
		}
		if eof {
			break
		}
		got, err = io.ReadFull(r, buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return fmt.Errorf("reading contents at byte %d: %w", n.size, err)
		}
		eof = err != nil
	}
	return ix.finish()
}

// putRecord writes a record of the given level, compressed when that is
// enabled and saves at least one level.
func (w *writer) putRecord(b []byte, level uint) (blockPtr, error) {
	if w.lz == nil || level == 0 {
		return w.put(b, level)
	}
	n, err := w.lz.CompressBlock(b, w.comp[2:])
	if err != nil || n == 0 || 2+n > 64<<10 || levelFor(2+n) >= level {
		return w.put(b, level)
	}
	cl := levelFor(2 + n)
	stored := w.comp[:BlockSize<<cl]
	binary.LittleEndian.PutUint16(stored, uint16(n))
	clear(stored[2+n:])
	p, err := w.put(stored, cl)
	p.addr |= uint64(level) << 4
	return p, err
}

func allZero(b []byte) bool {
	var zero [1024]byte
	for len(b) > 0 {
		k := min(len(b), len(zero))
		if !bytes.Equal(b[:k], zero[:k]) {
			return false
		}
		b = b[k:]
	}
	return true
}

// recordIndexer places record pointers into a node's level data, building
// the indirect BlockLists as records arrive in increasing order.
type recordIndexer struct {
	w      *writer
	n      *node
	depth  int      // indirection depth of the open section
	base   int      // first level-data slot of that section
	open   [5]bool  // open[d]: a list at depth d is being filled
	prefix [5]int64 // prefix[d]: which list at depth d is open
	lists  [5][blockListEntries]blockPtr
}

func (ix *recordIndexer) add(r int64, p blockPtr) error {
	base := 0
	for depth, slots := range levelSlots {
		span := int64(slots) << (8 * depth)
		if r >= span {
			r -= span
			base += slots
			continue
		}
		if depth != ix.depth || base != ix.base {
			if err := ix.finish(); err != nil {
				return err
			}
			ix.depth, ix.base = depth, base
		}
		if depth == 0 {
			ix.n.setLevelPtr(base+int(r), p)
			return nil
		}
		for d := 1; d <= depth; d++ {
			if ix.open[d] && ix.prefix[d] != r>>(8*d) {
				if err := ix.flush(d); err != nil {
					return err
				}
			}
		}
		for d := 1; d <= depth; d++ {
			if !ix.open[d] {
				ix.open[d], ix.prefix[d] = true, r>>(8*d)
				clear(ix.lists[d][:])
			}
		}
		ix.lists[1][r&0xFF] = p
		return nil
	}
	return fmt.Errorf("record %d is beyond the largest file RedoxFS can hold", r)
}

// flush writes the open list at depth d and links it into its parent.
func (ix *recordIndexer) flush(d int) error {
	b := ix.w.blk[:]
	for i, p := range ix.lists[d] {
		putPtr(b[i*16:], p)
	}
	p, err := ix.w.put(b, 0)
	if err != nil {
		return err
	}
	ix.n.blocks++
	ix.open[d] = false
	if d == ix.depth {
		ix.n.setLevelPtr(ix.base+int(ix.prefix[d]), p)
	} else {
		ix.lists[d+1][ix.prefix[d]&0xFF] = p
	}
	return nil
}

// finish writes every open list, bottom up.
func (ix *recordIndexer) finish() error {
	for d := 1; d <= ix.depth; d++ {
		if ix.open[d] {
			if err := ix.flush(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeDir stores a directory's entries: one DirList when they fit,
// otherwise DirLists sorted by name hash under an H-tree.
func (w *writer) writeDir(n *node, kids []dirent) error {
	if len(kids) == 0 {
		return nil
	}
	used := 0
	for _, k := range kids {
		used += 5 + len(k.name)
	}
	var root blockPtr
	var depth, count int
	if used <= dirListDataLen {
		p, err := w.putDirList(kids)
		if err != nil {
			return err
		}
		root, count = p, 1
	} else {
		type slot struct {
			hash uint32
			ptr  blockPtr
		}
		hashes := make(map[nodeID]uint32, len(kids))
		for _, k := range kids {
			hashes[k.id] = nameHash(k.name)
		}
		slices.SortStableFunc(kids, func(a, b dirent) int { return cmp.Compare(hashes[a.id], hashes[b.id]) })
		var level []slot
		for len(kids) > 0 {
			fill, i := 0, 0
			for i < len(kids) && fill+5+len(kids[i].name) <= dirListDataLen {
				fill += 5 + len(kids[i].name)
				i++
			}
			p, err := w.putDirList(kids[:i])
			if err != nil {
				return err
			}
			level = append(level, slot{hashes[kids[i-1].id], p})
			count++
			kids = kids[i:]
		}
		for depth == 0 || len(level) > 1 {
			var up []slot
			for len(level) > 0 {
				k := min(len(level), htreeEntries)
				b := w.blk[:]
				clear(b)
				for i := range htreeEntries {
					e := b[i*20:]
					if i >= k {
						binary.LittleEndian.PutUint32(e, htreeEmptyHash)
						continue
					}
					binary.LittleEndian.PutUint32(e, level[i].hash)
					putPtr(e[4:], level[i].ptr)
				}
				p, err := w.put(b, 0)
				if err != nil {
					return err
				}
				up = append(up, slot{level[k-1].hash, p})
				count++
				level = level[k:]
			}
			level = up
			depth++
			if depth > 15 {
				return errors.New("directory too large")
			}
		}
		root = level[0].ptr
	}
	n.setLevelPtr(0, blockPtr{addr: markerAddr | uint64(depth), hash: markerHash})
	n.setLevelPtr(1, root)
	n.size = uint64(count) * BlockSize
	n.blocks += uint64(count)
	return nil
}

func (w *writer) putDirList(ents []dirent) (blockPtr, error) {
	b := w.blk[:]
	clear(b)
	off := 0
	for _, e := range ents {
		binary.LittleEndian.PutUint32(b[off:], uint32(e.id))
		b[off+4] = byte(len(e.name))
		copy(b[off+5:], e.name)
		off += 5 + len(e.name)
	}
	binary.LittleEndian.PutUint16(b[dirListDataLen:], uint16(len(ents)))
	binary.LittleEndian.PutUint16(b[dirListDataLen+2:], uint16(off))
	return w.put(b, 0)
}

// writeTree writes the four TreeList levels over the node pointers and
// returns the pointer to the top one.
func (w *writer) writeTree() (blockPtr, error) {
	ptrs := w.nodes
	full := make([]bool, len(ptrs))
	for i := range full {
		full[i] = true // every numbered slot, and the reserved id 0
	}
	for range 4 {
		var upPtrs []blockPtr
		var upFull []bool
		for j := 0; j == 0 || j*treeListEntries < len(ptrs); j++ {
			lo := j * treeListEntries
			hi := min(lo+treeListEntries, len(ptrs))
			b := w.blk[:]
			clear(b)
			allFull := hi-lo == treeListEntries
			for i := lo; i < hi; i++ {
				putPtr(b[(i-lo)*16:], ptrs[i])
				if full[i] {
					bit := i - lo
					b[treeListEntries*16+bit/8] |= 1 << (bit % 8)
				} else {
					allFull = false
				}
			}
			p, err := w.put(b, 0)
			if err != nil {
				return blockPtr{}, err
			}
			upPtrs = append(upPtrs, p)
			upFull = append(upFull, allFull)
		}
		ptrs, full = upPtrs, upFull
	}
	if len(ptrs) != 1 {
		return blockPtr{}, errors.New("too many nodes")
	}
	return ptrs[0], nil
}

// writeAllocLog writes the allocation log: AllocLists whose entries mark
// every free range free. Nothing is marked allocated, so blocks not listed
// are in use.
func (w *writer) writeAllocLog() (blockPtr, error) {
	var lists []uint64
	for {
		free := w.alloc.free()
		need := max(1, (len(free)+allocListEntries-1)/allocListEntries)
		if len(lists) >= need {
			var prev blockPtr
			for i, idx := range lists {
				b := w.blk[:]
				clear(b)
				putPtr(b, prev)
				lo := min(i*allocListEntries, len(free))
				hi := min(lo+allocListEntries, len(free))
				for j, r := range free[lo:hi] {
					binary.LittleEndian.PutUint64(b[16+j*16:], r.index)
					binary.LittleEndian.PutUint64(b[24+j*16:], r.count)
				}
				if err := w.out.write(idx, b); err != nil {
					return blockPtr{}, err
				}
				prev = makePtr(idx, 0, seaHash(b))
			}
			return prev, nil
		}
		idx, err := w.allocate(0)
		if err != nil {
			return blockPtr{}, err
		}
		lists = append(lists, idx)
	}
}

// blockWriter coalesces writes to consecutive blocks.
type blockWriter struct {
	w     io.WriterAt
	off   int64
	start uint64
	buf   []byte
}

const coalesce = 1 << 20

func (bw *blockWriter) write(idx uint64, b []byte) error {
	if len(bw.buf) > 0 && (idx != bw.start+uint64(len(bw.buf))/BlockSize || len(bw.buf)+len(b) > coalesce) {
		if err := bw.flush(); err != nil {
			return err
		}
	}
	if len(bw.buf) == 0 {
		if len(b) >= coalesce {
			return bw.writeAt(idx, b)
		}
		if bw.buf == nil {
			bw.buf = make([]byte, 0, coalesce)
		}
		bw.start = idx
	}
	bw.buf = append(bw.buf, b...)
	return nil
}

func (bw *blockWriter) flush() error {
	if len(bw.buf) == 0 {
		return nil
	}
	err := bw.writeAt(bw.start, bw.buf)
	bw.buf = bw.buf[:0]
	return err
}

func (bw *blockWriter) writeAt(idx uint64, b []byte) error {
	at := bw.off + int64(idx)*BlockSize
	if _, err := bw.w.WriteAt(b, at); err != nil {
		return fmt.Errorf("redoxfs: writing block %d at byte %d: %w", idx, at, err)
	}
	return nil
}

// writeZero zeroes count blocks from idx.
func (bw *blockWriter) writeZero(idx, count uint64) error {
	if err := bw.flush(); err != nil {
		return err
	}
	return bw.writeAt(idx, make([]byte, count*BlockSize))
}

// extend grows a regular file that is shorter than the filesystem.
func (bw *blockWriter) extend(size int64) error {
	f, ok := bw.w.(interface {
		Stat() (fs.FileInfo, error)
		Truncate(int64) error
	})
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("redoxfs: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() >= bw.off+size {
		return nil
	}
	if err := f.Truncate(bw.off + size); err != nil {
		return fmt.Errorf("redoxfs: extending the output to %d bytes: %w", bw.off+size, err)
	}
	return nil
}
