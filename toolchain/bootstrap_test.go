package toolchain

import (
	"context"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redox-cook/cook/triple"
)

// fakeProbe is a probe whose every tool is found at /usr/bin/<name>.
func fakeProbe(t triple.Triple) *HostProbe {
	p := &HostProbe{Target: t, LLVMMajor: 22}
	names := []string{"rustc", "cargo", "rust-src", "ld.lld", "clang", "compiler-rt", "nasm", "gnu-ld", "gnu-objcopy", "gnu-as", "cbindgen"}
	for _, n := range llvmTools {
		names = append(names, "llvm-"+n)
	}
	for _, n := range names {
		p.Tools = append(p.Tools, HostTool{Name: n, Path: "/usr/bin/" + n, Version: n + " 1.0"})
	}
	return p
}

// TestBootstrapFiles: every Redox target's prefix has the tool names of
// upstream's, each script is valid shell, and the x86 targets use GNU ld.
func TestBootstrapFiles(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	for _, target := range triple.RedoxTargets {
		t.Run(string(target), func(t *testing.T) {
			files := bootstrapFiles(fakeProbe(target))
			gnu := target.GNU()
			for _, tool := range []string{"gcc", "cc", "g++", "c++", "cpp", "ar", "gcc-ar", "nm", "gcc-nm", "ranlib", "gcc-ranlib",
				"ld", "objcopy", "objdump", "readelf", "strip", "as", "strings", "size", "addr2line", "c++filt"} {
				if _, ok := files["bin/"+gnu+"-"+tool]; !ok {
					t.Errorf("no %s-%s", gnu, tool)
				}
			}
			for _, n := range []string{"bin/cargo", "bin/rustc", "bin/rust-lld", "bin/cbindgen", "lib/gcc/" + gnu + "/libgcc.a"} {
				if _, ok := files[n]; !ok {
					t.Errorf("no %s", n)
				}
			}
			for name, f := range files {
				if f.Text == "" {
					continue
				}
				cmd := exec.Command(bash, "-n")
				cmd.Stdin = strings.NewReader(f.Text)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s is not valid shell: %v\n%s", name, err, out)
				}
			}
			ld := files["bin/"+gnu+"-ld"].Text
			if target.IsX86() != strings.Contains(ld, "/usr/bin/gnu-ld") {
				t.Errorf("%s-ld:\n%s", gnu, ld)
			}
			if !strings.Contains(files["bin/"+gnu+"-gcc"].Text, "-m "+ldEmulation(target)) {
				t.Errorf("the driver links without -m %s", ldEmulation(target))
			}
		})
	}
}

func TestVersionAtLeast(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"cbindgen 0.29.4", true}, {"cbindgen 0.29", true}, {"cbindgen 0.24.3", false}, {"cbindgen 1.0.0", true},
		{"cbindgen", false}, {"cbindgen 0.28.99", false},
	} {
		if got := versionAtLeast(tc.s, minCbindgen); got != tc.want {
			t.Errorf("versionAtLeast(%q) = %v", tc.s, got)
		}
	}
}

// TestRunVersionHostile: a host tool that prints without end is stopped
// at the output cap, and one that exits leaving a child holding its output
// open is answered at once, not when the child ends.
func TestRunVersionHostile(t *testing.T) {
	dir := t.TempDir()
	tool := func(name, script string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	within := func(d time.Duration, f func() (string, error)) (string, error) {
		type res struct {
			out string
			err error
		}
		done := make(chan res, 1)
		go func() { out, err := f(); done <- res{out, err} }()
		select {
		case r := <-done:
			return r.out, r.err
		case <-time.After(d):
			t.Fatalf("no answer within %v", d)
			return "", nil
		}
	}
	ctx := context.Background()
	endless := tool("endless", "exec yes 'tool 1.0'\n")
	if _, err := within(10*time.Second, func() (string, error) { return runVersion(ctx, endless, "--version") }); err == nil || !strings.Contains(err.Error(), "printed more than") {
		t.Errorf("endless output: %v", err)
	}
	pid := filepath.Join(dir, "child.pid")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pid); err == nil {
			exec.Command("kill", strings.TrimSpace(string(b))).Run()
		}
	})
	daemon := tool("daemon", "echo tool 2.0\nsleep 60 &\necho $! > "+pid+"\n")
	out, err := within(10*time.Second, func() (string, error) { return runVersion(ctx, daemon, "--version") })
	if err != nil || firstLine(out) != "tool 2.0" {
		t.Errorf("a tool leaving a child: %q %v", out, err)
	}
}

