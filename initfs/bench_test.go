package initfs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchTree is about what base's initfs holds: a few dozen binaries of a
// few hundred KiB and some small files.
func benchTree(b *testing.B) (string, string, int64) {
	var files []tfile
	var size int64
	for i := range 40 {
		data := strings.Repeat(fmt.Sprintf("binary %d ", i), 30000)
		files = append(files, tfile{path: fmt.Sprintf("bin/b%02d", i), data: data, mode: 0o755})
		files = append(files, tfile{path: fmt.Sprintf("lib/init.d/%02d.service", i), data: "[unit]\n", mode: 0o644})
		size += int64(len(data)) + 7
	}
	return makeTree(b, files), testBootstrap(b), size
}

func BenchmarkWrite(b *testing.B) {
	dir, bs, size := benchTree(b)
	b.SetBytes(size)
	for b.Loop() {
		if _, err := Write(context.Background(), io.Discard, dir, bs, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWalk(b *testing.B) {
	dir, bs, size := benchTree(b)
	img := writeImage(b, dir, bs)
	b.SetBytes(size)
	for b.Loop() {
		im, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			b.Fatal(err)
		}
		err = im.Walk(context.Background(), func(e Entry) error {
			if e.Kind == KindExec || e.Kind == KindFile {
				r, err := im.Open(e.Inode)
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, r)
				return err
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
