package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/repo"
	"github.com/redox-cook/cook/workdir"
)

// TestUpstreamMinimalImage builds upstream's minimal config (base.toml
// included) against a repository holding a small stand-in package for each
// package it names.
func TestUpstreamMinimalImage(t *testing.T) {
	cfgPath := filepath.Join(sharedDir(t), "corpus", "redox", "config", "minimal.toml")
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w := workdir.New(t.TempDir())
	key, err := pkgar.EnsureKeys(w.Keys())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range cfg.PackageNames() {
		files := map[string]string{"usr/share/cook-test/" + name: name + "\n"}
		if name == "bootloader" {
			files["usr/lib/boot/bootloader.efi"] = "MZ stand-in"
			files["usr/lib/boot/bootloader.bios"] = strings.Repeat("\x90", 446)
		}
		if name == "ion" {
			files["usr/bin/ion"] = "#!/bin/sh\n" // lands through /bin -> usr/bin too
		}
		for p, data := range files {
			writeFile(t, filepath.Join(w.Stage(name, testTarget, ""), p), []byte(data), 0o644)
		}
		if _, err := repo.PackageRecipe(ctx, repo.Packaging{Work: w, Recipe: name, Target: testTarget, Version: "0.1", Key: key, AutoDeps: []string{}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := repo.Publish(ctx, w, testTarget, cfg.PackageNames(), repo.WithBuildID("abc123")); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRepo(w.Repo(testTarget), filepath.Join(w.Keys(), pkgar.PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "harddrive.img")
	res, err := Assemble(ctx, cfg, img, WithPackages(r), WithEpoch(testEpoch))
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != 196*MiB || len(res.Packages) != len(cfg.PackageNames()) {
		t.Errorf("result %+v", res)
	}
	fsys, done := openFS(t, img, 2*MiB)
	defer done()
	for p, want := range map[string]string{
		"usr/lib/init.d/30_console":         "nowait getty 2\n",
		"etc/passwd":                        "root;0;0;root;/home/root;/usr/bin/ion\nuser;1000;1000;user;/home/user;/usr/bin/ion\n",
		"etc/net/ip_router":                 "10.0.2.2\n",
		"usr/lib/os-release":                "VARIANT=\"minimal\"\nBUILD_ID=\"abc123\"\n",
		"etc/os-release":                    "VARIANT=\"minimal\"\n", // the symlink
		"bin/ion":                           "#!/bin/sh\n",
		"usr/share/cook-test/uutils-procps": "uutils-procps\n",
	} {
		if got := readFile(t, fsys, p); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	fi, err := fsys.Lstat("var/tmp")
	if err != nil || fi.Mode().String() != "dtrwxrwxrwx" {
		t.Errorf("var/tmp: %v %v", fi.Mode(), err)
	}
	if _, err := os.Stat(img); err != nil {
		t.Fatal(err)
	}
}

// The live variant takes the bootloader-live files, and says so when the
// package has none.
func TestLiveVariant(t *testing.T) {
	f := newFixture(t, nil)
	_, err := Assemble(context.Background(), loadTestConfig(t), filepath.Join(t.TempDir(), "live.img"),
		WithPackages(f.repo), WithEpoch(testEpoch), WithLive(true))
	if err == nil || !strings.Contains(err.Error(), "usr/lib/boot/bootloader-live.efi") {
		t.Errorf("live without live bootloaders: %v", err)
	}
}
