package image

import (
	"encoding/binary"
	"fmt"
	"io"
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
