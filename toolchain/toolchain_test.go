package toolchain

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRedoxEnvMissingPrefix(t *testing.T) {
	tc, err := Find(context.Background(), "x86_64-unknown-redox", t.TempDir(), WithoutAutoBootstrap())
	if err != nil {
		t.Fatal(err)
	}
	if tc.Ready() {
		t.Skip("a Redox toolchain is on PATH")
	}
	if m := strings.Join(tc.Missing, "\n"); !strings.Contains(m, "cook toolchain install --target x86_64-unknown-redox") ||
		!strings.Contains(m, "cook toolchain bootstrap --target x86_64-unknown-redox") {
		t.Errorf("missing = %v", tc.Missing)
	}
	env := tc.Env()
	if env["TARGET"] != "x86_64-unknown-redox" || env["GNU_TARGET"] != "x86_64-unknown-redox" || env["PKG_CONFIG"] != "x86_64-unknown-redox-pkg-config" {
		t.Errorf("env = %v", env)
	}
}

// TestLinuxCross assembles the aarch64 prefix from Debian's cross compiler,
// compiles a program with it and runs it under qemu-aarch64.
func TestLinuxCross(t *testing.T) {
	if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
		t.Skip("aarch64-linux-gnu-gcc not installed (Debian gcc-aarch64-linux-gnu)")
	}
	work := t.TempDir()
	tc, err := Find(context.Background(), "aarch64-unknown-linux-gnu", work)
	if err != nil {
		t.Fatal(err)
	}
	if !tc.Ready() {
		t.Fatalf("missing: %v", tc.Missing)
	}
	env := tc.Env()
	if env["CC"] != "aarch64-linux-gnu-gcc" || env["CC_aarch64_unknown_linux_gnu"] != "aarch64-linux-gnu-gcc" ||
		env["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"] != "aarch64-linux-gnu-gcc" {
		t.Errorf("env = %v", env)
	}
	libc, err := os.ReadFile(filepath.Join(tc.HostSysroot, "usr/lib/libc.so"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(libc), "/usr/aarch64-linux-gnu/") {
		t.Errorf("libc.so still names host paths:\n%s", libc)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.c"), []byte("#include <stdio.h>\nint main(void){puts(\"hello aarch64\");return 0;}\n"), 0o644)
	cc := exec.Command(filepath.Join(tc.Path[0], "aarch64-linux-gnu-gcc"), "-o", "hello", "hello.c")
	cc.Dir = dir
	if out, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("compile: %v\n%s", err, out)
	}
	if _, err := exec.LookPath("qemu-aarch64"); err != nil {
		t.Skip("qemu-aarch64 not installed")
	}
	run := exec.Command("qemu-aarch64", "-L", tc.HostSysroot, filepath.Join(dir, "hello"))
	out, err := run.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hello aarch64" {
		t.Fatalf("run: %v: %q", err, out)
	}
	id1 := tc.Identity()
	tc2, _ := Find(context.Background(), "aarch64-unknown-linux-gnu", work)
	if tc2.Identity() != id1 {
		t.Error("identity not stable")
	}
}

// TestLinuxCrossReadOnly: a caller without the writer lock
// (WithoutAutoBootstrap) is told the cross prefix is missing and writes
// nothing; once a build has assembled it, it finds it ready.
func TestLinuxCrossReadOnly(t *testing.T) {
	if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
		t.Skip("aarch64-linux-gnu-gcc not installed (Debian gcc-aarch64-linux-gnu)")
	}
	work := t.TempDir()
	tc, err := Find(context.Background(), "aarch64-unknown-linux-gnu", work, WithoutAutoBootstrap())
	if err != nil {
		t.Fatal(err)
	}
	if tc.Ready() || !strings.Contains(strings.Join(tc.Missing, "\n"), "not assembled") {
		t.Errorf("read-only Find before any build: missing %v", tc.Missing)
	}
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Errorf("read-only Find wrote %v", entries)
	}
	if _, err := Find(context.Background(), "aarch64-unknown-linux-gnu", work); err != nil {
		t.Fatal(err)
	}
	if tc, err := Find(context.Background(), "aarch64-unknown-linux-gnu", work, WithoutAutoBootstrap()); err != nil || !tc.Ready() {
		t.Errorf("read-only Find after a build: %v, missing %v", err, tc.Missing)
	}
}

// TestLinuxCrossClang builds for aarch64 through clang --target and lld
// instead of Debian's cross gcc, and runs the result under qemu-aarch64.
func TestLinuxCrossClang(t *testing.T) {
	for _, c := range []string{"clang", "ld.lld", "qemu-aarch64"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s not installed", c)
		}
	}
	if _, err := os.Stat("/usr/aarch64-linux-gnu/include/stdio.h"); err != nil {
		t.Skip("Debian's libc6-dev-arm64-cross is not installed")
	}
	work := t.TempDir()
	tc, err := Find(context.Background(), "aarch64-unknown-linux-gnu", work, WithClang())
	if err != nil {
		t.Fatal(err)
	}
	if !tc.Ready() || !tc.Clang {
		t.Fatalf("clang toolchain not ready (clang=%v): %v", tc.Clang, tc.Missing)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.c"), []byte("#include <stdio.h>\nint main(void){puts(\"hello clang aarch64\");return 0;}\n"), 0o644)
	cc := exec.Command(filepath.Join(tc.Path[0], "aarch64-linux-gnu-gcc"), "-o", "hello", "hello.c")
	cc.Dir = dir
	if out, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("compile: %v\n%s", err, out)
	}
	ar := exec.Command(filepath.Join(tc.Path[0], "aarch64-linux-gnu-gcc-ar"), "--version")
	if out, err := ar.CombinedOutput(); err != nil || !strings.Contains(string(out), "LLVM") {
		t.Errorf("ar wrapper: %v %s", err, out)
	}
	out, err := exec.Command("qemu-aarch64", "-L", tc.HostSysroot, filepath.Join(dir, "hello")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hello clang aarch64" {
		t.Fatalf("run: %v: %q", err, out)
	}
}
