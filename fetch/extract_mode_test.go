package fetch

import (
	"archive/tar"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeTar writes a tar of entries (in order) to a file.
func writeTar(t *testing.T, entries []*tar.Header, content map[string]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, h := range entries {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(content[h.Name]))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(content[h.Name]))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// TestExtractModesAsTar: modes are the archive's less the umask, as GNU tar
// gives an ordinary user — no write bit added (0444 stays 0444), no setuid —
// directories included (set at the end); symbolic links keep their times.
func TestExtractModesAsTar(t *testing.T) {
	old := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	entries := []*tar.Header{
		{Name: "pkg/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: old},
		{Name: "pkg/ro.txt", Typeflag: tar.TypeReg, Mode: 0o444, ModTime: old},
		{Name: "pkg/exe", Typeflag: tar.TypeReg, Mode: 0o4775, ModTime: old},
		{Name: "pkg/open", Typeflag: tar.TypeReg, Mode: 0o666, ModTime: old},
		{Name: "pkg/locked/", Typeflag: tar.TypeDir, Mode: 0o555, ModTime: old},
		{Name: "pkg/locked/inner.c", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: old},
		{Name: "pkg/link", Typeflag: tar.TypeSymlink, Linkname: "ro.txt", Mode: 0o777, ModTime: old},
	}
	file := writeTar(t, entries, map[string]string{"pkg/ro.txt": "r", "pkg/exe": "x", "pkg/open": "o", "pkg/locked/inner.c": "c"})
	dest := filepath.Join(t.TempDir(), "src")
	if err := Extract(context.Background(), file, dest); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dest, "locked"), 0o755) })
	mask := umask()
	for name, want := range map[string]fs.FileMode{
		"ro.txt": 0o444, "exe": 0o775 &^ mask, "open": 0o666 &^ mask, "locked": 0o555 &^ mask, "locked/inner.c": 0o644 &^ mask,
	} {
		st, err := os.Lstat(filepath.Join(dest, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky); got != want {
			t.Errorf("%s: mode %v, want %v (umask %03o)", name, got, want, mask)
		}
		if !st.ModTime().Equal(old) {
			t.Errorf("%s: mtime %v, want %v", name, st.ModTime(), old)
		}
	}
	st, err := os.Lstat(filepath.Join(dest, "link"))
	if err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link: %v %v", st, err)
	}
	if !st.ModTime().Equal(old) {
		t.Errorf("symbolic link mtime %v, want %v (as tar keeps it)", st.ModTime(), old)
	}
}

// TestPatchReadOnly: a patch rewrites a read-only file in place of its
// extracted mode, and the mode stays; when the process cannot write into the
// directory, it is made writable and a note says so.
func TestPatchReadOnly(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		t.Skip(err)
	}
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "d"), 0o755)
	os.WriteFile(filepath.Join(src, "d/f"), []byte("a\nb\n"), 0o444)
	os.Chmod(filepath.Join(src, "d"), 0o555)
	t.Cleanup(func() { os.Chmod(filepath.Join(src, "d"), 0o755) })
	diff := "--- a/d/f\n+++ b/d/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
	notes, err := applyPatches(context.Background(), src, []string{"/r/fix.patch"}, [][]byte{[]byte(diff)})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(src, "d/f")); got != "a\nc\n" {
		t.Errorf("patched file %q", got)
	}
	st, _ := os.Stat(filepath.Join(src, "d/f"))
	if st.Mode().Perm() != 0o444 {
		t.Errorf("patched file mode %v, want 0444 kept", st.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		if len(notes) != 0 { // root may write anywhere: nothing to say
			t.Errorf("notes as root: %q", notes)
		}
		return
	}
	want := []string{
		"patch fix.patch: directory d is read-only (0555); made it writable for the owner so that the patch can write in it",
		"patch fix.patch: d/f is read-only (0444); patched anyway, its mode kept",
	}
	if !slices.Equal(notes, want) {
		t.Errorf("notes %q, want %q", notes, want)
	}
}

func TestPatchTargets(t *testing.T) {
	diff := strings.Join([]string{
		"diff -ru a/x.c b/x.c",
		"--- a/x.c\t2020-01-01",
		"+++ b/x.c\t2020-01-02",
		"@@ -1,2 +1,2 @@",
		"--- removed line that looks like a header",
		" context",
		"--- /dev/null",
		"+++ b/sub/new.h",
		"*** a/old.c",
		"--- b/old.c",
	}, "\n")
	got := patchTargets([]byte(diff))
	want := []string{"x.c", "x.c", "sub/new.h", "old.c", "old.c"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestPatchReadOnlyDirStaysInside: a patch naming a file through a
// symbolic link out of the source tree (a git checkout may hold any link)
// must not make a read-only directory outside the tree writable.
func TestPatchReadOnlyDirStaysInside(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write anywhere: no directory is made writable")
	}
	src, outside := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(outside, "ro"), 0o755)
	os.WriteFile(filepath.Join(outside, "ro", "f"), []byte("a\n"), 0o644)
	os.Chmod(filepath.Join(outside, "ro"), 0o555)
	t.Cleanup(func() { os.Chmod(filepath.Join(outside, "ro"), 0o755) })
	if err := os.Symlink(outside, filepath.Join(src, "out")); err != nil {
		t.Fatal(err)
	}
	diff := "--- a/out/ro/f\n+++ b/out/ro/f\n@@ -1 +1 @@\n-a\n+b\n"
	notes, _ := applyPatches(context.Background(), src, []string{"/r/evil.patch"}, [][]byte{[]byte(diff)})
	if st, err := os.Stat(filepath.Join(outside, "ro")); err != nil || st.Mode().Perm() != 0o555 {
		t.Errorf("the directory outside the tree: %v, %v (notes %q)", st.Mode().Perm(), err, notes)
	}
}
