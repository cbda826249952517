package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestTreeRefusesSparse: a stage archive from a remote cache whose entry is
// a PAX sparse file — 3.5 KiB declaring a TiB, which archive/tar would
// read back as a TiB of zeros — is refused before anything is written.
func TestTreeRefusesSparse(t *testing.T) {
	block := func(name string, typ byte, size int) []byte {
		b := make([]byte, 512)
		copy(b, name)
		copy(b[100:], "0000644\x00")
		copy(b[124:], fmt.Sprintf("%011o\x00", size))
		copy(b[136:], "00000000000\x00")
		b[156] = typ
		copy(b[257:], "ustar\x0000")
		copy(b[148:], "        ")
		sum := 0
		for _, c := range b {
			sum += int(c)
		}
		copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
		return b
	}
	pad := func(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }
	var recs string
	for _, kv := range []string{"GNU.sparse.major=1", "GNU.sparse.minor=0", "GNU.sparse.name=big", "GNU.sparse.realsize=1099511627776"} {
		line := " " + kv + "\n"
		rec := fmt.Sprintf("%d%s", len(line)+2, line) // every record here is 10 to 99 bytes long
		recs += rec
	}
	var buf bytes.Buffer
	buf.Write(block("PaxHeaders/big", tar.TypeXHeader, len(recs)))
	buf.Write(pad([]byte(recs)))
	buf.Write(block("big", tar.TypeReg, 513))
	buf.Write(pad(append(pad([]byte("1\n1099511627775\n1\n")), 'x'))) // the map: one byte of data at the end
	buf.Write(make([]byte, 1024))

	// the archive is what the test says: archive/tar reads a TiB from it
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	if h, err := tr.Next(); err != nil || h.Size != 1<<40 {
		t.Fatalf("crafted archive: %v, %v", h, err)
	}
	dst := t.TempDir()
	err := readTree(bytes.NewReader(buf.Bytes()), dst)
	if err == nil || !strings.Contains(err.Error(), "sparse") {
		t.Errorf("readTree = %v, want the sparse entry refused", err)
	}
	if _, err := os.Lstat(filepath.Join(dst, "big")); err == nil {
		t.Error("the sparse entry was written")
	}
}
