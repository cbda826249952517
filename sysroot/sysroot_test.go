package sysroot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func write(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAssemble(t *testing.T) {
	base := t.TempDir()
	a := filepath.Join(base, "a")
	b := filepath.Join(base, "b")
	write(t, filepath.Join(a, "usr/include/a.h"), "a")
	write(t, filepath.Join(a, "usr/lib/libx.a"), "from a")
	write(t, filepath.Join(b, "lib/libx.a"), "from b") // top-level lib/ lands in usr/lib
	write(t, filepath.Join(b, "usr/share/pkgconfig/b.pc"), "pc")
	os.Symlink("libx.a", filepath.Join(b, "lib", "libx-link.a"))

	dir := filepath.Join(base, "sysroot")
	inputs := []Input{{"b", b, "d2"}, {"a", a, "d1"}}
	changed, err := Assemble(context.Background(), dir, inputs)
	if err != nil || !changed {
		t.Fatalf("Assemble = %v, %v", changed, err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "lib", "libx.a"))
	if string(got) != "from b" {
		t.Errorf("libx.a = %q; later input (by name) must win", got)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "usr/lib/libx-link.a")); l != "libx.a" {
		t.Errorf("symlink = %q", l)
	}
	for _, p := range []string{"include/a.h", "share/pkgconfig/b.pc", ".tags/a", ".tags/b"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Error(err)
		}
	}
	// hard links, not copies
	s1, _ := os.Stat(filepath.Join(a, "usr/include/a.h"))
	s2, _ := os.Stat(filepath.Join(dir, "usr/include/a.h"))
	if !os.SameFile(s1, s2) {
		t.Error("files are copied, not hard-linked")
	}
	// the same inputs: nothing to do
	if changed, err := Assemble(context.Background(), dir, inputs); err != nil || changed {
		t.Errorf("second Assemble = %v, %v; want unchanged", changed, err)
	}
	// a changed digest or a dropped input rebuilds it
	if changed, _ := Assemble(context.Background(), dir, []Input{{"a", a, "d1"}}); !changed {
		t.Error("dropping an input did not rebuild")
	}
	if _, err := os.Stat(filepath.Join(dir, "share/pkgconfig/b.pc")); err == nil {
		t.Error("a dropped input's files are still there")
	}
	// a missing stage is an error naming the input, and leaves the old sysroot
	if _, err := Assemble(context.Background(), dir, []Input{{"gone", filepath.Join(base, "nope"), "x"}}); err == nil {
		t.Error("missing stage accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "include/a.h")); err != nil {
		t.Error("failed assembly destroyed the previous sysroot")
	}
}

// BenchmarkAssemble50 assembles a sysroot from 50 dependencies of 40 files
// each (headers, libraries, pkg-config files). Target: under 50 ms.
func BenchmarkAssemble50(b *testing.B) {
	base := b.TempDir()
	var inputs []Input
	for i := range 50 {
		stage := filepath.Join(base, fmt.Sprintf("dep%02d", i))
		for j := range 20 {
			write(b, filepath.Join(stage, fmt.Sprintf("usr/include/dep%02d/h%02d.h", i, j)), "header")
		}
		for j := range 15 {
			write(b, filepath.Join(stage, fmt.Sprintf("usr/lib/libdep%02d_%02d.a", i, j)), "archive")
		}
		for j := range 5 {
			write(b, filepath.Join(stage, fmt.Sprintf("usr/lib/pkgconfig/dep%02d_%d.pc", i, j)), "pc")
		}
		inputs = append(inputs, Input{Name: fmt.Sprintf("dep%02d", i), Stage: stage, Digest: fmt.Sprint(i)})
	}
	dir := filepath.Join(base, "sysroot")
	for b.Loop() {
		inputs[0].Digest += "x" // force a rebuild every time
		if _, err := Assemble(context.Background(), dir, inputs); err != nil {
			b.Fatal(err)
		}
	}
}
