package initfs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/redox-cook/cook/internal/golden"
)

// compact builds a small valid image with no page alignment (the reader
// does not require it): root/{a "hello", d/{b exec "x"}, l -> a}. Small
// inputs let the fuzzer reach every structure quickly.
func compact() []byte {
	b := make([]byte, HeaderSize)
	copy(b, Magic)
	var inodes []Inode
	put := func(p []byte) uint32 { off := uint32(len(b)); b = append(b, p...); return off }
	inode := func(k Kind, data []byte) uint16 {
		inodes = append(inodes, Inode{Kind: k, Length: uint32(len(data)), Offset: put(data)})
		return uint16(len(inodes) - 1)
	}
	dir := func(names []string, inos []uint16) uint16 {
		t := make([]byte, len(names)*DirEntrySize)
		for i, n := range names {
			dirent{inode: inos[i], nameLen: uint16(len(n)), nameOffset: put([]byte(n))}.put(t[i*DirEntrySize:])
		}
		return inode(KindDir, t)
	}
	a := inode(KindFile, []byte("hello"))
	bIno := inode(KindExec, []byte("x"))
	d := dir([]string{"b"}, []uint16{bIno})
	l := inode(KindSymlink, []byte("a"))
	root := dir([]string{"a", "d", "l"}, []uint16{a, d, l})
	table := uint32(len(b))
	for _, in := range inodes {
		ib := make([]byte, InodeSize)
		in.put(ib)
		b = append(b, ib...)
	}
	h := Header{InodeTableOffset: table, InitfsSize: uint64(len(b)), PageSize: PageSize, RootInode: root, InodeCount: uint16(len(inodes)), BootstrapEntry: 0x2080}
	copy(b, h.encode())
	return b
}

// FuzzReader reads an arbitrary image completely: the reader may fail, but
// must not panic, hang or allocate without bound.
func FuzzReader(f *testing.F) {
	f.Add(compact())
	f.Fuzz(func(t *testing.T, img []byte) {
		ctx := context.Background()
		im, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			return
		}
		im.Walk(ctx, func(e Entry) error {
			if e.Kind == KindFile || e.Kind == KindExec {
				if r, err := im.Open(e.Inode); err == nil {
					io.Copy(io.Discard, r)
				}
			}
			return nil
		})
		for _, p := range []string{"a", "d/b", "l", "bin/init"} {
			if n, err := im.Lookup(ctx, p); err == nil {
				im.ReadLink(n)
				im.Open(n)
			}
		}
		for n := range min(int(im.Header.InodeCount), 16) {
			im.ReadDir(ctx, uint16(n))
			im.ReadLink(uint16(n))
		}
	})
}

// TestCompact checks the fuzz seed is a valid image.
func TestCompact(t *testing.T) {
	img := compact()
	im, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := im.Walk(context.Background(), func(e Entry) error {
		got = append(got, fmt.Sprintf("%s %s %d %s", e.Kind, e.Path, e.Size, e.Target))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[file a 5  dir d 8  exec d/b 1  symlink l 1 a]" {
		t.Errorf("walk: %q", got)
	}
}

// TestFuzzSeeds keeps the seed corpus in testdata/fuzz/FuzzReader: a
// compact image, the same with a broken inode table, an image as the writer
// makes it, and an older-layout header. Run with -update to rewrite it.
func TestFuzzSeeds(t *testing.T) {
	real := writeImage(t, makeTree(t, []tfile{{path: "bin/init", data: "init", mode: 0o755}, {path: "etc/x", link: "../bin/init"}}), testBootstrap(t))
	broken := compact()
	copy(broken[offInodeCount:], []byte{0xff, 0x00})
	old := make([]byte, 64)
	copy(old, Magic)
	old[0x22], old[0x2a], old[0x2b] = 64, 0x00, 0x10
	seeds := map[string][]byte{"compact": compact(), "broken-count": broken, "writer": real, "old-layout": old}
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	for name, b := range seeds {
		golden.Check(t, filepath.Join(dir, name), "go test fuzz v1\n[]byte("+strconv.Quote(string(b))+")\n")
	}
}
