package fsutil

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteFileAtomic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "f")
	if err := WriteFileAtomic(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "two" || st.Mode().Perm() != 0o640 {
		t.Fatalf("%q %v", b, st.Mode())
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*")); len(m) != 0 {
		t.Errorf("temporaries left: %v", m)
	}
}

func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	data := append(bytes.Repeat([]byte{0}, 3<<20), []byte("tail")...)
	os.WriteFile(src, data, 0o755)
	dst := filepath.Join(dir, "dst")
	if err := CopyFile(src, dst, 0); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	st, _ := os.Stat(dst)
	if !bytes.Equal(got, data) || st.Mode().Perm() != 0o755 {
		t.Fatalf("copy differs (%d bytes, %v)", len(got), st.Mode())
	}
	// never through what is at dst already, a symlink least of all
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(victim, link)
	if err := CopyFile(src, link, 0o644); err == nil {
		t.Fatal("copied over an existing path")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatal("wrote through a symlink")
	}
}

func TestModes(t *testing.T) {
	for _, u := range []uint32{0o644, 0o4755, 0o2750, 0o1777, 0o444} {
		if got := UnixFromMode(ModeFromUnix(u)); got != u {
			t.Errorf("%o → %v → %o", u, ModeFromUnix(u), got)
		}
	}
	if ModeFromUnix(0o4755) != fs.ModeSetuid|0o755 {
		t.Error("setuid")
	}
}

func TestTail(t *testing.T) {
	tl := NewTail(3, 1<<10)
	for i := 0; i < 10; i++ {
		tl.Write([]byte("line " + strings.Repeat("x", i) + "\n"))
	}
	s := tl.String()
	if !strings.HasPrefix(s, "… (7 more lines above)") || !strings.HasSuffix(s, "line xxxxxxxxx") {
		t.Errorf("%q", s)
	}
}

// TestWriteAtomic: a write that fails leaves the old file as it was and no
// temporary file beside it; one that succeeds replaces it with perm.
func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	os.WriteFile(p, []byte("old"), 0o600)
	boom := errors.New("boom")
	err := WriteAtomic(p, 0o644, func(f *os.File) error {
		f.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WriteAtomic = %v, want the write's error", err)
	}
	if data, _ := os.ReadFile(p); string(data) != "old" {
		t.Errorf("after a failed write the file holds %q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left beside it: %v", entries)
	}
	if err := WriteAtomic(p, 0o644, func(f *os.File) error { _, err := f.Write([]byte("new")); return err }); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if data, _ := os.ReadFile(p); string(data) != "new" || st.Mode().Perm() != 0o644 {
		t.Errorf("after a write: %q, mode %v", data, st.Mode())
	}
}

// TestHashTreeCancel: hashing a recipe tree that holds a huge (sparse)
// file stops soon after ctx ends, not when the file is read to its end.
func TestHashTreeCancel(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(big, 1<<40)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := HashTree(ctx, dir, nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("HashTree = %v after %v, want the deadline within a second or so", err, time.Since(start))
	}
}
