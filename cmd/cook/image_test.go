package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/redoxfs"
	"github.com/redox-cook/cook/repo"
	"github.com/redox-cook/cook/workdir"
)

// imageWork makes a work directory with one published package, hello, and
// a filesystem config naming it.
func imageWork(t *testing.T) (work, cfg, efi string) {
	t.Helper()
	ctx := context.Background()
	w := workdir.New(t.TempDir())
	key, err := pkgar.EnsureKeys(w.Keys())
	if err != nil {
		t.Fatal(err)
	}
	stage := w.Stage("hello", "x86_64-unknown-redox", "")
	if err := os.MkdirAll(filepath.Join(stage, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stage, "usr/bin/hello"), []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.PackageRecipe(ctx, repo.Packaging{Work: w, Recipe: "hello", Target: "x86_64-unknown-redox", Version: "1", Key: key, AutoDeps: []string{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Publish(ctx, w, "x86_64-unknown-redox", []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg = filepath.Join(dir, "small.toml")
	if err := os.WriteFile(cfg, []byte("[general]\nfilesystem_size = 33\n[packages]\nhello = {}\n[[files]]\npath = \"/etc/hostname\"\ndata = \"redox\"\n[users.root]\nuid = 0\ngid = 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	efi = filepath.Join(dir, "boot.efi")
	if err := os.WriteFile(efi, []byte("MZ stand-in"), 0o644); err != nil {
		t.Fatal(err)
	}
	return w.Root, cfg, efi
}

func imageFile(t *testing.T, img, p string) string {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fsys, err := redoxfs.Open(f, 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestImageCommand(t *testing.T) {
	work, cfg, efi := imageWork(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1780000000")

	// --config is the filesystem config here, not cook's settings file.
	stdout, stderr, code := cook(t, "image", "--work", work, "--config", cfg, "--bootloader-efi", efi, "--ch-static", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Path     string   `json:"path"`
		Config   string   `json:"config"`
		Packages []string `json:"packages"`
		Network  string   `json:"network"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if res.Path != filepath.Join(work, "images", "harddrive.img") || res.Config != "small" || strings.Join(res.Packages, ",") != "hello" || res.Network != "static" {
		t.Errorf("result %+v", res)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "BIOS") {
		t.Errorf("warnings %q", res.Warnings)
	}
	for p, want := range map[string]string{
		"etc/net/ip":                  "172.16.0.2\n",
		"etc/net/ip_router":           "172.16.0.1\n",
		"etc/net/dns":                 "1.1.1.1\n",
		"usr/bin/hello":               "#!/bin/sh\necho hello\n",
		"etc/init.d/10_dhcpd.service": "echo 172.16.0.2/24 > /scheme/netcfg/ifaces/eth0/addr/set",
	} {
		if got := imageFile(t, res.Path, p); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}

	// --net auto with an address of one's own, to -o.
	out := filepath.Join(t.TempDir(), "auto.img")
	_, stderr, code = cook(t, "image", "--work", work, "--config", cfg, "--bootloader-efi", efi, "--net", "auto", "--ip", "192.168.7.2/24", "--gateway", "192.168.7.1", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := imageFile(t, out, "usr/lib/cook/netcfg-fallback.ion"); !strings.Contains(got, "echo 192.168.7.2/24 > /scheme/netcfg/ifaces/eth0/addr/set") {
		t.Errorf("fallback script:\n%s", got)
	}
	if got := imageFile(t, out, "etc/init.d/10_dhcpd.service"); !strings.HasPrefix(got, "<") {
		t.Errorf("--net auto replaced the DHCP unit:\n%s", got)
	}
	// Same inputs, same bytes.
	out2 := filepath.Join(t.TempDir(), "auto.img")
	if _, stderr, code = cook(t, "image", "--work", work, "--config", cfg, "--bootloader-efi", efi, "--net", "auto", "--ip", "192.168.7.2/24", "--gateway", "192.168.7.1", "-o", out2); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(out2)
	if string(a) != string(b) {
		t.Errorf("two builds differ")
	}
}

func TestImageCommandErrors(t *testing.T) {
	work, cfg, efi := imageWork(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.toml")
	if err := os.WriteFile(missing, []byte("include = [\""+cfg+"\"]\n[packages]\nnot-built = {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[general]\nfilesystem_size = 33\n\n[[files]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--config", missing}, 1, "build it with `cook build not-built`"},
		{[]string{"--config", bad}, 2, "bad.toml:4:"},
		{[]string{"--config", "no-such-config"}, 2, `no filesystem config "no-such-config"`},
		{[]string{"--config", cfg, "--net", "static"}, 2, "--ip"},
		{[]string{"--config", cfg, "--ch-static", "--net", "dhcp"}, 2, "--ch-static"},
		{[]string{"--config", cfg, "--size", "33", "--ip", "1.2.3.4/8"}, 2, "--net static"},
	} {
		args := append([]string{"image", "--work", work, "--bootloader-efi", efi, "-o", filepath.Join(dir, "x.img")}, tc.args...)
		_, stderr, code := cook(t, args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %s; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// With --cookbook at an upstream tree, config names come from its config/.
func TestImageCommandUpstreamConfig(t *testing.T) {
	root := filepath.Join(sharedDir(t), "corpus", "redox")
	work := t.TempDir()
	_, stderr, code := cook(t, "--cookbook", root, "image", "--work", work, "--config", "server")
	// No packages are built in the empty work directory: the error lists
	// what server.toml (through minimal.toml and base.toml) needs.
	if code != 1 || !strings.Contains(stderr, "cook build") || !strings.Contains(stderr, " kernel ") || !strings.Contains(stderr, " curl ") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	_, stderr, code = cook(t, "--cookbook", root, "image", "--work", work, "--config", "cloud-hypervisor")
	if code != 2 || !strings.Contains(stderr, filepath.Join(root, "config")) {
		t.Errorf("cook's own config used for an upstream tree: exit %d: %s", code, stderr)
	}
}

// An image with no repository (a config naming no packages, a fresh work
// directory) and only --bootloader-efi boots with UEFI only: cook warns and
// writes it, as docs/images.md says. A named BIOS file that cannot be read
// is still an error.
func TestImageCommandEFIOnly(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "files.toml")
	if err := os.WriteFile(cfg, []byte("[general]\nfilesystem_size = 33\n[[files]]\npath = \"/etc/hostname\"\ndata = \"redox\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	efi := filepath.Join(dir, "boot.efi")
	os.WriteFile(efi, []byte("MZ stand-in"), 0o644)
	img := filepath.Join(dir, "efi-only.img")
	_, stderr, code := cook(t, "image", "--work", t.TempDir(), "--config", cfg, "--bootloader-efi", efi, "-o", img)
	if code != 0 || !strings.Contains(stderr, "level=WARN") ||
		!strings.Contains(stderr, "no BIOS bootloader (bios bootloader: no repository to take it from, and no --bootloader-bios FILE): the image boots with UEFI only") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := imageFile(t, img, "etc/hostname"); got != "redox" {
		t.Errorf("etc/hostname = %q", got)
	}
	_, stderr, code = cook(t, "image", "--work", t.TempDir(), "--config", cfg, "--bootloader-efi", efi, "--bootloader-bios", filepath.Join(dir, "missing.bios"), "-o", img)
	if code != 1 || !strings.Contains(stderr, "missing.bios") {
		t.Errorf("a missing --bootloader-bios FILE: exit %d: %s", code, stderr)
	}
}
