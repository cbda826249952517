package image

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// freeStrayRootCluster undoes a quirk of go-diskfs's FAT12/FAT16
// formatter: it marks cluster 2 allocated as if it held the root directory,
// which on FAT12/16 lives in its own fixed region. fsck.fat reports that
// cluster as lost. When no chain uses it, it is freed in every FAT copy.
func freeStrayRootCluster(rw interface {
	io.ReaderAt
	io.WriterAt
}, off int64) error {
	bpb := make([]byte, 512)
	if _, err := rw.ReadAt(bpb, off); err != nil {
		return fmt.Errorf("ESP boot sector: %w", err)
	}
	bps := int64(binary.LittleEndian.Uint16(bpb[11:]))
	reserved := int64(binary.LittleEndian.Uint16(bpb[14:]))
	nfats := int64(bpb[16])
	fatSectors := int64(binary.LittleEndian.Uint16(bpb[22:]))
	kind := string(bpb[54:59])
	if bps != 512 || fatSectors == 0 || nfats == 0 || (kind != "FAT12" && kind != "FAT16") {
		return nil // not a FAT12/16 go-diskfs made: leave it alone
	}
	fat := make([]byte, fatSectors*bps)
	if _, err := rw.ReadAt(fat, off+reserved*bps); err != nil {
		return fmt.Errorf("ESP FAT: %w", err)
	}
	var get func(n int) int
	var set func(n, v int)
	var count int
	if kind == "FAT12" {
		count = len(fat) * 2 / 3
		get = func(n int) int {
			o := n * 3 / 2
			if n%2 == 0 {
				return int(fat[o]) | int(fat[o+1]&0x0f)<<8
			}
			return int(fat[o]>>4) | int(fat[o+1])<<4
		}
		set = func(n, v int) {
			o := n * 3 / 2
			if n%2 == 0 {
				fat[o] = byte(v)
				fat[o+1] = fat[o+1]&0xf0 | byte(v>>8)&0x0f
			} else {
				fat[o] = fat[o]&0x0f | byte(v<<4)
				fat[o+1] = byte(v >> 4)
			}
		}
	} else {
		count = len(fat) / 2
		get = func(n int) int { return int(binary.LittleEndian.Uint16(fat[2*n:])) }
		set = func(n, v int) { binary.LittleEndian.PutUint16(fat[2*n:], uint16(v)) }
	}
	eoc := 0xff8
	if kind == "FAT16" {
		eoc = 0xfff8
	}
	if get(2) < eoc {
		return nil
	}
	for n := 3; n < count; n++ {
		if get(n) == 2 {
			return nil
		}
	}
	set(2, 0)
	for i := int64(0); i < nfats; i++ {
		if _, err := rw.WriteAt(fat, off+(reserved+i*fatSectors)*bps); err != nil {
			return fmt.Errorf("ESP FAT: %w", err)
		}
	}
	return nil
}

// stampTimes sets the creation, access and modification times of every
// directory entry of the FAT12/16 file system at off to t, as go-diskfs
// encodes them. go-diskfs stamps the entries it makes itself (the volume
// label, "." and "..") with SOURCE_DATE_EPOCH from the environment or the
// wall clock; this makes the image's bytes depend on t alone.
func stampTimes(rw interface {
	io.ReaderAt
	io.WriterAt
}, off int64, t time.Time) error {
	bpb := make([]byte, 512)
	if _, err := rw.ReadAt(bpb, off); err != nil {
		return fmt.Errorf("ESP boot sector: %w", err)
	}
	bps := int64(binary.LittleEndian.Uint16(bpb[11:]))
	perCluster := int64(bpb[13])
	reserved := int64(binary.LittleEndian.Uint16(bpb[14:]))
	nfats := int64(bpb[16])
	rootEntries := int64(binary.LittleEndian.Uint16(bpb[17:]))
	fatSectors := int64(binary.LittleEndian.Uint16(bpb[22:]))
	kind := string(bpb[54:59])
	if bps != 512 || perCluster == 0 || fatSectors == 0 || nfats == 0 || (kind != "FAT12" && kind != "FAT16") {
		return nil // not a FAT12/16 go-diskfs made: leave it alone
	}
	fat := make([]byte, fatSectors*bps)
	if _, err := rw.ReadAt(fat, off+reserved*bps); err != nil {
		return fmt.Errorf("ESP FAT: %w", err)
	}
	next := func(n int64) int64 {
		if kind == "FAT12" {
			o := n * 3 / 2
			if o+1 >= int64(len(fat)) {
				return -1
			}
			if n%2 == 0 {
				return int64(fat[o]) | int64(fat[o+1]&0x0f)<<8
			}
			return int64(fat[o]>>4) | int64(fat[o+1])<<4
		}
		if 2*n+1 >= int64(len(fat)) {
			return -1
		}
		return int64(binary.LittleEndian.Uint16(fat[2*n:]))
	}
	last := int64(0xff8)
	if kind == "FAT16" {
		last = 0xfff8
	}
	rootStart := off + (reserved+nfats*fatSectors)*bps
	dataStart := rootStart + (rootEntries*32+bps-1)/bps*bps
	clusterBytes := perCluster * bps
	year, month, day := t.Date()
	date := uint16((year-1980)<<9 + int(month)<<5 + day)
	tod := uint16(t.Hour()<<11 + t.Minute()<<5 + t.Second()/2)

	// stamp rewrites the entries of one directory region, and returns the
	// first clusters of its subdirectories.
	stamp := func(at, size int64) ([]int64, error) {
		buf := make([]byte, size)
		if _, err := rw.ReadAt(buf, at); err != nil {
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
				subdirs = append(subdirs, int64(binary.LittleEndian.Uint16(e[26:])))
			}
		}
		if _, err := rw.WriteAt(buf, at); err != nil {
			return nil, fmt.Errorf("ESP directory: %w", err)
		}
		return subdirs, nil
	}
	todo, err := stamp(rootStart, rootEntries*32)
	if err != nil {
		return err
	}
	seen := map[int64]bool{}
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		for c >= 2 && c < last && !seen[c] { // a chain, each cluster once
			seen[c] = true
			more, err := stamp(dataStart+(c-2)*clusterBytes, clusterBytes)
			if err != nil {
				return err
			}
			todo = append(todo, more...)
			c = next(c)
		}
	}
	return nil
}
