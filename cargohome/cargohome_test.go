package cargohome

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/redox-cook/cook/internal/golden"
)

// TestVendorConfigGolden: the config written for a lock naming crates.io,
// git sources by branch, rev, tag and default branch, and an alternative
// registry.
func TestVendorConfigGolden(t *testing.T) {
	srcs, err := LockSources([]string{"testdata/Cargo.lock"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range srcs {
		ids = append(ids, s.ID())
	}
	want := []string{
		"git+https://github.com/repnop/fdt.git?rev=2fb1409edd1877c714a0aa36b6a7c5351004be54",
		"git+https://github.com/tea/cc-rs?branch=riscv-abi-arch-fix",
		"git+https://gitlab.redox-os.org/andypython/object",
		"git+https://gitlab.redox-os.org/redox-os/syscall",
		"git+https://gitlab.redox-os.org/redox-os/syscall.git?branch=master",
		"git+https://gitlab.redox-os.org/redox-os/uefi.git?tag=v0.1.14",
		"registry+https://example.com/my-index",
		CratesIO,
	}
	if strings.Join(ids, "\n") != strings.Join(want, "\n") {
		t.Errorf("sources:\n%s\nwant\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	text, err := Config{Vendor: "/work/cargo/vendor/0123", Sources: srcs}.Render()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/vendor-config.golden", text)
	// it is TOML cargo can read: every replaced source points at the vendor
	var cfg struct {
		Net    struct{ Offline bool }
		Source map[string]map[string]string
	}
	if _, err := toml.Decode(string(text), &cfg); err != nil {
		t.Fatalf("config is not TOML: %v", err)
	}
	if !cfg.Net.Offline {
		t.Error("net.offline not set")
	}
	for _, id := range append(want[:len(want)-1], "crates-io") {
		if cfg.Source[id]["replace-with"] != VendorName {
			t.Errorf("source %q is not replaced: %v", id, cfg.Source[id])
		}
	}
	if cfg.Source[VendorName]["directory"] != "/work/cargo/vendor/0123" {
		t.Errorf("vendor source: %v", cfg.Source[VendorName])
	}

	reg, err := Config{Registry: "/usr/share/cargo/registry"}.Render()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/registry-config.golden", reg)
	if _, err := (Config{Vendor: "/v", Registry: "/r"}).Render(); !errors.Is(err, ErrConflict) {
		t.Errorf("vendor and registry together: %v, want ErrConflict", err)
	}
}

func TestParseLockErrors(t *testing.T) {
	for _, tc := range []struct{ name, lock, want string }{
		{"syntax", "version = 4\n[[package]\nname = \"x\"\n", "bad.lock:3"},
		{"kind", "[[package]]\nname = \"x\"\nversion = \"1\"\nsource = \"svn+https://x/y\"\n", "unknown kind"},
		{"no plus", "[[package]]\nname = \"x\"\nversion = \"1\"\nsource = \"https://x/y\"\n", "KIND+URL"},
		{"relative", "[[package]]\nname = \"x\"\nversion = \"1\"\nsource = \"git+foo/bar\"\n", "not an absolute URL"},
		{"query", "[[package]]\nname = \"x\"\nversion = \"1\"\nsource = \"git+https://x/y?foo=1#abc\"\n", "unknown query"},
		{"two refs", "[[package]]\nname = \"x\"\nversion = \"1\"\nsource = \"git+https://x/y?branch=a&rev=b#abc\"\n", "one of"},
		{"registry query", "[[package]]\nname = \"x\"\nversion = \"1\"\nsource = \"registry+https://x/y?branch=a\"\n", "no query"},
		{"type", "package = 3\n", "bad.lock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLock("bad.lock", []byte(tc.lock))
			if !errors.Is(err, ErrBadLock) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want ErrBadLock mentioning %q", err, tc.want)
			}
		})
	}
}

func FuzzParseLock(f *testing.F) {
	data, err := os.ReadFile("testdata/Cargo.lock")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("[[package]]\nsource = \"git+https://a/b?tag=x%2Fy#c\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		srcs, err := ParseLock("fuzz.lock", b)
		if err != nil {
			if !errors.Is(err, ErrBadLock) {
				t.Fatalf("error without ErrBadLock: %v", err)
			}
			return
		}
		text, err := Config{Vendor: "/v", Sources: srcs}.Render()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if _, err := toml.Decode(string(text), &m); err != nil {
			t.Fatalf("rendered config is not TOML: %v\n%s", err, text)
		}
	})
}

