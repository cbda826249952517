package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/repo"
	"github.com/redox-cook/cook/workdir"
)

// builtWork returns a work directory holding one packaged recipe, hello,
// as the build stage leaves it.
func builtWork(t *testing.T) workdir.Dir {
	t.Helper()
	w := workdir.New(t.TempDir())
	key, err := pkgar.EnsureKeys(w.Keys())
	if err != nil {
		t.Fatal(err)
	}
	const T = "x86_64-unknown-redox"
	stage := w.Stage("hello", T, "")
	if err := os.MkdirAll(filepath.Join(stage, "usr", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stage, "usr", "bin", "hello"), []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(stage, "usr", "bin", "hello"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/bin", filepath.Join(stage, "bin")); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.PackageRecipe(context.Background(), repo.Packaging{Work: w, Recipe: "hello", Target: T, Version: "1.0", Key: key, Depends: []string{"missing"}}); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestPkgarCommands(t *testing.T) {
	w := builtWork(t)
	pkg := w.Pkgar("hello", "x86_64-unknown-redox", "")
	work := "--work=" + w.Root

	out, errs, code := cook(t, work, "pkgar", "list", pkg)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasSuffix(lines[0], " bin -> usr/bin") || !strings.HasPrefix(lines[1], "100755") || !strings.HasSuffix(lines[1], " usr/bin/hello") {
		t.Errorf("list: %d %q %q", code, out, errs)
	}
	out, errs, code = cook(t, work, "--json", "pkgar", "verify", pkg)
	var v pkgarVerifyJSON
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || !v.OK || v.Entries != 2 {
		t.Errorf("verify: %d %q %q", code, out, errs)
	}
	dir := filepath.Join(t.TempDir(), "root")
	if _, errs, code = cook(t, work, "pkgar", "extract", pkg, dir); code != 0 {
		t.Errorf("extract: %d %q", code, errs)
	}
	if st, err := os.Stat(filepath.Join(dir, "usr", "bin", "hello")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("extracted file: %v %v", st, err)
	}

	// One flipped data byte: verification fails, naming the file and the entry.
	data, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-2] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.pkgar")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code = cook(t, work, "pkgar", "verify", bad)
	if code != 1 || !strings.Contains(errs, bad) || !strings.Contains(errs, "data of usr/bin/hello") {
		t.Errorf("verify tampered: %d %q", code, errs)
	}
	out, _, code = cook(t, work, "--json", "pkgar", "verify", bad)
	if code != 1 || json.Unmarshal([]byte(out), &v) != nil || v.OK || !strings.Contains(v.Error, "data of usr/bin/hello") {
		t.Errorf("verify --json tampered: %d %q", code, out)
	}
	// A secret key given as --key.
	_, errs, code = cook(t, work, "pkgar", "verify", "--key", filepath.Join(w.Keys(), pkgar.SecretKeyFile), pkg)
	if code != 2 || !strings.Contains(errs, "secret key file") {
		t.Errorf("verify with a secret key file: %d %q", code, errs)
	}
	// A key that did not sign it.
	other := t.TempDir()
	if _, err := pkgar.EnsureKeys(other); err != nil {
		t.Fatal(err)
	}
	_, errs, code = cook(t, work, "pkgar", "verify", "--key", filepath.Join(other, pkgar.PublicKeyFile), pkg)
	if code != 1 || !strings.Contains(errs, "public key") {
		t.Errorf("verify with another key: %d %q", code, errs)
	}
	// Usage errors.
	if _, _, code = cook(t, work, "pkgar", "extract", pkg); code != 2 {
		t.Errorf("extract without DIR: exit %d, want 2", code)
	}
	if _, errs, code = cook(t, "--work="+t.TempDir(), "pkgar", "list", pkg); code != 2 || !strings.Contains(errs, "--key") {
		t.Errorf("no key: %d %q", code, errs)
	}
}

func TestRepoPublishCommand(t *testing.T) {
	w := builtWork(t)
	out, errs, code := cook(t, "--work="+w.Root, "--json", "repo", "publish")
	var res struct {
		Repo                           string
		Published, Unchanged, Outdated []string
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("publish: %d %q %q", code, out, errs)
	}
	if strings.Join(res.Published, ",") != "hello" || strings.Join(res.Outdated, ",") != "missing" {
		t.Errorf("publish result %+v", res)
	}
	for _, p := range []string{"repo/x86_64-unknown-redox/hello.pkgar", "repo/x86_64-unknown-redox/hello.toml", "repo/x86_64-unknown-redox/repo.toml", "repo/id_ed25519.pub.toml"} {
		if _, err := os.Stat(filepath.Join(w.Root, p)); err != nil {
			t.Error(err)
		}
	}
	out, _, code = cook(t, "--work="+w.Root, "repo", "publish", "hello")
	if code != 0 || !strings.Contains(out, "0 published, 1 unchanged") {
		t.Errorf("second publish: %d %q", code, out)
	}
	if _, _, code = cook(t, "--work="+w.Root, "repo", "publish", "a.b.c"); code != 2 {
		t.Errorf("bad name: exit %d, want 2", code)
	}
	if _, errs, code = cook(t, "--work="+t.TempDir(), "repo", "publish"); code != 1 || !strings.Contains(errs, "no packages built") {
		t.Errorf("empty work dir: %d %q", code, errs)
	}
}

// TestPkgarHostile verifies packages that are cut after the entry table,
// carry trailing bytes or are signed by a foreign key, and publishes
// them: each is refused with a clear error.
func TestPkgarHostile(t *testing.T) {
	w := builtWork(t)
	const T = "x86_64-unknown-redox"
	pkg := w.Pkgar("hello", T, "")
	work := "--work=" + w.Root
	data, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := pkgar.OpenUnverified(pkg)
	if err != nil {
		t.Fatal(err)
	}
	headSize := f.Header.HeadSize()
	f.Close()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	cut := write("cut.pkgar", data[:headSize])
	_, errs, code := cook(t, work, "pkgar", "verify", cut)
	if code != 1 || !strings.Contains(errs, "head only") || !strings.Contains(errs, cut) {
		t.Errorf("verify of a package cut after its entry table: %d %q", code, errs)
	}
	head := write("hello.pkgar_head", data[:headSize])
	out, errs, code := cook(t, work, "pkgar", "verify", head)
	if code != 0 || !strings.Contains(out, "head only") {
		t.Errorf("verify of a .pkgar_head: %d %q %q", code, out, errs)
	}
	trailing := write("trailing.pkgar", append(bytes.Clone(data), "garbage"...))
	_, errs, code = cook(t, work, "pkgar", "verify", trailing)
	if code != 1 || !strings.Contains(errs, "7 bytes after the last entry's data") {
		t.Errorf("verify with trailing bytes: %d %q", code, errs)
	}

	// Publishing refuses what does not match the stage and the work
	// directory's key.
	other := t.TempDir()
	foreign, err := pkgar.EnsureKeys(other)
	if err != nil {
		t.Fatal(err)
	}
	forged := filepath.Join(dir, "forged.pkgar")
	if _, err := pkgar.Create(context.Background(), forged, w.Stage("hello", T, ""), foreign); err != nil {
		t.Fatal(err)
	}
	forgedData, _ := os.ReadFile(forged)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"cut", data[:headSize], "head only"},
		{"foreign key", forgedData, "not by the trusted key"},
		{"trailing", append(bytes.Clone(data), 0), "1 bytes after the last entry's data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(pkg, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			os.RemoveAll(w.Repo(T))
			_, errs, code := cook(t, work, "repo", "publish", "hello")
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Errorf("publish: %d %q, want exit 1 and %q", code, errs, tc.want)
			}
			if _, err := os.Stat(filepath.Join(w.Repo(T), "hello.pkgar")); err == nil {
				t.Error("the package was published")
			}
		})
	}
	// A stage changed after packaging.
	if err := os.WriteFile(pkg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.Stage("hello", T, ""), "usr", "bin", "trojan"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(w.Repo(T))
	if _, errs, code = cook(t, work, "repo", "publish", "hello"); code != 1 || !strings.Contains(errs, "in the stage but not in the package: usr/bin/trojan") {
		t.Errorf("publish of a package its stage no longer matches: %d %q", code, errs)
	}
}
