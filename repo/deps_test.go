package repo

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/redox-cook/cook/pkgar"
)

// buildELF compiles, with the host gcc, a shared library libfoo.so.1 into
// libStage/usr/lib and a program linking it into progStage/usr/bin.
func buildELF(t *testing.T, libStage, progStage string) {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed")
	}
	src := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	libC := write("foo.c", "int foo(int x) { return x * 2; }\n")
	progC := write("prog.c", "int foo(int);\nint main(void) { return foo(21) == 42 ? 0 : 1; }\n")
	libDir := filepath.Join(libStage, "usr", "lib")
	binDir := filepath.Join(progStage, "usr", "bin")
	for _, d := range []string{libDir, binDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(gcc, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	run("-shared", "-fPIC", "-Wl,-soname,libfoo.so.1", "-o", filepath.Join(libDir, "libfoo.so.1"), libC)
	if err := os.Symlink("libfoo.so.1", filepath.Join(libDir, "libfoo.so")); err != nil {
		t.Fatal(err)
	}
	run("-o", filepath.Join(binDir, "prog"), progC, "-L"+libDir, "-lfoo")
	// The program really runs against the staged library.
	cmd := exec.Command(filepath.Join(binDir, "prog"))
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+libDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("prog: %v\n%s", err, out)
	}
	// Non-ELF and not-dynamic files are skipped.
	if err := os.WriteFile(filepath.Join(binDir, "script"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(binDir, "fake"), []byte("\x7fELF garbage"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestAutoDeps(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	libStage := filepath.Join(dir, "foo", "stage")
	progStage := filepath.Join(dir, "prog", "stage")
	buildELF(t, libStage, progStage)
	key, err := pkgar.NewSecretKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	fooPkg := filepath.Join(dir, "foo", "stage.pkgar")
	if _, err := pkgar.Create(ctx, fooPkg, libStage, key); err != nil {
		t.Fatal(err)
	}
	otherStage := filepath.Join(dir, "other", "stage")
	if err := os.MkdirAll(filepath.Join(otherStage, "usr", "lib", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// libfoo.so.1 in a subdirectory of usr/lib does not count.
	if err := os.WriteFile(filepath.Join(otherStage, "usr", "lib", "sub", "libfoo.so.1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	needed, err := NeededLibraries(ctx, progStage)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"libc.so.6", "libfoo.so.1"}, needed); diff != "" {
		t.Errorf("NeededLibraries (-want +got):\n%s", diff)
	}

	tests := []struct {
		name     string
		in       AutoDepsInput
		want     []string
		provided map[string][]string
	}{
		{
			name:     "provider archive",
			in:       AutoDepsInput{Stages: []string{progStage}, Providers: []Provider{{Name: "foo", Pkgar: fooPkg}, {Name: "other", Stage: otherStage}}, Key: key.Public()},
			want:     []string{"foo"},
			provided: map[string][]string{"foo": {"libfoo.so.1"}},
		},
		{
			name:     "provider stage",
			in:       AutoDepsInput{Stages: []string{progStage}, Providers: []Provider{{Name: "foo", Stage: libStage}}},
			want:     []string{"foo"},
			provided: map[string][]string{"foo": {"libfoo.so.1"}},
		},
		{
			name: "no provider",
			in:   AutoDepsInput{Stages: []string{progStage}, Providers: []Provider{{Name: "other", Stage: otherStage}}},
			want: []string{},
		},
		{
			name: "static direct dependency adds its runtime closure",
			in: AutoDepsInput{
				Stages:    []string{progStage},
				Providers: []Provider{{Name: "foo", Pkgar: fooPkg}, {Name: "zlib", Stage: otherStage}},
				Key:       key.Public(),
				Direct:    []string{"foo", "zlib"},
				StaticRuntime: map[string][]string{
					"foo":  {"never-added"},
					"zlib": {"zlib-data", "terminfo"},
				},
			},
			want:     []string{"foo", "terminfo", "zlib-data"},
			provided: map[string][]string{"foo": {"libfoo.so.1"}},
		},
		{
			name: "library package itself needs only libc",
			in:   AutoDepsInput{Stages: []string{libStage}, Providers: []Provider{{Name: "foo", Stage: libStage}}},
			want: []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := AutoDeps(ctx, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, res.Packages); diff != "" {
				t.Errorf("packages (-want +got):\n%s", diff)
			}
			if tc.provided == nil {
				tc.provided = map[string][]string{}
			}
			if diff := cmp.Diff(tc.provided, res.Provided); diff != "" {
				t.Errorf("provided (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("provider archive signed by another key", func(t *testing.T) {
		other, _ := pkgar.GenerateSecretKey()
		_, err := AutoDeps(ctx, AutoDepsInput{Stages: []string{progStage}, Providers: []Provider{{Name: "foo", Pkgar: fooPkg}}, Key: other.Public()})
		if err == nil {
			t.Error("no error for a provider signed by an untrusted key")
		}
	})
}

// TestNeededOfHugeSection: a built file whose section header gives .dynstr
// 8 GiB (the file sparse, so it costs its maker nothing) is skipped as a
// malformed ELF, quickly and without reading the 8 GiB debug/elf would.
func TestNeededOfHugeSection(t *testing.T) {
	stage := t.TempDir()
	buildELF(t, stage, stage)
	prog := filepath.Join(stage, "usr/bin/prog")
	if libs, err := neededOf(prog); err != nil || !slices.Contains(libs, "libfoo.so.1") {
		t.Fatalf("neededOf(prog) = %v, %v", libs, err)
	}
	data, err := os.ReadFile(prog)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	idx := slices.IndexFunc(ef.Sections, func(s *elf.Section) bool { return s.Name == ".dynstr" })
	if ef.Class != elf.ELFCLASS64 || ef.ByteOrder != binary.LittleEndian || idx < 0 {
		t.Skip("the host's gcc does not make a little-endian ELF64 with .dynstr")
	}
	const huge = 8 << 30
	header := binary.LittleEndian.Uint64(data[0x28:]) + uint64(idx)*uint64(binary.LittleEndian.Uint16(data[0x3a:]))
	binary.LittleEndian.PutUint64(data[header+0x20:], huge) // sh_size
	evil := filepath.Join(t.TempDir(), "evil")
	if err := os.WriteFile(evil, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(evil, huge+int64(len(data))); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		libs, err := neededOf(evil)
		if err == nil && libs != nil {
			err = fmt.Errorf("libraries %v", libs)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("neededOf(evil): %v, want it skipped", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("neededOf(evil) still reading after 10 s")
	}
}
