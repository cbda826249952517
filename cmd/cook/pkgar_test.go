package main

import (
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
	if _, err := repo.PackageRecipe(context.Background(), repo.Build{Work: w, Recipe: "hello", Target: T, Version: "1.0", Key: key, Depends: []string{"missing"}}); err != nil {
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
	var res repoPublishJSON
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
