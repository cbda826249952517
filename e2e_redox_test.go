//go:build e2e

// Redox itself, built offline with a toolchain bootstrapped from the host's
// Rust and LLVM: the unchanged kernel, bootloader and relibc recipes from
// ../shared/redox (bare git mirrors, one cargo vendor directory), then C and
// cargo hello programs linked against the built relibc. Minutes on 2 cores:
//
//	COOK_SHARED=../shared go test -tags e2e -run TestRedoxBootstrapped -v .
package cook_test

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/internal/redoxtest"
	"github.com/redox-cook/cook/toolchain"
)

// redoxMirror returns ../shared/redox and the cook flags that fetch its git
// mirrors and vendored crates, or skips.
func redoxMirror(t testing.TB) (string, []string) {
	t.Helper()
	s := shared(t)
	m := filepath.Join(s, "redox")
	if _, err := os.Stat(filepath.Join(m, "git", "kernel.git")); err != nil {
		t.Skip("no redox mirror in COOK_SHARED")
	}
	p := toolchain.ProbeHost(context.Background(), "x86_64-unknown-redox", toolchain.BootstrapOptions{})
	if missing := p.Missing(); len(missing) > 0 {
		t.Skipf("cannot bootstrap a Redox toolchain: %v", toolchain.MissingError(p.Target, missing))
	}
	flags := []string{"--cargo-vendor", filepath.Join(m, "crates")}
	for _, r := range []string{"kernel", "bootloader", "relibc"} {
		flags = append(flags, "--mirror", "https://gitlab.redox-os.org/redox-os/"+r+".git=file://"+filepath.Join(m, "git", r+".git"))
	}
	return m, flags
}

// mkcbindgen makes the mirror's cbindgen 0.29.4 (relibc's headers) in a
// temporary directory.
func mkcbindgen(t testing.TB, mirror string) string {
	t.Helper()
	need(t, "dpkg-deb")
	dir := t.TempDir()
	if out, err := exec.Command(filepath.Join(mirror, "tools", "mkcbindgen.sh"), dir).CombinedOutput(); err != nil {
		t.Fatalf("mkcbindgen.sh: %v\n%s", err, out)
	}
	return filepath.Join(dir, "cbindgen")
}

