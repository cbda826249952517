package fetch

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzExtract unpacks arbitrary bytes as an archive (the seeds: tar.gz,
// plain tar, zip): never a panic, and nothing lands outside the
// destination, whatever the entries say.
func FuzzExtract(f *testing.F) {
	f.Add(makeTarGz(f, tarEntry{name: "t/", typ: tar.TypeDir}, tarEntry{name: "t/a", body: "a"},
		tarEntry{name: "t/l", typ: tar.TypeSymlink, link: "a"}, tarEntry{name: "t/h", typ: tar.TypeLink, link: "t/a"}))
	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	tw.WriteHeader(&tar.Header{Name: "t/f", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	f.Add(plain.Bytes())
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	w, _ := zw.Create("t/f")
	w.Write([]byte("x"))
	zw.Close()
	f.Add(z.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		archive := filepath.Join(base, "a")
		if err := os.WriteFile(archive, data, 0o644); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(base, "out", "src")
		os.Mkdir(filepath.Join(base, "out"), 0o755)
		Extract(context.Background(), archive, dest, WithExtractLimit(1<<20))
		for _, dir := range []string{base, filepath.Join(base, "out")} {
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if n := e.Name(); n != "a" && n != "out" && n != "src" {
					t.Fatalf("%s was written beside the destination", filepath.Join(dir, n))
				}
			}
		}
	})
}
