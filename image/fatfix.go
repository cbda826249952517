package image

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// espFAT is the FAT file system go-diskfs wrote for the ESP, as the
// fix-ups below need it: its boot sector's geometry and its first FAT.
type espFAT struct {
	rw interface {
		io.ReaderAt
		io.WriterAt
	}
	off         int64 // the file system's first byte in rw
	bits        int   // 12, 16 or 32: FAT12, FAT16 or FAT32
	bps         int64 // bytes per sector
	perCluster  int64 // sectors per cluster
	reserved    int64 // sectors before the first FAT
	nfats       int64
	fatSectors  int64 // sectors per FAT
	rootEntries int64 // FAT12/16: entries of the fixed root directory
	rootCluster int64 // FAT32: the root directory's first cluster
	fat         []byte
}

// readESPFAT reads the boot sector and the first FAT of the file system
// at off; it returns nil when that is not a FAT go-diskfs made.
func readESPFAT(rw interface {
	io.ReaderAt
	io.WriterAt
}, off int64) (*espFAT, error) {
	bpb := make([]byte, 512)
	if _, err := rw.ReadAt(bpb, off); err != nil {
		return nil, fmt.Errorf("ESP boot sector: %w", err)
	}
	le := binary.LittleEndian
	v := &espFAT{rw: rw, off: off,
		bps:         int64(le.Uint16(bpb[11:])),
		perCluster:  int64(bpb[13]),
		reserved:    int64(le.Uint16(bpb[14:])),
		nfats:       int64(bpb[16]),
		rootEntries: int64(le.Uint16(bpb[17:])),
		fatSectors:  int64(le.Uint16(bpb[22:])),
	}
	switch {
	case string(bpb[54:59]) == "FAT12":
		v.bits = 12
	case string(bpb[54:59]) == "FAT16":
		v.bits = 16
	case string(bpb[82:87]) == "FAT32" && v.fatSectors == 0:
		v.bits = 32
		v.fatSectors = int64(le.Uint32(bpb[36:]))
		v.rootCluster = int64(le.Uint32(bpb[44:]))
	}
	if v.bits == 0 || v.bps != 512 || v.perCluster == 0 || v.fatSectors == 0 || v.nfats == 0 {
		return nil, nil
	}
	v.fat = make([]byte, v.fatSectors*v.bps)
	if _, err := rw.ReadAt(v.fat, off+v.reserved*v.bps); err != nil {
		return nil, fmt.Errorf("ESP FAT: %w", err)
	}
	return v, nil
}

// clusters is how many entries the FAT holds.
func (v *espFAT) clusters() int64 { return int64(len(v.fat)) * 8 / int64(v.bits) }

// endOfChain is the smallest entry value that ends a cluster chain.
func (v *espFAT) endOfChain() int64 {
	switch v.bits {
	case 12:
		return 0xff8
	case 16:
		return 0xfff8
	}
	return 0x0ffffff8
}

// entry returns the FAT's entry for cluster n, -1 past the table.
func (v *espFAT) entry(n int64) int64 {
	fat := v.fat
	switch v.bits {
	case 16:
		if 2*n+1 >= int64(len(fat)) {
			return -1
		}
		return int64(binary.LittleEndian.Uint16(fat[2*n:]))
	case 32:
		if 4*n+3 >= int64(len(fat)) {
			return -1
		}
		return int64(binary.LittleEndian.Uint32(fat[4*n:]) & 0x0fffffff)
	}
	o := n * 3 / 2
	if o+1 >= int64(len(fat)) {
		return -1
	}
	if n%2 == 0 {
		return int64(fat[o]) | int64(fat[o+1]&0x0f)<<8
	}
	return int64(fat[o]>>4) | int64(fat[o+1])<<4
}

// setEntry sets the entry for cluster n (within the table) in memory.
func (v *espFAT) setEntry(n, val int64) {
	fat := v.fat
	switch v.bits {
	case 16:
		binary.LittleEndian.PutUint16(fat[2*n:], uint16(val))
		return
	case 32: // the top four bits are reserved: kept
		old := binary.LittleEndian.Uint32(fat[4*n:])
		binary.LittleEndian.PutUint32(fat[4*n:], old&0xf0000000|uint32(val)&0x0fffffff)
		return
	}
	o := n * 3 / 2
	if n%2 == 0 {
		fat[o] = byte(val)
		fat[o+1] = fat[o+1]&0xf0 | byte(val>>8)&0x0f
	} else {
		fat[o] = fat[o]&0x0f | byte(val<<4)
		fat[o+1] = byte(val >> 4)
	}
}