func elfOf(t *testing.T, path string) *elf.File {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestRedoxBootstrapped builds kernel, bootloader and relibc in the sandbox
// with no network, checks what they stage, and that a second run is all
// cached; then a C hello (plain make, static) and cargo and configure
// hellos (templates, DYNAMIC_INIT) link against the built relibc.
func TestRedoxBootstrapped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Redox kernel, bootloader and relibc")
	}
	need(t, "make", "git")
	s := shared(t)
	mirror, flags := redoxMirror(t)
	t.Setenv("COOK_CBINDGEN", mkcbindgen(t, mirror))
	work := t.TempDir()
	args := append([]string{"--cookbook", filepath.Join(s, "corpus", "redox"), "--work", work, "--json"}, flags...)
	res, out, err := cook(t, append(args, "build", "--keep-going", "kernel", "bootloader", "relibc")...)
	if err != nil {
		t.Fatalf("cook build: %v\n%s", err, out)
	}
	stages := map[string]string{}
	for _, r := range res {
		if r.Status != "built" {
			t.Errorf("%s: %s %s", r.Recipe, r.Status, r.Error)
		}
		t.Logf("%s: %s in %.0f s (cold)", r.Recipe, r.Status, r.Seconds)
		stages[r.Recipe] = r.Stage
	}
	k := elfOf(t, filepath.Join(stages["kernel"], "usr/lib/boot/kernel"))
	if k.Machine != elf.EM_X86_64 || k.Type != elf.ET_EXEC {
		t.Errorf("kernel: %v %v", k.Machine, k.Type)
	}
	for _, f := range []string{"bootloader.bios", "bootloader-live.bios", "bootloader.efi", "bootloader-live.efi"} {
		st, err := os.Stat(filepath.Join(stages["bootloader"], "usr/lib/boot", f))
		if err != nil || st.Size() == 0 {
			t.Errorf("bootloader %s: %v", f, err)
		}
	}
	for _, f := range []string{"usr/include/stdio.h", "usr/lib/libc.a", "usr/lib/crt0.o", "usr/lib/libm.a", "usr/lib/ld64.so.1"} {
		if _, err := os.Stat(filepath.Join(stages["relibc"], f)); err != nil {
			t.Errorf("relibc: %v", err)
		}
	}
	res, out, err = cook(t, append(args, "build", "kernel", "bootloader", "relibc")...)
	if err != nil {
		t.Fatalf("second build: %v\n%s", err, out)
	}
	for _, r := range res {
		if r.Status != "cached" {
			t.Errorf("second run: %s %s", r.Recipe, r.Status)
		}
	}

	t.Run("boot", func(t *testing.T) { bootRedox(t, work, flags) })
	t.Run("reproducible", func(t *testing.T) { reproducible(t, s, flags, stages) })

	// cook's test programs, built for Redox with relibc in their sysroot
	cb := t.TempDir()
	copyTree(t, filepath.Join(s, "corpus", "redox", "recipes", "core", "relibc"), filepath.Join(cb, "recipes", "core", "relibc"))
	copyTree(t, filepath.Join("builder", "testdata", "cookbook", "src", "hello-cargo"), filepath.Join(cb, "src", "hello-cargo"))
	copyTree(t, filepath.Join("builder", "testdata", "cookbook", "src", "hello-autoconf"), filepath.Join(cb, "src", "hello-autoconf"))
	if out, err := exec.Command("autoreconf", "-fi", filepath.Join(cb, "src", "hello-autoconf")).CombinedOutput(); err != nil {
		t.Fatalf("autoreconf: %v\n%s", err, out)
	}
	files := map[string]string{
		"src/hello-c/hello.c": "#include <stdio.h>\n#include <math.h>\nint main(int argc, char **argv) { printf(\"hello %f\\n\", sqrt(argc + 1.0)); return 0; }\n",
		"src/hello-c/Makefile": "hello: hello.c\n\t$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) -lm\n" +
			"install: hello\n\tmkdir -p $(DESTDIR)/usr/bin && cp hello $(DESTDIR)/usr/bin/hello-c\n",
		"recipes/test/hello-c/recipe.toml": "[source]\npath = \"src/hello-c\"\n\n[build]\ntemplate = \"custom\"\ndependencies = [\"relibc\"]\n" +
			"script = \"\"\"\n\"${COOKBOOK_MAKE}\" -C \"${COOKBOOK_SOURCE}\" DESTDIR=\"${COOKBOOK_STAGE}\" install\n\"\"\"\n",
		"recipes/test/hello-cargo/recipe.toml": "[source]\npath = \"src/hello-cargo\"\n\n[build]\ntemplate = \"cargo\"\ndependencies = [\"relibc\"]\n",
		// cookbook_cargo without the template's DYNAMIC_INIT: static
		"recipes/test/hello-cargo-static/recipe.toml": "[source]\npath = \"src/hello-cargo\"\n\n[build]\ntemplate = \"custom\"\ndependencies = [\"relibc\"]\nscript = \"cookbook_cargo\"\n",
		"recipes/test/hello-autoconf/recipe.toml":     "[source]\npath = \"src/hello-autoconf\"\n\n[build]\ntemplate = \"configure\"\ndependencies = [\"relibc\"]\n",
	}
	for n, c := range files {
		p := filepath.Join(cb, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args = append([]string{"--cookbook", cb, "--work", work, "--json"}, flags...)
	res, out, err = cook(t, append(args, "build", "--keep-going", "hello-c", "hello-cargo", "hello-cargo-static", "hello-autoconf")...)
	if err != nil {
		t.Fatalf("cook build hellos: %v\n%s", err, out)
	}
	libc := map[string]bool{}
	dyn := elfOf(t, filepath.Join(stages["relibc"], "usr/lib/libc.so"))
	syms, _ := dyn.DynamicSymbols()
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF {
			libc[s.Name] = true
		}
	}
	for _, r := range res {
		if r.Recipe == "relibc" {
			continue
		}
		if r.Status != "built" {
			t.Errorf("%s: %s %s", r.Recipe, r.Status, r.Error)
			continue
		}
		bin := filepath.Join(r.Stage, "usr/bin", strings.TrimSuffix(r.Recipe, "-static"))
		f := elfOf(t, bin)
		syms, _ := f.Symbols()
		var start uint64
		for _, s := range syms {
			if s.Name == "_start" {
				start = s.Value
			}
		}
		if f.Machine != elf.EM_X86_64 || start == 0 || f.Entry != start {
			t.Errorf("%s: machine %v, entry %#x, _start %#x", r.Recipe, f.Machine, f.Entry, start)
		}
		interp := ""
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				b := make([]byte, p.Filesz)
				p.ReadAt(b, 0)
				interp = strings.TrimRight(string(b), "\x00")
			}
		}
		undef, _ := f.ImportedSymbols()
		static := r.Recipe == "hello-c" || r.Recipe == "hello-cargo-static"
		switch {
		case static && (interp != "" || len(undef) > 0):
			t.Errorf("%s is not static: interpreter %q, undefined %v", r.Recipe, interp, undef)
		case !static && interp != "/lib/ld64.so.1": // DYNAMIC_INIT links dynamically
			t.Errorf("%s: interpreter %q, want relibc's /lib/ld64.so.1", r.Recipe, interp)
		}
		for _, u := range undef {
			if !libc[u.Name] {
				t.Errorf("%s: %s is not in relibc's libc.so", r.Recipe, u.Name)
			}
		}
	}
}

