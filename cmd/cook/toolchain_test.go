package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/toolchain"
	"github.com/redox-cook/cook/workdir"
)

// TestToolchainStatusBootstrap runs cook toolchain status against the
// host's real tools: with Debian's Rust, clang, lld, LLVM, nasm and
// binutils installed it bootstraps the prefix and reports the provider and
// every tool's version; it skips on a host without them.
func TestToolchainStatusBootstrap(t *testing.T) {
	p := toolchain.ProbeHost(context.Background(), "x86_64-unknown-redox", toolchain.BootstrapOptions{})
	if m := p.Missing(); len(m) > 0 {
		t.Skipf("the host cannot bootstrap: %v", toolchain.MissingError(p.Target, m))
	}
	work := t.TempDir()
	out, errOut, code := cook(t, "--work", work, "--target", "x86_64-unknown-redox", "toolchain", "status")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"provider:     bootstrapped", "CC         x86_64-unknown-redox-gcc", "rustc        rustc ", "nasm         NASM",
		"ld.lld       ", "clang        ", "gnu-ld       GNU ld", "ready\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	out, _, code = cook(t, "--work", work, "--json", "toolchain", "status")
	var st toolchain.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		t.Fatalf("json status: %v (exit %d)\n%s", err, code, out)
	}
	if st.Provider != "bootstrap" || !st.Ready || st.Versions["cargo"] == "" || st.Env["RUSTC_BOOTSTRAP"] != "1" {
		t.Errorf("json status: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(work, "prefix", "x86_64-unknown-redox", "sysroot", "bin", "x86_64-unknown-redox-gcc")); err != nil {
		t.Error(err)
	}
}

// TestToolchainStatusMissing: a rustc that is not there is reported with
// the command that fixes it, and status fails.
func TestToolchainStatusMissing(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cook.toml")
	if err := os.WriteFile(cfg, []byte("[toolchain]\nrustc = \"/nonexistent/rustc\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COOK_CONFIG", cfg)
	out, errOut, code := cook(t, "--work", filepath.Join(dir, "work"), "--target", "x86_64-unknown-redox", "toolchain", "status")
	if code == 0 {
		t.Fatalf("status succeeded without a rustc:\n%s", out)
	}
	all := out + errOut
	for _, want := range []string{"not ready", "rustc", "apt-get install rustc-web", "cook toolchain install"} {
		if !strings.Contains(all, want) {
			t.Errorf("output lacks %q:\n%s", want, all)
		}
	}
	_, errOut, code = cook(t, "--work", filepath.Join(dir, "work"), "toolchain", "bootstrap")
	if code == 0 || !strings.Contains(errOut, "apt-get install rustc-web") {
		t.Errorf("bootstrap without a rustc: exit %d\n%s", code, errOut)
	}
}

// TestToolchainBootstrapLocks: bootstrap replaces the prefix builds use,
// so it takes the work directory's writer lock (with --no-wait it fails at
// once while another cook holds it).
func TestToolchainBootstrapLocks(t *testing.T) {
	work := t.TempDir()
	l, err := workdir.New(work).Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	_, errOut, code := cook(t, "--work", work, "--target", "x86_64-unknown-redox", "--no-wait", "toolchain", "bootstrap", "--rustc", "/nonexistent/rustc")
	if code != exitFailed || !strings.Contains(errOut, "is writing to it") {
		t.Errorf("bootstrap while the work directory is locked: exit %d\n%s", code, errOut)
	}
}

// TestReadersLeaveToolchain: while another cook holds the writer lock (a
// build using the prefix), the readers that find the toolchain - toolchain
// status, explain, build --dry-run - must not assemble (write, then swap
// in) a bootstrapped prefix: they report it missing instead. They did, on
// a host that can bootstrap, with no lock at all.
func TestReadersLeaveToolchain(t *testing.T) {
	p := toolchain.ProbeHost(context.Background(), "x86_64-unknown-redox", toolchain.BootstrapOptions{})
	if m := p.Missing(); len(m) > 0 {
		t.Skipf("the host cannot bootstrap (the readers could not write a prefix): %v", toolchain.MissingError(p.Target, m))
	}
	book := t.TempDir()
	os.MkdirAll(filepath.Join(book, "recipes", "y"), 0o755)
	os.WriteFile(filepath.Join(book, "recipes", "y", "recipe.toml"), []byte("[build]\ntemplate = \"custom\"\nscript = \"true\"\n"), 0o644)
	work := t.TempDir()
	l, err := workdir.New(work).Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(work, "prefix")
	for _, args := range [][]string{{"toolchain", "status"}, {"explain", "y"}, {"build", "--dry-run", "y"}} {
		out, errOut, code := cook(t, append([]string{"--cookbook", book, "--work", work, "--target", "x86_64-unknown-redox"}, args...)...)
		if _, err := os.Stat(prefix); err == nil {
			t.Fatalf("cook %v wrote %s while another cook held the lock (exit %d)\n%s%s", args, prefix, code, out, errOut)
		}
		if args[0] == "toolchain" && (code != exitFailed || !strings.Contains(out, "toolchain bootstrap")) {
			t.Errorf("status while locked: exit %d, want 1 naming cook toolchain bootstrap\n%s%s", code, out, errOut)
		}
	}
	l.Unlock()
	// without another writer, status assembles it as before
	if _, errOut, code := cook(t, "--work", work, "--target", "x86_64-unknown-redox", "toolchain", "status"); code != 0 {
		t.Fatalf("status: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(prefix, "x86_64-unknown-redox", "sysroot")); err != nil {
		t.Error(err)
	}
}
