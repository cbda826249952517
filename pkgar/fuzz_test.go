package pkgar

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeed is a small package made by the writer from a tree with a file,
// an executable and a symlink.
func fuzzSeed(t testing.TB, p Packaging) []byte {
	stage := t.TempDir()
	writeTree(t, stage, []node{
		{path: "etc/hostname", data: []byte("redox\n")},
		{path: "usr/bin/hello", data: []byte("#!/bin/sh\necho hello\n"), perm: 0o755},
		{path: "bin", target: "usr/bin"},
	})
	var buf seekBuffer
	if _, err := Write(context.Background(), &buf, stage, testKey(t), WithPackaging(p)); err != nil {
		t.Fatal(err)
	}
	return buf.b
}

// FuzzReader reads arbitrary bytes as a package, trusting the test key and
// not trusting anything: opening, listing, reading every entry, verifying
// and (when that passes) extracting may fail, but must not panic, hang,
// allocate what a header declares, or write outside the target directory.
func FuzzReader(f *testing.F) {
	f.Add(fuzzSeed(f, Uncompressed))
	f.Add(fuzzSeed(f, LZMA2))
	key := testKey(f).Public()
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		open := []func() (*Reader, error){
			func() (*Reader, error) {
				return NewReader(bytes.NewReader(b), int64(len(b)), key, WithMaxEntries(1024))
			},
			func() (*Reader, error) {
				return NewUnverifiedReader(bytes.NewReader(b), int64(len(b)), WithMaxEntries(1024))
			},
		}
		for _, mk := range open {
			rd, err := mk()
			if err != nil {
				continue
			}
			rd.StorageSize()
			for i := range rd.Entries {
				e := &rd.Entries[i]
				if e.IsSymlink() {
					rd.ReadLink(e)
					continue
				}
				if r, err := rd.Open(e); err == nil {
					io.Copy(io.Discard, io.LimitReader(r, 1<<20))
				}
			}
			if rd.Verify(ctx) != nil {
				continue
			}
			parent := t.TempDir()
			rd.Extract(ctx, filepath.Join(parent, "root"))
			filepath.Walk(parent, func(p string, _ os.FileInfo, err error) error {
				if p != parent && p != filepath.Join(parent, "root") && !strings.HasPrefix(p, filepath.Join(parent, "root")+"/") {
					t.Errorf("extracted %s outside the root", p)
				}
				return nil
			})
		}
	})
}