// writeFATs writes the FAT held in memory to every FAT copy.
func (v *espFAT) writeFATs() error {
	for i := int64(0); i < v.nfats; i++ {
		if _, err := v.rw.WriteAt(v.fat, v.off+(v.reserved+i*v.fatSectors)*v.bps); err != nil {
			return fmt.Errorf("ESP FAT: %w", err)
		}
	}
	return nil
}

// freeStrayRootCluster undoes a quirk of go-diskfs's FAT12/FAT16
// formatter: it marks cluster 2 allocated as if it held the root directory,
// which on FAT12/16 lives in its own fixed region. fsck.fat reports that
// cluster as lost. When no chain uses it, it is freed in every FAT copy.
// (On FAT32 the root directory is a cluster chain, from cluster 2.)
func (v *espFAT) freeStrayRootCluster() error {
	if v.bits == 32 || v.entry(2) < v.endOfChain() {
		return nil
	}
	for n := int64(3); n < v.clusters(); n++ {
		if v.entry(n) == 2 {
			return nil
		}
	}
	v.setEntry(2, 0)
	return v.writeFATs()
}

// stampTimes sets the creation, access and modification times of every
// directory entry to t, as go-diskfs encodes them. go-diskfs stamps the
// entries it makes itself (the volume label, "." and "..") with
// SOURCE_DATE_EPOCH from the environment or the wall clock; this makes the
// image's bytes depend on t alone.
func (v *espFAT) stampTimes(t time.Time) error {
	rootStart := v.off + (v.reserved+v.nfats*v.fatSectors)*v.bps
	dataStart := rootStart + (v.rootEntries*32+v.bps-1)/v.bps*v.bps
	clusterBytes := v.perCluster * v.bps
	year, month, day := t.Date()
	date := uint16((year-1980)<<9 + int(month)<<5 + day)
	tod := uint16(t.Hour()<<11 + t.Minute()<<5 + t.Second()/2)

	// stamp rewrites the entries of one directory region, and returns the
	// first clusters of its subdirectories.
	stamp := func(at, size int64) ([]int64, error) {
		buf := make([]byte, size)
		if _, err := v.rw.ReadAt(buf, at); err != nil {
			return nil, fmt.Errorf("ESP directory: %w", err)
		}
		var subdirs []int64
		for i := int64(0); i+32 <= size; i += 32 {
			e := buf[i : i+32]
			if e[0] == 0 {
				break
			}
			if e[0] == 0xe5 || e[11] == 0x0f { // deleted, long-name slot
				continue
			}
			binary.LittleEndian.PutUint16(e[14:], tod)
			binary.LittleEndian.PutUint16(e[16:], date)
			binary.LittleEndian.PutUint16(e[18:], date)
			binary.LittleEndian.PutUint16(e[22:], tod)
			binary.LittleEndian.PutUint16(e[24:], date)
			if e[11]&0x10 != 0 && e[0] != '.' {
				c := int64(binary.LittleEndian.Uint16(e[26:]))
				if v.bits == 32 {
					c |= int64(binary.LittleEndian.Uint16(e[20:])) << 16
				}
				subdirs = append(subdirs, c)
			}
		}
		if _, err := v.rw.WriteAt(buf, at); err != nil {
			return nil, fmt.Errorf("ESP directory: %w", err)
		}
		return subdirs, nil
	}
	todo := []int64{v.rootCluster} // FAT32: the root is a chain
	if v.bits != 32 {
		var err error
		if todo, err = stamp(rootStart, v.rootEntries*32); err != nil {
			return err
		}
	}
	seen := map[int64]bool{}
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		for c >= 2 && c < v.endOfChain() && !seen[c] { // a chain, each cluster once
			seen[c] = true
			more, err := stamp(dataStart+(c-2)*clusterBytes, clusterBytes)
			if err != nil {
				return err
			}
			todo = append(todo, more...)
			c = v.entry(c)
		}
	}
	return nil
}
