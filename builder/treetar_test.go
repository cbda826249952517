package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/redox-cook/cook/internal/fsutil"
)

func TestTreeRoundTrip(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "usr/bin"), 0o755)
	os.MkdirAll(filepath.Join(src, "ro"), 0o755)
	os.WriteFile(filepath.Join(src, "usr/bin/tool"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(src, "ro/file"), []byte("x"), 0o444)
	os.Chmod(filepath.Join(src, "ro"), 0o555)
	defer os.Chmod(filepath.Join(src, "ro"), 0o755)
	os.Symlink("bin/tool", filepath.Join(src, "usr/link"))
	os.Symlink("/nonexistent/abs", filepath.Join(src, "dangling"))
	var buf bytes.Buffer
	if err := writeTree(context.Background(), &buf, src); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	writeTree(context.Background(), &again, src)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("the same tree gave different archives")
	}
	dst := filepath.Join(t.TempDir(), "out")
	os.Mkdir(dst, 0o700)
	if err := readTree(bytes.NewReader(buf.Bytes()), dst); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(filepath.Join(dst, "ro"), 0o755)
	ctx := context.Background()
	want, _ := fsutil.HashTree(ctx, src, nil)
	got, _ := fsutil.HashTree(ctx, dst, nil)
	if want != got {
		t.Fatal("restored tree differs")
	}
	st, _ := os.Stat(filepath.Join(dst, "usr/bin/tool"))
	st0, _ := os.Stat(filepath.Join(src, "usr/bin/tool"))
	if !st.ModTime().Equal(st0.ModTime()) {
		t.Errorf("mtime %v, want %v", st.ModTime(), st0.ModTime())
	}
}

func TestTreeRefusesEscapes(t *testing.T) {
	for name, entries := range map[string][]tar.Header{
		"dotdot":  {{Name: "../evil", Typeflag: tar.TypeReg}},
		"abs":     {{Name: "/etc/evil", Typeflag: tar.TypeReg}},
		"symlink": {{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/tmp"}, {Name: "l/evil", Typeflag: tar.TypeReg}},
		"device":  {{Name: "dev", Typeflag: tar.TypeChar}},
		"dup":     {{Name: "a", Typeflag: tar.TypeReg}, {Name: "a", Typeflag: tar.TypeReg}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			h.Mode = 0o644
			tw.WriteHeader(&h)
		}
		tw.Close()
		dst := t.TempDir()
		if err := readTree(&buf, dst); err == nil {
			t.Errorf("%s: extracted", name)
		}
	}
}
