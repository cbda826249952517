package redoxfs

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// blockMap accounts for every block of an image: each block must be used
// by exactly one structure or be free in the allocation log, and blocks of
// level L must be aligned to 2^L, as the upstream buddy allocator expects.
type blockMap struct {
	t     testing.TB
	owner map[uint64]string
}

func (m *blockMap) mark(p blockPtr, what string) {
	n := uint64(1) << p.level()
	if p.index()%n != 0 {
		m.t.Errorf("%s: block %d of level %d is not aligned", what, p.index(), p.level())
	}
	for i := p.index(); i < p.index()+n; i++ {
		if prev, ok := m.owner[i]; ok {
			m.t.Errorf("block %d used by %s and %s", i, prev, what)
		}
		m.owner[i] = what
	}
}

func accountBlocks(t testing.TB, fsys *FS) {
	m := &blockMap{t: t, owner: map[uint64]string{}}
	var walkTree func(p blockPtr, level int, id uint32)
	walkTree = func(p blockPtr, level int, id uint32) {
		if p.isNull() {
			return
		}
		m.mark(p, fmt.Sprintf("tree list level %d", level))
		b, err := fsys.readBlock(p, "tree")
		if err != nil {
			t.Fatal(err)
		}
		for i := range treeListEntries {
			c := getPtr(b[i*16:])
			cid := id<<8 | uint32(i)
			if level > 0 {
				walkTree(c, level-1, cid)
				continue
			}
			if c.isNull() {
				continue
			}
			m.mark(c, fmt.Sprintf("node %d", cid))
			n, err := fsys.node(nodeID(cid))
			if err != nil {
				t.Fatal(err)
			}
			walkNode(t, fsys, m, nodeID(cid), n)
		}
	}
	walkTree(fsys.hdr.tree, 3, 0)
	for p := fsys.hdr.alloc; !p.isNull(); {
		m.mark(p, "alloc list")
		b, err := fsys.readBlock(p, "alloc")
		if err != nil {
			t.Fatal(err)
		}
		for i := range allocListEntries {
			e := b[16+i*16:]
			idx, count := binary.LittleEndian.Uint64(e), int64(binary.LittleEndian.Uint64(e[8:]))
			if count < 0 {
				t.Errorf("alloc entry %d marks %d blocks allocated", idx, -count)
			}
			for j := idx; j < idx+uint64(max(count, 0)); j++ {
				if prev, ok := m.owner[j]; ok {
					t.Errorf("block %d is free and used by %s", j, prev)
				}
				m.owner[j] = "free"
			}
		}
		p = getPtr(b)
	}
	total := fsys.hdr.size / BlockSize
	for i := uint64(headerRing); i < total; i++ {
		if _, ok := m.owner[i]; !ok {
			t.Errorf("block %d is neither used nor free (leaked)", i)
		}
	}
	if len(m.owner) != int(total-headerRing) {
		t.Errorf("%d blocks accounted for, want %d", len(m.owner), total-headerRing)
	}
}

func walkNode(t testing.TB, fsys *FS, m *blockMap, id nodeID, n *node) {
	what := fmt.Sprintf("node %d", id)
	used := uint64(1)
	if n.mode&modeType == modeDir {
		if !n.levelPtr(0).isMarker() {
			return
		}
		var walk func(p blockPtr, depth int)
		walk = func(p blockPtr, depth int) {
			m.mark(p, what+" dir")
			used++
			if depth == 0 {
				return
			}
			b, _ := fsys.readBlock(p, "htree")
			for i := range htreeEntries {
				if binary.LittleEndian.Uint32(b[i*20:]) != htreeEmptyHash {
					walk(getPtr(b[i*20+4:]), depth-1)
				}
			}
		}
		walk(n.levelPtr(1), int(n.levelPtr(0).addr&0xF))
	} else if !n.inline() {
		var walk func(p blockPtr, depth int)
		walk = func(p blockPtr, depth int) {
			if p.isNull() {
				return
			}
			m.mark(p, what)
			used += 1 << p.level()
			if depth == 0 {
				return
			}
			b, _ := fsys.readBlock(p, "list")
			for i := range blockListEntries {
				walk(getPtr(b[i*16:]), depth-1)
			}
		}
		slot := 0
		for depth, k := range levelSlots {
			for range k {
				walk(n.levelPtr(slot), depth)
				slot++
			}
		}
	}
	if used != n.blocks {
		t.Errorf("%s: blocks field %d, blocks found %d", what, n.blocks, used)
	}
}

func TestLayoutAccounting(t *testing.T) {
	_, fsys := build(t, sampleTree(t).tree, 64<<20)
	accountBlocks(t, fsys)
	// A fresh image has one AllocList holding the single free range.
	b, err := fsys.readBlock(fsys.hdr.alloc, "alloc list")
	if err != nil {
		t.Fatal(err)
	}
	if !getPtr(b).isNull() {
		t.Error("the AllocList has a predecessor")
	}
	used := fsys.hdr.size/BlockSize - binary.LittleEndian.Uint64(b[24:])
	if binary.LittleEndian.Uint64(b[16:]) != used || binary.LittleEndian.Uint64(b[24+16:]) != 0 {
		t.Errorf("allocation log %x…, want one entry freeing every block from %d", b[16:48], used)
	}
}
