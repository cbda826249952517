// Package redoxfs writes and reads RedoxFS version 8 filesystems, the native filesystem of Redox OS, byte-compatible with the upstream Rust library.
package redoxfs

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// On-disk constants of RedoxFS version 8. All block numbers inside the
// filesystem are relative to its first byte; block n lives at offset +
// n*BlockSize.
const (
	BlockSize = 4096
	Version   = 8

	// MaxNameLen is the longest directory entry name, in bytes.
	MaxNameLen = 252
	// InlineMax is the capacity of a node's inline data: files shorter
	// than this are stored inside their node.
	InlineMax = 3968

	headerRing        = 256
	recordLevel       = 5 // regular files use 128 KiB records
	treeListEntries   = 254
	blockListEntries  = 256
	allocListEntries  = 255
	htreeEntries      = 204
	dirListDataLen    = 4092
	nodeDataOffset    = 128
	nodeLevelPointers = 248
	headerHashOffset  = 4088
	headerEncHashOff  = 4072
	headerReleaseOff  = 3152
	markerHash        = 0xFFFFFFFFFFFFFFFF
	markerAddr        = 0xFFFFFFFFFFFFFFF0
	htreeEmptyHash    = 0xFFFFFFFF
)

// Mode type bits of a node.
const (
	modeType    = 0xF000
	modeFile    = 0x8000
	modeDir     = 0x4000
	modeSymlink = 0xA000
	modeSock    = 0xC000
	modePerm    = 0x0FFF
)

const nodeFlagInline = 1

var signature = [8]byte{'R', 'e', 'd', 'o', 'x', 'F', 'S', 0}

// Number of record pointers reachable through each part of a node's level
// data: 128 direct pointers, then 64 single-, 32 double-, 16 triple- and 8
// quadruple-indirect BlockLists.
var levelSlots = [5]int{128, 64, 32, 16, 8}

// blockPtr is a 16-byte block pointer: a packed address and the SeaHash of
// the stored bytes.
type blockPtr struct {
	addr uint64
	hash uint64
}

func makePtr(index uint64, level uint, hash uint64) blockPtr {
	return blockPtr{addr: index<<8 | uint64(level), hash: hash}
}

func (p blockPtr) index() uint64     { return p.addr >> 8 }
func (p blockPtr) level() uint       { return uint(p.addr & 0xF) }
func (p blockPtr) decompLevel() uint { return uint(p.addr>>4) & 0xF }
func (p blockPtr) isNull() bool      { return p.index() == 0 }
func (p blockPtr) isMarker() bool {
	return p.addr&^0xF == markerAddr && p.hash == markerHash
}

// size is the number of bytes the pointer spans on disk.
func (p blockPtr) size() int { return BlockSize << p.level() }

func getPtr(b []byte) blockPtr {
	return blockPtr{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}
}

func putPtr(b []byte, p blockPtr) {
	binary.LittleEndian.PutUint64(b, p.addr)
	binary.LittleEndian.PutUint64(b[8:], p.hash)
}

// levelFor returns the smallest level L with BlockSize<<L >= n (n >= 1).
func levelFor(n int) uint {
	if n <= BlockSize {
		return 0
	}
	return uint(bits.Len(uint((n - 1) / BlockSize)))
}

// header is the decoded part of a filesystem header we use.
type header struct {
	uuid       [16]byte
	size       uint64
	generation uint64
	tree       blockPtr
	alloc      blockPtr
	release    blockPtr
}

func (h *header) marshal(b []byte) {
	clear(b[:BlockSize])
	copy(b, signature[:])
	binary.LittleEndian.PutUint64(b[8:], Version)
	copy(b[16:32], h.uuid[:])
	binary.LittleEndian.PutUint64(b[32:], h.size)
	binary.LittleEndian.PutUint64(b[40:], h.generation)
	putPtr(b[48:], h.tree)
	putPtr(b[64:], h.alloc)
	putPtr(b[headerReleaseOff:], h.release)
	sum := seaHash(b[:headerEncHashOff])
	binary.LittleEndian.PutUint64(b[headerEncHashOff:], sum)
	binary.LittleEndian.PutUint64(b[headerHashOffset:], sum)
}

