package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/internal/golden"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/workdir"
)

const target = "x86_64-unknown-redox"

// fixedKeys puts a key pair made from a fixed seed in the work directory.
func fixedKeys(t *testing.T, w workdir.Dir) *pkgar.SecretKey {
	t.Helper()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(0xa0 + i)
	}
	k, err := pkgar.NewSecretKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	data, err := pkgar.MarshalSecretKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(w.Keys(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.Keys(), pkgar.SecretKeyFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := pkgar.EnsureKeys(w.Keys())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func stageFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for p, data := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(data, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// dump renders every file under root (relative path and contents),
// skipping the key directory's secret key, for golden comparison.
func dump(t *testing.T, root string, only ...string) string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() || !strings.HasSuffix(rel, ".toml") || strings.HasSuffix(rel, pkgar.SecretKeyFile) {
			return nil
		}
		for _, o := range only {
			if strings.HasPrefix(rel, o) {
				paths = append(paths, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "== %s\n%s", filepath.ToSlash(p), data)
	}
	return b.String()
}

// buildWork packages three recipes: libfoo (a library with a dev optional
// package), app (depending on libfoo at runtime through auto-deps and on
// data explicitly) and meta (a metapackage).
func buildWork(t *testing.T) (workdir.Dir, *pkgar.SecretKey) {
	t.Helper()
	ctx := context.Background()
	w := workdir.New(t.TempDir())
	key := fixedKeys(t, w)
	src := &fetch.Info{SourceIdentifier: "0123abcd", CommitIdentifier: "feedbeef", TimeIdentifier: "2026-01-02T03:04:05Z", PatchIdentifier: "99"}

	stageFiles(t, w.Stage("libfoo", target, ""), map[string]string{"usr/lib/libfoo.so.1": "not really ELF", "usr/share/doc/foo": "docs"})
	stageFiles(t, w.Stage("libfoo", target, "dev"), map[string]string{"usr/include/foo.h": "int foo(int);\n", "usr/lib/libfoo.so": "->libfoo.so.1"})
	res, err := PackageRecipe(ctx, Packaging{
		Work: w, Recipe: "libfoo", Target: target, Version: "1.2.3", Source: src, Key: key,
		Depends:  []string{"libfoo-data"},
		Optional: []Optional{{Name: "dev", Depends: []string{".doc", "zlib"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Packages) != 2 || res.Packages[0].Name != "libfoo.dev" || res.Packages[1].Name != "libfoo" {
		t.Fatalf("packages %+v", res.Packages)
	}

	stageFiles(t, w.Stage("app", target, ""), map[string]string{"usr/bin/app": "#!/bin/sh\n"})
	_, err = PackageRecipe(ctx, Packaging{
		Work: w, Recipe: "app", Target: target, Version: "TODO", Source: src, Key: key,
		Depends:       []string{"data", "libfoo"},
		AutoDeps:      []string{"libfoo", "zlib"}, // as detection would have found
		Compress:      true,
		StaticRuntime: map[string][]string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PackageRecipe(ctx, Packaging{Work: w, Recipe: "meta", Target: target, Meta: true, Depends: []string{"app", "app"}}); err != nil {
		t.Fatal(err)
	}
	return w, key
}

func TestPackageRecipe(t *testing.T) {
	w, key := buildWork(t)
	golden.Check(t, "testdata/stage.golden", dump(t, w.Root, "recipes"))
	for _, c := range []struct{ recipe, opt string }{{"libfoo", ""}, {"libfoo", "dev"}, {"app", ""}} {
		f, err := pkgar.Open(w.Pkgar(c.recipe, target, c.opt), key.Public())
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Verify(context.Background()); err != nil {
			t.Error(err)
		}
		f.Close()
	}
	if _, err := os.Stat(w.Pkgar("meta", target, "")); err == nil {
		t.Error("a meta package got an archive")
	}
	for _, c := range []struct {
		recipe string
		opts   []string
		meta   bool
		want   bool
	}{
		{"libfoo", []string{"dev"}, false, true},
		{"libfoo", []string{"dev", "doc"}, false, false},
		{"app", nil, false, true},
		{"meta", nil, true, true},
		{"meta", nil, false, false},
		{"none", nil, false, false},
	} {
		if got := Packaged(w, c.recipe, target, c.opts, c.meta); got != c.want {
			t.Errorf("Packaged(%s, %v, meta=%v) = %v, want %v", c.recipe, c.opts, c.meta, got, c.want)
		}
	}
}

func TestPackageRecipeDetectsDeps(t *testing.T) {
	ctx := context.Background()
	w := workdir.New(t.TempDir())
	key := fixedKeys(t, w)
	buildELF(t, w.Stage("foo", target, ""), w.Stage("prog", target, ""))
	if _, err := PackageRecipe(ctx, Packaging{Work: w, Recipe: "foo", Target: target, Version: "1", Key: key}); err != nil {
		t.Fatal(err)
	}
	res, err := PackageRecipe(ctx, Packaging{
		Work: w, Recipe: "prog", Target: target, Version: "1", Key: key,
		Depends:   []string{"extra"},
		Providers: []Provider{{Name: "foo", Pkgar: w.Pkgar("foo", target, "")}},
		Direct:    []string{"foo"},
	})
	if err != nil {
		t.Fatal(err)
	}
	auto, err := ReadAutoDeps(w.AutoDeps("prog", target))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"foo"}, auto); diff != "" {
		t.Errorf("auto_deps.toml (-want +got):\n%s", diff)
	}
	p, err := ReadPackage(w.StageToml("prog", target, ""))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"extra", "foo"}, p.Depends); diff != "" {
		t.Errorf("stage.toml depends (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"libc.so.6"}, res.AutoDeps.Missing); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
}

func TestPackageRecipeRefuses(t *testing.T) {
	w := workdir.New(t.TempDir())
	key := fixedKeys(t, w)
	tests := []struct {
		name string
		b    Packaging
		msg  string
	}{
		{"no stage", Packaging{Work: w, Recipe: "x", Target: target, Key: key}, "no stage directory"},
		{"no key", Packaging{Work: w, Recipe: "x", Target: target}, "no signing key"},
		{"bad name", Packaging{Work: w, Recipe: "a.b", Target: target, Key: key}, "not valid"},
		{"bad optional", Packaging{Work: w, Recipe: "x", Target: target, Key: key, Optional: []Optional{{Name: "a/b"}}}, "optional package name"},
	}
	for _, tc := range tests {
		_, err := PackageRecipe(context.Background(), tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want an error saying %q", tc.name, err, tc.msg)
		}
	}
}

func TestPublish(t *testing.T) {
	ctx := context.Background()
	w, key := buildWork(t)
	if err := os.MkdirAll(w.Recipe("data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.SourceInfo("data"), []byte("source_identifier = \"dada\"\ntime_identifier = \"2025-12-13T05:33:07Z\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Publish(ctx, w, target, []string{"meta", "libfoo.dev", "host:tool"}, WithBuildID("cafe"))
	if err != nil {
		t.Fatal(err)
	}
	want := &PublishResult{
		Dir:       w.Repo(target),
		Published: []string{"app", "libfoo", "libfoo.dev", "meta"},
		Outdated:  []string{"data", "libfoo-data", "libfoo.doc", "zlib"},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("first publish (-want +got):\n%s", diff)
	}
	golden.Check(t, "testdata/repo.golden", dump(t, w.Root, "repo"))
	pub, err := pkgar.LoadPublicKey(filepath.Join(w.Root, "repo", pkgar.PublicKeyFile))
	if err != nil || pub != key.Public() {
		t.Errorf("published key %v, %v", pub, err)
	}
	for _, n := range want.Published[:3] {
		f, err := pkgar.Open(filepath.Join(w.Repo(target), n+".pkgar"), pub)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Verify(ctx); err != nil {
			t.Error(err)
		}
		f.Close()
	}

	// Again: nothing changes; the outdated identities are kept.
	if err := os.WriteFile(w.SourceInfo("data"), []byte("source_identifier = \"newer\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = Publish(ctx, w, target, []string{"meta", "libfoo.dev"}, WithBuildID("cafe"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Published) != 0 || len(res.Unchanged) != 4 {
		t.Errorf("second publish: %+v", res)
	}
	golden.Check(t, "testdata/repo.golden", dump(t, w.Root, "repo"))

	// A lost public key file is rewritten from the secret key.
	if err := os.Remove(filepath.Join(w.Keys(), pkgar.PublicKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(ctx, w, target, []string{"meta"}, WithBuildID("cafe")); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/repo.golden", dump(t, w.Root, "repo"))

	// Nothing built.
	if _, err := Publish(ctx, w, target, []string{"nope"}); !errors.Is(err, ErrNothingToPublish) {
		t.Errorf("publishing an unbuilt recipe: %v", err)
	}

	// An archive that does not match its metadata is refused.
	p, err := ReadPackage(w.StageToml("app", target, ""))
	if err != nil {
		t.Fatal(err)
	}
	p.Blake3 = strings.Repeat("0", 64)
	if err := WritePackage(w.StageToml("app", target, ""), p); err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(ctx, w, target, []string{"app"}); err == nil || !strings.Contains(err.Error(), "rebuild it") {
		t.Errorf("mismatched archive: %v", err)
	}

	built, err := Built(w, target)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"app", "libfoo", "libfoo.dev", "meta"}, built); diff != "" {
		t.Errorf("Built (-want +got):\n%s", diff)
	}
}

func TestPackageName(t *testing.T) {
	tests := []struct {
		in, prefix, recipe, opt string
		ok                      bool
	}{
		{"foo", "", "foo", "", true},
		{"foo.dev", "", "foo", "dev", true},
		{"host:foo", "host", "foo", "", true},
		{"target:foo.x", "target", "foo", "x", true},
		{"a.b.c", "", "", "", false},
		{"", "", "", "", false},
		{"a/b", "", "", "", false},
		{".x", "", "", "", false},
		{"other:x", "", "", "", false},
	}
	for _, tc := range tests {
		prefix, recipe, opt, err := PackageName(tc.in)
		if (err == nil) != tc.ok || prefix != tc.prefix || recipe != tc.recipe || opt != tc.opt {
			t.Errorf("PackageName(%q) = %q %q %q %v", tc.in, prefix, recipe, opt, err)
		}
	}
}