// hostReady skips unless the host has every tool a bootstrapped
// x86_64-unknown-redox toolchain needs (Debian's rustc-web, cargo-web,
// rust-web-src, lld-22, llvm-22, clang-14, nasm, binutils).
func hostReady(t *testing.T) {
	t.Helper()
	p := ProbeHost(context.Background(), "x86_64-unknown-redox", BootstrapOptions{})
	if m := p.Missing(); len(m) > 0 {
		t.Skipf("the host cannot bootstrap: %v", MissingError(p.Target, m))
	}
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestBootstrapReal bootstraps from the host's real tools, then compiles
// and links with the prefix's gcc driver against a small stand-in for
// relibc (crt0 with _start, a libc.a) and checks the executable.
func TestBootstrapReal(t *testing.T) {
	hostReady(t)
	ctx := context.Background()
	target := triple.Triple("x86_64-unknown-redox")
	work := t.TempDir()
	tc, err := Find(ctx, target, work) // no prefix: bootstraps
	if err != nil {
		t.Fatal(err)
	}
	if tc.Provider != Bootstrapped || !tc.Ready() {
		t.Fatalf("provider %q ready %v missing %v", tc.Provider, tc.Ready(), tc.Missing)
	}
	for _, n := range []string{"rustc", "cargo", "rust-src", "clang", "ld.lld", "llvm-ar", "nasm", "gnu-ld", "gnu-objcopy"} {
		if tc.Versions[n] == "" {
			t.Errorf("no version for %s: %v", n, tc.Versions)
		}
	}
	if tc.StdVendor == "" || tc.Env()["RUSTC_BOOTSTRAP"] != "1" || len(tc.CargoArgs) == 0 {
		t.Errorf("std vendor %q env %v cargo args %v", tc.StdVendor, tc.Env(), tc.CargoArgs)
	}
	again, err := Find(ctx, target, work)
	if err != nil || again.Identity() != tc.Identity() {
		t.Errorf("identity changed between two finds: %v", err)
	}
	if res, err := Bootstrap(ctx, target, work, BootstrapOptions{}); err != nil || res.Changed {
		t.Errorf("a second bootstrap changed the prefix: %+v %v", res, err)
	}

	bin := tc.Path[0]
	gcc := filepath.Join(bin, "x86_64-unknown-redox-gcc")
	// a stand-in relibc: crt0 calls main, libc.a has write and exit
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "lib"), 0o755)
	os.MkdirAll(filepath.Join(sys, "include"), 0o755)
	src := map[string]string{
		"crt0.c":  "int main(void); void exit(int); void _start(void) { exit(main()); }\n",
		"crti.c":  "",
		"crtn.c":  "",
		"libc.c":  "long write(int fd, const void *b, unsigned long n) { return n; }\nvoid exit(int c) { for (;;) {} }\n",
		"hello.c": "#include <hello.h>\nint main(void) { return write(1, \"hi\\n\", 3) != 3; }\n",
	}
	os.WriteFile(filepath.Join(sys, "include", "hello.h"), []byte("long write(int, const void *, unsigned long);\n"), 0o644)
	dir := t.TempDir()
	for n, c := range src {
		os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644)
	}
	env := []string{"REDOX_SYSROOT=" + sys}
	for _, n := range []string{"crt0", "crti", "crtn"} {
		run(t, env, gcc, "-O2", "-c", filepath.Join(dir, n+".c"), "-o", filepath.Join(sys, "lib", n+".o"))
	}
	run(t, env, gcc, "-O2", "-c", filepath.Join(dir, "libc.c"), "-o", filepath.Join(dir, "libc.o"))
	run(t, env, filepath.Join(bin, "x86_64-unknown-redox-ar"), "rcs", filepath.Join(sys, "lib", "libc.a"), filepath.Join(dir, "libc.o"))
	// compile and link in one call, the way configure scripts do
	exe := filepath.Join(dir, "hello")
	run(t, env, gcc, "-O2", "-static", "-o", exe, filepath.Join(dir, "hello.c"), "-Wl,--gc-sections")
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
		t.Errorf("hello: machine %v class %v type %v", f.Machine, f.Class, f.Type)
	}
	syms, _ := f.Symbols()
	var start uint64
	for _, s := range syms {
		if s.Name == "_start" {
			start = s.Value
		}
		if s.Section == elf.SHN_UNDEF && s.Name != "" {
			t.Errorf("undefined symbol %s", s.Name)
		}
	}
	if start == 0 || f.Entry != start {
		t.Errorf("entry %#x, _start %#x", f.Entry, start)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("a -static executable has an interpreter")
		}
	}
	if got := strings.TrimSpace(run(t, env, gcc, "-print-libgcc-file-name")); !fileExistsOrLink(got) {
		t.Errorf("-print-libgcc-file-name = %q", got)
	}
	if got := strings.TrimSpace(run(t, env, gcc, "-dumpmachine")); got != "x86_64-unknown-redox" {
		t.Errorf("-dumpmachine = %q", got)
	}
	// the cargo wrapper: Debian's cargo, a rustup "+toolchain" dropped
	if out := run(t, nil, filepath.Join(bin, "cargo"), "+nightly", "-V"); !strings.HasPrefix(out, "cargo ") {
		t.Errorf("cargo -V = %q", out)
	}
	if out := run(t, nil, filepath.Join(bin, "rustc"), "--print", "target-list"); !strings.Contains(out, "x86_64-unknown-redox\n") {
		t.Error("rustc does not know x86_64-unknown-redox")
	}
}

