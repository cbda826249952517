package redoxfs

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"testing"
)

var fuzzImage = sync.OnceValue(func() []byte {
	tree := NewTree()
	tree.Add(Entry{Path: "etc/hostname", Mode: 0o644, Open: BytesOpener([]byte("redox\n"))})
	tree.Add(Entry{Path: "bin", Mode: fs.ModeSymlink | 0o777, Target: "usr/bin"})
	tree.Add(Entry{Path: "usr/bin/tool", Mode: 0o755, Open: gen{seed: 1, size: 300000}.open})
	tree.Add(Entry{Path: "usr/lib/sparse", Mode: 0o644, Open: gen{seed: 2, size: 3 * recSize, zero: func(r int64) bool { return r == 1 }}.open})
	for i := range 300 {
		tree.Add(Entry{Path: "big/" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "-entry", Mode: 0o644})
	}
	f, err := os.CreateTemp("", "redoxfs-fuzz")
	if err != nil {
		panic(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := Build(context.Background(), f, tree, Options{Size: 4 << 20, Time: epoch}); err != nil {
		panic(err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		panic(err)
	}
	return b
})

// FuzzReader damages a small image at one place and reads it all: the
// reader may fail, but must not panic or hang.
func FuzzReader(f *testing.F) {
	f.Add(uint32(0), []byte{1})
	f.Add(uint32(256*BlockSize), []byte{0xff, 0xff})
	f.Add(uint32(257*BlockSize+66), []byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, at uint32, patch []byte) {
		img := bytes.Clone(fuzzImage())
		if int(at) >= len(img) {
			at %= uint32(len(img))
		}
		copy(img[at:], patch)
		fsys, err := Open(bytes.NewReader(img), 0)
		if err != nil {
			return
		}
		// Half the time, let the damage past the hash checks so that it
		// reaches the parsers behind them.
		fsys.skipHash = at%2 == 0
		fsys.Check(context.Background())
		// Not fs.WalkDir: a damaged directory may contain itself.
		seen := map[uint32]bool{}
		var walk func(p string)
		walk = func(p string) {
			ents, err := fsys.ReadDir(p)
			if err != nil {
				return
			}
			for _, e := range ents {
				name := path.Join(p, e.Name())
				fi, err := e.Info()
				if err != nil {
					continue
				}
				ino := fi.Sys().(*Stat).Inode
				if seen[ino] {
					continue
				}
				seen[ino] = true
				if e.IsDir() {
					walk(name)
					continue
				}
				// Not fs.ReadFile: a damaged size may be huge.
				if f, err := fsys.Open(name); err == nil {
					io.Copy(io.Discard, io.LimitReader(f, 8<<20))
					f.Close()
				}
			}
		}
		walk(".")
		// Walk and List must stay bounded too (each node once).
		n := 0
		fsys.Walk(context.Background(), ".", func(e EntryInfo) error {
			if n++; n > 100000 {
				t.Fatalf("Walk met %d entries in a 4 MiB image", n)
			}
			return nil
		}, nil)
		fsys.List("big")
	})
}