// unmarshalHeader decodes and validates a header block.
func unmarshalHeader(b []byte) (*header, error) {
	if [8]byte(b[:8]) != signature {
		return nil, fmt.Errorf("bad signature %q", b[:8])
	}
	if v := binary.LittleEndian.Uint64(b[8:]); v != Version {
		return nil, fmt.Errorf("version %d, want %d", v, Version)
	}
	sum := seaHash(b[:headerEncHashOff])
	if got := binary.LittleEndian.Uint64(b[headerHashOffset:]); got != sum {
		return nil, fmt.Errorf("header hash %#016x, computed %#016x", got, sum)
	}
	if binary.LittleEndian.Uint64(b[headerEncHashOff:]) != sum || binary.LittleEndian.Uint64(b[headerEncHashOff+8:]) != 0 {
		return nil, fmt.Errorf("encrypted filesystem (not supported)")
	}
	h := &header{
		size:       binary.LittleEndian.Uint64(b[32:]),
		generation: binary.LittleEndian.Uint64(b[40:]),
		tree:       getPtr(b[48:]),
		alloc:      getPtr(b[64:]),
		release:    getPtr(b[headerReleaseOff:]),
	}
	copy(h.uuid[:], b[16:32])
	return h, nil
}

// node is a decoded inode block.
type node struct {
	mode        uint16
	uid, gid    uint32
	links       uint32
	size        uint64
	blocks      uint64
	ctime       timespec
	mtime       timespec
	atime       timespec
	recordLevel uint32
	flags       uint32
	data        [InlineMax]byte // inline data or 248 level pointers
}

type timespec struct {
	sec  uint64
	nsec uint32
}

func (n *node) marshal(b []byte) {
	clear(b[:nodeDataOffset])
	le := binary.LittleEndian
	le.PutUint16(b[0:], n.mode)
	le.PutUint32(b[2:], n.uid)
	le.PutUint32(b[6:], n.gid)
	le.PutUint32(b[10:], n.links)
	le.PutUint64(b[14:], n.size)
	le.PutUint64(b[22:], n.blocks)
	le.PutUint64(b[30:], n.ctime.sec)
	le.PutUint32(b[38:], n.ctime.nsec)
	le.PutUint64(b[42:], n.mtime.sec)
	le.PutUint32(b[50:], n.mtime.nsec)
	le.PutUint64(b[54:], n.atime.sec)
	le.PutUint32(b[62:], n.atime.nsec)
	le.PutUint32(b[66:], n.recordLevel)
	le.PutUint32(b[70:], n.flags)
	copy(b[nodeDataOffset:BlockSize], n.data[:])
}

func unmarshalNode(b []byte) *node {
	le := binary.LittleEndian
	n := &node{
		mode:        le.Uint16(b[0:]),
		uid:         le.Uint32(b[2:]),
		gid:         le.Uint32(b[6:]),
		links:       le.Uint32(b[10:]),
		size:        le.Uint64(b[14:]),
		blocks:      le.Uint64(b[22:]),
		ctime:       timespec{le.Uint64(b[30:]), le.Uint32(b[38:])},
		mtime:       timespec{le.Uint64(b[42:]), le.Uint32(b[50:])},
		atime:       timespec{le.Uint64(b[54:]), le.Uint32(b[62:])},
		recordLevel: le.Uint32(b[66:]),
		flags:       le.Uint32(b[70:]),
	}
	copy(n.data[:], b[nodeDataOffset:BlockSize])
	return n
}

func (n *node) inline() bool { return n.flags&nodeFlagInline != 0 }

// levelPtr returns level-data pointer i (0..247).
func (n *node) levelPtr(i int) blockPtr { return getPtr(n.data[i*16:]) }

func (n *node) setLevelPtr(i int, p blockPtr) { putPtr(n.data[i*16:], p) }

// nodeID packs tree indexes into a node id.
type nodeID uint32

const rootID nodeID = 1

// idFor returns the id of the k-th allocated node slot (k counts from 0,
// where slot 0 is the reserved null id): ids skip the indexes 254 and 255 of
// every tree level.
func idFor(k uint64) (nodeID, bool) {
	i0 := k % treeListEntries
	k /= treeListEntries
	i1 := k % treeListEntries
	k /= treeListEntries
	i2 := k % treeListEntries
	k /= treeListEntries
	if k >= treeListEntries {
		return 0, false
	}
	return nodeID(k<<24 | i2<<16 | i1<<8 | i0), true
}

func (id nodeID) indexes() [4]int {
	return [4]int{int(id >> 24 & 0xFF), int(id >> 16 & 0xFF), int(id >> 8 & 0xFF), int(id & 0xFF)}
}