func TestFindLocks(t *testing.T) {
	d := t.TempDir()
	for _, p := range []string{"Cargo.lock", "sub/Cargo.lock", "target/x/Cargo.lock", ".git/Cargo.lock", "a/b/c/d/e/f/Cargo.lock"} {
		if err := os.MkdirAll(filepath.Join(d, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := FindLocks(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(d, "Cargo.lock"), filepath.Join(d, "sub/Cargo.lock")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("FindLocks = %v, want %v", got, want)
	}
}

func writeCrate(t *testing.T, dir, name, version, lib string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"Cargo.toml":           "[package]\nname = \"" + name + "\"\nversion = \"" + version + "\"\nedition = \"2021\"\n",
		"src/lib.rs":           lib,
		".cargo-checksum.json": `{"files":{},"package":null}`,
	}
	for f, c := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUnion(t *testing.T) {
	d := t.TempDir()
	a, b := filepath.Join(d, "a"), filepath.Join(d, "b")
	writeCrate(t, filepath.Join(a, "cfg-if-1.0.4"), "cfg-if", "1.0.4", "")
	writeCrate(t, filepath.Join(a, "libc"), "libc", "0.2.183", "")
	writeCrate(t, filepath.Join(b, "cfg-if-1.0.4"), "cfg-if", "1.0.4", "// same release")
	writeCrate(t, filepath.Join(b, "libc"), "libc", "0.2.176", "")
	writeCrate(t, filepath.Join(b, "spin-0.9.8"), "spin", "0.9.8", "")
	root := filepath.Join(d, "union")
	u, err := Union(context.Background(), root, a, b)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{}
	des, err := os.ReadDir(u)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if de.Name() == ".cook-union" {
			continue
		}
		l, err := os.Readlink(filepath.Join(u, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		links[de.Name()] = l
	}
	want := map[string]string{
		"cfg-if-1.0.4": filepath.Join(a, "cfg-if-1.0.4"), // first wins for the same release
		"libc":         filepath.Join(a, "libc"),
		"libc-0.2.176": filepath.Join(b, "libc"), // a clash of names, different releases: both
		"spin-0.9.8":   filepath.Join(b, "spin-0.9.8"),
	}
	if len(links) != len(want) {
		t.Errorf("union = %v, want %v", links, want)
	}
	for k, v := range want {
		if links[k] != v {
			t.Errorf("union[%s] = %q, want %q", k, links[k], v)
		}
	}
	// the same inputs give the same directory; one directory is used as is
	if u2, err := Union(context.Background(), root, a, b); err != nil || u2 != u {
		t.Errorf("second Union = %q, %v; want %q", u2, err, u)
	}
	if u3, err := Union(context.Background(), root, "", b); err != nil || u3 != b {
		t.Errorf("Union of one = %q, %v; want %q", u3, err, b)
	}
	writeCrate(t, filepath.Join(b, "zeroize-1.0.0"), "zeroize", "1.0.0", "")
	if u4, err := Union(context.Background(), root, a, b); err != nil || u4 == u {
		t.Errorf("Union after a crate was added = %q, %v; want a new directory", u4, err)
	}
	if _, err := Union(context.Background(), root, a, filepath.Join(d, "missing")); err == nil {
		t.Error("Union of a missing directory succeeded")
	}
}

// TestCargoOffline runs the host's cargo against a written home: a crate
// depending on a crates.io crate and a git crate (by branch) builds with
// --locked --offline from a vendor directory, which proves the replaced
// source keys match cargo's own identification of the sources.
func TestCargoOffline(t *testing.T) {
	cargo, err := exec.LookPath("/usr/bin/cargo")
	if err != nil {
		if cargo, err = exec.LookPath("cargo"); err != nil {
			t.Skip("no cargo")
		}
	}
	d := t.TempDir()
	vendor := filepath.Join(d, "vendor")
	writeCrate(t, filepath.Join(vendor, "leftpad-1.0.0"), "leftpad", "1.0.0", "pub fn pad() -> u32 { 1 }\n")
	writeCrate(t, filepath.Join(vendor, "gitdep-0.3.0"), "gitdep", "0.3.0", "pub fn g() -> u32 { 2 }\n")
	// a crates.io crate's checksum: the lock's and the vendor's must agree
	sum := "0000000000000000000000000000000000000000000000000000000000000001"
	if err := os.WriteFile(filepath.Join(vendor, "leftpad-1.0.0", ".cargo-checksum.json"), []byte(`{"files":{},"package":"`+sum+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(d, "src")
	files := map[string]string{
		"Cargo.toml": `[package]
name = "app"
version = "0.1.0"
edition = "2021"

[dependencies]
leftpad = "1"
gitdep = { git = "https://gitlab.example.invalid/team/gitdep.git", branch = "release/1" }
`,
		"src/lib.rs": "pub fn f() -> u32 { leftpad::pad() + gitdep::g() }\n",
		"Cargo.lock": `version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = [
 "gitdep",
 "leftpad",
]

[[package]]
name = "gitdep"
version = "0.3.0"
source = "git+https://gitlab.example.invalid/team/gitdep.git?branch=release%2F1#0123456789abcdef0123456789abcdef01234567"

[[package]]
name = "leftpad"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "` + sum + `"
`,
	}
	for f, c := range files {
		if err := os.MkdirAll(filepath.Join(src, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &Setup{Shared: filepath.Join(d, "cargo"), Vendor: vendor}
	home, err := s.Prepare(context.Background(), "app/x86_64-unknown-linux-gnu", src, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if home == s.Shared {
		t.Errorf("a vendored build shares the home %s", home)
	}
	cmd := exec.Command(cargo, "build", "--locked", "--offline", "--manifest-path", filepath.Join(src, "Cargo.toml"))
	cmd.Env = append(os.Environ(), "CARGO_HOME="+home, "CARGO_TARGET_DIR="+filepath.Join(d, "target"), "RUSTUP_TOOLCHAIN=")
	if out, err := cmd.CombinedOutput(); err != nil {
		cfg, _ := os.ReadFile(filepath.Join(home, "config.toml"))
		t.Fatalf("cargo build: %v\n%s\nconfig:\n%s", err, out, cfg)
	}
	lock, _ := os.ReadFile(filepath.Join(src, "Cargo.lock"))
	if !strings.Contains(string(lock), "#0123456789abcdef") {
		t.Error("cargo rewrote the lock")
	}
}

// TestUnionCraftedName: a vendored crate's Cargo.toml names the link a
// clash is added under: a name or version that is no cargo name (a path)
// is an error, and nothing is made outside the union's root.
func TestUnionCraftedName(t *testing.T) {
	for _, tc := range []struct{ name, version string }{{"../../escape", "1.0.0"}, {"x", "1/../../../escape"}} {
		d := t.TempDir()
		a, b := filepath.Join(d, "a"), filepath.Join(d, "b")
		writeCrate(t, filepath.Join(a, "x"), "x", "0.1.0", "")
		writeCrate(t, filepath.Join(b, "x"), tc.name, tc.version, "")
		root := filepath.Join(d, "deep", "union")
		if _, err := Union(context.Background(), root, a, b); !errors.Is(err, ErrNotVendor) {
			t.Errorf("%s %s: Union = %v, want ErrNotVendor", tc.name, tc.version, err)
		}
		for _, p := range []string{filepath.Join(d, "escape-1.0.0"), filepath.Join(d, "deep", "escape-1.0.0"), filepath.Join(d, "escape"), filepath.Join(d, "deep", "escape")} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("%s was made outside the union", p)
			}
		}
	}
}

// TestVendorDirOnce: a Setup makes a std vendor union once, as Identity
// reads the directories once: later builds take the same directory
// without listing the vendor directories again.
func TestVendorDirOnce(t *testing.T) {
	d := t.TempDir()
	std, vendor := filepath.Join(d, "std"), filepath.Join(d, "vendor")
	writeCrate(t, filepath.Join(std, "core-x"), "core-x", "1.0.0", "")
	writeCrate(t, filepath.Join(vendor, "libc"), "libc", "0.2.1", "")
	s := &Setup{Shared: filepath.Join(d, "cargo"), Vendor: vendor}
	u, err := s.VendorDir(context.Background(), std)
	if err != nil || u == vendor {
		t.Fatalf("VendorDir = %q, %v; want a union", u, err)
	}
	writeCrate(t, filepath.Join(vendor, "spin"), "spin", "0.9.8", "")
	if u2, err := s.VendorDir(context.Background(), std); err != nil || u2 != u {
		t.Errorf("second VendorDir = %q, %v; want %q", u2, err, u)
	}
	if u3, err := s.VendorDir(context.Background(), ""); err != nil || u3 != vendor {
		t.Errorf("VendorDir without a std vendor = %q, %v; want %q", u3, err, vendor)
	}
}
