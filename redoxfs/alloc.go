package redoxfs

import (
	"container/heap"
	"slices"
)

// allocator hands out blocks for a fresh filesystem. Blocks are taken from
// the bottom up; a block of level L (2^L blocks) is aligned to 2^L, like
// the upstream buddy allocator, and the gaps alignment leaves are kept as
// aligned free chunks that later allocations reuse first.
type allocator struct {
	next  uint64 // first block never handed out
	end   uint64 // number of blocks in the filesystem
	chunk [16]indexHeap
}

func newAllocator(first, end uint64) *allocator {
	return &allocator{next: first, end: end}
}

// alloc returns the first block of a free, aligned run of 2^level blocks,
// or false when the filesystem is full.
func (a *allocator) alloc(level uint) (uint64, bool) {
	for l := level; l < uint(len(a.chunk)); l++ {
		if a.chunk[l].Len() == 0 {
			continue
		}
		idx := heap.Pop(&a.chunk[l]).(uint64)
		for k := l; k > level; k-- {
			heap.Push(&a.chunk[k-1], idx+1<<(k-1))
		}
		return idx, true
	}
	n := uint64(1) << level
	start := (a.next + n - 1) &^ (n - 1)
	if start+n > a.end {
		return 0, false
	}
	a.release(a.next, start)
	a.next = start + n
	return start, true
}

// release keeps [from, to) as aligned free chunks.
func (a *allocator) release(from, to uint64) {
	for from < to {
		l := uint(0)
		for l+1 < uint(len(a.chunk)) && from&(1<<(l+1)-1) == 0 && from+1<<(l+1) <= to {
			l++
		}
		heap.Push(&a.chunk[l], from)
		from += 1 << l
	}
}

// freeRange is a run of free blocks, as stored in the allocation log.
type freeRange struct{ index, count uint64 }

// free returns every free block as sorted, merged ranges.
func (a *allocator) free() []freeRange {
	var rs []freeRange
	for l := range a.chunk {
		for _, idx := range a.chunk[l] {
			rs = append(rs, freeRange{idx, 1 << l})
		}
	}
	if a.next < a.end {
		rs = append(rs, freeRange{a.next, a.end - a.next})
	}
	slices.SortFunc(rs, func(x, y freeRange) int {
		switch {
		case x.index < y.index:
			return -1
		case x.index > y.index:
			return 1
		}
		return 0
	})
	var out []freeRange
	for _, r := range rs {
		if len(out) > 0 && out[len(out)-1].index+out[len(out)-1].count == r.index {
			out[len(out)-1].count += r.count
			continue
		}
		out = append(out, r)
	}
	return out
}

// used returns the number of blocks handed out, including the header ring.
func (a *allocator) used() uint64 {
	var free uint64
	for _, r := range a.free() {
		free += r.count
	}
	return a.end - free
}

type indexHeap []uint64

func (h indexHeap) Len() int           { return len(h) }
func (h indexHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h indexHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *indexHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *indexHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