func fileExistsOrLink(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestBootstrapNotices: a changed host tool (here cbindgen, which the test
// provides) re-assembles the prefix on the next Find, and the toolchain
// identity follows its version.
func TestBootstrapNotices(t *testing.T) {
	hostReady(t)
	ctx := context.Background()
	target := triple.Triple("x86_64-unknown-redox")
	work := t.TempDir()
	cb := filepath.Join(t.TempDir(), "cbindgen")
	write := func(v string) {
		if err := os.WriteFile(cb, []byte("#!/bin/sh\necho cbindgen "+v+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("0.24.3")
	tc, err := Find(ctx, target, work, WithBootstrap(BootstrapOptions{Cbindgen: cb}))
	if err != nil || !tc.Ready() {
		t.Fatalf("%v %v", err, tc.Missing)
	}
	if len(tc.Optional) == 0 || !strings.Contains(strings.Join(tc.Optional, "\n"), "0.29") {
		t.Errorf("an old cbindgen is not reported: %v", tc.Optional)
	}
	id := tc.Identity()
	time.Sleep(10 * time.Millisecond)
	write("0.29.4")
	os.Chtimes(cb, time.Now(), time.Now().Add(time.Second))
	tc, err = Find(ctx, target, work) // options kept from the prefix
	if err != nil {
		t.Fatal(err)
	}
	if tc.Versions["cbindgen"] != "cbindgen 0.29.4" || tc.Identity() == id {
		t.Errorf("after the upgrade: version %q, identity changed %v", tc.Versions["cbindgen"], tc.Identity() != id)
	}
	if l, err := os.Readlink(filepath.Join(tc.HostSysroot, "bin", "cbindgen")); err != nil || l != cb {
		t.Errorf("bin/cbindgen -> %q, %v", l, err)
	}
	// a prefix another cook version wrote is assembled again
	tagPath := filepath.Join(tc.HostSysroot, tagName)
	tag, _ := os.ReadFile(tagPath)
	old := strings.Replace(string(tag), "generator "+generator(), "generator 0000", 1)
	if err := os.WriteFile(tagPath, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Find(ctx, target, work); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(tagPath); string(now) != string(tag) {
		t.Errorf("the prefix of another generator was not remade:\n%s", now)
	}
}

// TestBootstrapMissing: a host tool that is not there makes Find report
// what is missing, with the command that fixes it.
func TestBootstrapMissing(t *testing.T) {
	tc, err := Find(context.Background(), "x86_64-unknown-redox", t.TempDir(),
		WithBootstrap(BootstrapOptions{Rustc: "/nonexistent/rustc", Cargo: "/nonexistent/cargo"}))
	if err != nil {
		t.Fatal(err)
	}
	m := strings.Join(tc.Missing, "\n")
	if tc.Ready() || !strings.Contains(m, "apt-get install rustc-web") || !strings.Contains(m, "cook toolchain install") {
		t.Errorf("missing = %s", m)
	}
	_, err = Bootstrap(context.Background(), "x86_64-unknown-redox", t.TempDir(), BootstrapOptions{Rustc: "/nonexistent/rustc"})
	if !errors.Is(err, ErrBootstrapMissing) {
		t.Errorf("Bootstrap: %v", err)
	}
	if _, err := Bootstrap(context.Background(), "x86_64-unknown-linux-gnu", t.TempDir(), BootstrapOptions{}); err == nil {
		t.Error("bootstrapped a Linux target")
	}
}

// TestRustLLDStablePaths: the rust-lld wrapper hands lld-link the objects
// of rustc's randomly named temporary directory from a directory named after
// their content, so two links of equal inputs see equal arguments (the PDB,
// whose hash is the image's GUID, names them), and adds /Brepro; other
// flavors pass through untouched.
func TestRustLLDStablePaths(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "lld")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nfor a; do echo \"$a\"; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := fakeProbe(triple.Triple("x86_64-unknown-redox"))
	for i := range p.Tools {
		if p.Tools[i].Name == "ld.lld" {
			p.Tools[i].Path = fake
		}
	}
	wrapper := filepath.Join(dir, "rust-lld")
	if err := os.WriteFile(wrapper, []byte(bootstrapFiles(p)["bin/rust-lld"].Text), 0o755); err != nil {
		t.Fatal(err)
	}
	link := func(tmp string) []string {
		obj := filepath.Join(dir, tmp, "symbols.o")
		if err := os.MkdirAll(filepath.Dir(obj), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(obj, []byte("object"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(wrapper, "-flavor", "link", "/OUT:x.efi", obj, "with space").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	}
	a, b := link("rustcAbC123"), link("rustcXyZ789")
	if strings.Join(a, "|") != strings.Join(b, "|") {
		t.Fatalf("links differ:\n%q\n%q", a, b)
	}
	if len(a) != 6 || a[5] != "/Brepro" || a[4] != "with space" || strings.Contains(a[3], "rustcAbC123") {
		t.Fatalf("args: %q", a)
	}
	if data, err := os.ReadFile(a[3]); err != nil || string(data) != "object" {
		t.Fatalf("copied object %s: %q %v", a[3], data, err)
	}
	out, err := exec.Command(wrapper, "-flavor", "gnu", filepath.Join(dir, "rustcAbC123", "symbols.o")).Output()
	if err != nil || strings.Contains(string(out), "rustc-link") || strings.Contains(string(out), "Brepro") {
		t.Fatalf("gnu flavor: %q %v", out, err)
	}
}