// bootRedox boots what cook built in work: an initfs whose bootstrap is
// redoxtest's user-mode program, written by the redox-initfs-ar cook puts in
// every build's tools, a GPT image from cook image (the bootloader on the
// ESP, kernel and initfs in RedoxFS under /usr/lib/boot), and cook boot-test
// under QEMU TCG with OVMF: the bootloader, "Redox OS starting", the line the
// bootstrap wrote through a system call and the kernel's report of its
// deliberate fault in ring 3. The serial log is kept in $COOK_ARTIFACTS
// when set.
func bootRedox(t *testing.T, work string, flags []string) {
	need(t, "qemu-system-x86_64")
	if _, err := os.Stat("/usr/share/OVMF/OVMF_CODE_4M.fd"); err != nil {
		if _, err := os.Stat("/usr/share/ovmf/OVMF.fd"); err != nil {
			t.Skip("no OVMF firmware (Debian's ovmf)")
		}
	}
	cb := t.TempDir()
	files := map[string][]byte{
		"src/initfs/bootstrap":   redoxtest.Bootstrap(),
		"src/initfs/root/README": []byte("the initfs of cook's boot test\n"),
		"recipes/test/boot-initfs/recipe.toml": []byte("[source]\npath = \"src/initfs\"\n\n[build]\ntemplate = \"custom\"\n" +
			"script = \"\"\"\nmkdir -p \"${COOKBOOK_STAGE}/usr/lib/boot\"\n" +
			"redox-initfs-ar \"${COOKBOOK_SOURCE}/root\" \"${COOKBOOK_SOURCE}/bootstrap\" -o \"${COOKBOOK_STAGE}/usr/lib/boot/initfs\"\n\"\"\"\n"),
		"boot.toml": []byte("[general]\nfilesystem_size = 64\n\n[packages]\nkernel = {}\nbootloader = {}\nboot-initfs = {}\n"),
	}
	for n, c := range files {
		p := filepath.Join(cb, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, c, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := append([]string{"--cookbook", cb, "--work", work}, flags...)
	if _, out, err := cook(t, append(args, "build", "boot-initfs")...); err != nil {
		t.Fatalf("build the initfs: %v\n%s", err, out)
	}
	img := filepath.Join(work, "images", "boot-test.img")
	if _, out, err := cook(t, append(args, "image", "--config", filepath.Join(cb, "boot.toml"), "-o", img)...); err != nil {
		t.Fatalf("cook image: %v\n%s", err, out)
	}
	log := filepath.Join(work, "logs", "boot-test-redox.log")
	if dir := os.Getenv("COOK_ARTIFACTS"); dir != "" {
		log = filepath.Join(dir, "boot-test-redox-uefi.log")
	}
	boot := []string{"--work", work, "boot-test", "--image", img, "--kvm", "off", "--timeout", "10m", "--log", log,
		"--expect", "Redox OS Bootloader", "--expect", "Redox OS starting"}
	for _, e := range redoxtest.Expect() {
		boot = append(boot, "--expect", e)
	}
	if _, out, err := cook(t, boot...); err != nil {
		t.Fatalf("cook boot-test: %v\n%s", err, out)
	} else {
		t.Logf("%s", lastLines(out, 1))
	}
}

// reproducible builds kernel and bootloader again in another work
// directory: the kernel and bootloader.efi must be byte-identical to the
// first build's (stages).
func reproducible(t *testing.T, shared string, flags []string, stages map[string]string) {
	work := t.TempDir()
	args := append([]string{"--cookbook", filepath.Join(shared, "corpus", "redox"), "--work", work, "--json"}, flags...)
	res, out, err := cook(t, append(args, "build", "kernel", "bootloader")...)
	if err != nil {
		t.Fatalf("cook build: %v\n%s", err, out)
	}
	for _, r := range res {
		for _, f := range map[string][]string{"kernel": {"kernel"}, "bootloader": {"bootloader.efi", "bootloader.bios"}}[r.Recipe] {
			a, errA := os.ReadFile(filepath.Join(stages[r.Recipe], "usr/lib/boot", f))
			b, errB := os.ReadFile(filepath.Join(r.Stage, "usr/lib/boot", f))
			if errA != nil || errB != nil || !bytes.Equal(a, b) {
				t.Errorf("%s differs between two work directories (%v, %v; %d and %d bytes)", f, errA, errB, len(a), len(b))
			}
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s: %v\n%s", src, err, out)
	}
}

// BenchmarkRedoxKernelBootloader times building the unchanged kernel and
// bootloader recipes with the bootstrapped toolchain, sandboxed and offline:
// cold (an empty work directory each time; the toolchain bootstrap is part
// of it) and a no-op (everything up to date).
//
//	COOK_SHARED=../shared go test -tags e2e -run '^$' -bench RedoxKernelBootloader -benchtime 1x .
func BenchmarkRedoxKernelBootloader(b *testing.B) {
	s := shared(b)
	mirror, flags := redoxMirror(b)
	b.Setenv("COOK_CBINDGEN", mkcbindgen(b, mirror))
	build := func(work string) {
		args := append([]string{"--cookbook", filepath.Join(s, "corpus", "redox"), "--work", work, "--json"}, flags...)
		if _, out, err := cook(b, append(args, "build", "kernel", "bootloader")...); err != nil {
			b.Fatalf("cook build: %v\n%s", err, out)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			work := b.TempDir()
			b.StartTimer()
			build(work)
		}
	})
	b.Run("noop", func(b *testing.B) {
		work := b.TempDir()
		b.StopTimer()
		build(work)
		b.StartTimer()
		for i := 0; i < b.N; i++ {
			build(work)
		}
	})
}
