package redoxfs

import (
	"encoding/binary"
)

// SeaHash with the default seeds, as used by RedoxFS for block pointers,
// headers and directory-name hashes.

const (
	seaSeedA = 0x16f11fe89b0d677c
	seaSeedB = 0xb480a793d8e6c86c
	seaSeedC = 0x6fe2e5aaf078ebc9
	seaSeedD = 0x14f994a4c5259381
	seaPrime = 0x6eed0e9da4d94a4f
)

func diffuse(x uint64) uint64 {
	x *= seaPrime
	x ^= (x >> 32) >> (x >> 60)
	x *= seaPrime
	return x
}

// seaHash returns the SeaHash of b.
func seaHash(b []byte) uint64 {
	a, bb, c, d := uint64(seaSeedA), uint64(seaSeedB), uint64(seaSeedC), uint64(seaSeedD)
	n := len(b)
	p := b
	for len(p) >= 32 {
		a = diffuse(a ^ binary.LittleEndian.Uint64(p[0:8]))
		bb = diffuse(bb ^ binary.LittleEndian.Uint64(p[8:16]))
		c = diffuse(c ^ binary.LittleEndian.Uint64(p[16:24]))
		d = diffuse(d ^ binary.LittleEndian.Uint64(p[24:32]))
		p = p[32:]
	}
	// Remaining words go to the lanes in order; a partial word is
	// zero-extended.
	lanes := [4]*uint64{&a, &bb, &c, &d}
	for i := 0; len(p) > 0; i++ {
		var w uint64
		if len(p) >= 8 {
			w = binary.LittleEndian.Uint64(p)
			p = p[8:]
		} else {
			for j := len(p) - 1; j >= 0; j-- {
				w = w<<8 | uint64(p[j])
			}
			p = nil
		}
		*lanes[i] = diffuse(*lanes[i] ^ w)
	}
	return diffuse(a ^ bb ^ c ^ d ^ uint64(n))
}

// nameHash is the directory hash of a name: the low 32 bits of its
// SeaHash, with 0xFFFFFFFF (the empty-slot marker) mapped to 0xFFFFFFFE.
func nameHash(name string) uint32 {
	h := uint32(seaHash([]byte(name)))
	if h == 0xFFFFFFFF {
		h = 0xFFFFFFFE
	}
	return h
}
