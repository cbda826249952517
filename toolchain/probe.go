package toolchain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redox-cook/cook/triple"
)

// HostTool is one host program (or file) a bootstrapped Redox toolchain is
// made of, as ProbeHost found it.
type HostTool struct {
	Name     string // rustc, cargo, rust-src, clang, ...
	Path     string // absolute; "" when missing
	Version  string // one line; "" when missing
	Required bool
	// Package is the Debian package that provides it.
	Package string
	// Problem says why it is missing or unusable; Fix how to get it.
	Problem, Fix string
}

// Found reports a usable tool.
func (t HostTool) Found() bool { return t.Path != "" && t.Problem == "" }

// HostProbe is what the host offers for a Redox toolchain built from its own
// Rust and LLVM: every tool, found or not, with versions.
type HostProbe struct {
	Target triple.Triple
	Tools  []HostTool
	// RustSysroot is `rustc --print sysroot`; StdVendor the standard
	// library's vendored crates under it ("" when rust-src has none).
	RustSysroot, StdVendor string
	// LLVMMajor is the LLVM major version rustc was built with: lld and the
	// LLVM binutils of that version are preferred.
	LLVMMajor int
}

// Tool returns the probe's entry for name (the zero HostTool if none).
func (p *HostProbe) Tool(name string) HostTool {
	for _, t := range p.Tools {
		if t.Name == name {
			return t
		}
	}
	return HostTool{}
}

// Missing lists the required tools that are missing or unusable.
func (p *HostProbe) Missing() []HostTool {
	var out []HostTool
	for _, t := range p.Tools {
		if t.Required && !t.Found() {
			out = append(out, t)
		}
	}
	return out
}

// OptionalMissing lists optional tools that are missing (what needs them is
// in the Problem).
func (p *HostProbe) OptionalMissing() []HostTool {
	var out []HostTool
	for _, t := range p.Tools {
		if !t.Required && !t.Found() {
			out = append(out, t)
		}
	}
	return out
}

// AptCommand is the apt-get command installing the Debian packages of the
// given tools ("" when none has one).
func AptCommand(tools []HostTool) string {
	seen := map[string]bool{}
	var pkgs []string
	for _, t := range tools {
		for _, p := range strings.Fields(t.Package) {
			if !seen[p] {
				seen[p] = true
				pkgs = append(pkgs, p)
			}
		}
	}
	if len(pkgs) == 0 {
		return ""
	}
	return "apt-get install " + strings.Join(pkgs, " ")
}

// BootstrapPackages are the Debian 12 packages a bootstrapped x86_64 Redox
// toolchain needs (docs/toolchains.md).
const BootstrapPackages = "rustc-web cargo-web rust-web-src rust-web-llvm lld-22 llvm-22 clang-14 libclang-rt-14-dev libunwind-22-dev nasm binutils make"

// BootstrapOptions chooses the host programs; empty fields take defaults.
type BootstrapOptions struct {
	// Rustc and Cargo default to /usr/bin/rustc and /usr/bin/cargo (a
	// distribution's Rust), else the first on PATH that is not a rustup
	// proxy (which would obey a source's rust-toolchain.toml and download).
	Rustc, Cargo string
	// Cbindgen is a cbindgen ≥ 0.29 (relibc's headers); default: on PATH.
	Cbindgen string
	// Replace lets Bootstrap replace a prebuilt prefix.
	Replace bool
}

// minCbindgen is the oldest cbindgen relibc's headers build with
// (#[unsafe(no_mangle)] needs 0.29).
var minCbindgen = [3]int{0, 29, 0}

// ProbeHost finds the host programs a bootstrapped toolchain for target
// would use and asks each for its version. It changes nothing.
func ProbeHost(ctx context.Context, target triple.Triple, opts BootstrapOptions) *HostProbe {
	h := &hostProber{ctx: ctx, target: target, p: &HostProbe{Target: target}}
	rustc := h.rustc(opts.Rustc)
	cargo := h.cargo(opts.Cargo)
	src := h.rustSrc(rustc)
	h.rustcTarget(&rustc)
	h.add(rustc, cargo, src)
	h.add(h.lld())
	h.add(h.clang())
	h.add(h.llvmBinutils()...)
	if target.IsX86() {
		h.add(h.nasm())
		h.add(h.gnuBinutils()...)
	}
	h.add(h.libunwind(), h.cbindgen(opts.Cbindgen))
	return h.p
}

// hostProber carries ProbeHost's target and what the tools probed so far
// told it (the Rust sysroot, rustc's LLVM version) to the next probe.
type hostProber struct {
	ctx    context.Context
	target triple.Triple
	p      *HostProbe
}

func (h *hostProber) add(tools ...HostTool) { h.p.Tools = append(h.p.Tools, tools...) }

// version asks t for its version with args and records the first line of
// the answer, or the failure as t's problem.
func (h *hostProber) version(t *HostTool, args ...string) {
	if out, err := runVersion(h.ctx, t.Path, args...); err != nil {
		t.Problem = err.Error()
	} else {
		t.Version = firstLine(out)
	}
}

// rustc finds rustc (want if given) and learns the LLVM major version it
// was built with.
func (h *hostProber) rustc(want string) HostTool {
	rustc := HostTool{Name: "rustc", Required: true, Package: "rustc-web"}
	rustc.Path, rustc.Problem = findRust("rustc", want)
	if rustc.Path != "" && rustc.Problem == "" {
		out, err := runVersion(h.ctx, rustc.Path, "-vV")
		if err != nil {
			rustc.Problem = err.Error()
		} else {
			rustc.Version = firstLine(out)
			if m := regexp.MustCompile(`(?m)^LLVM version: (\d+)`).FindStringSubmatch(out); m != nil {
				h.p.LLVMMajor, _ = strconv.Atoi(m[1])
				rustc.Version += "; LLVM " + strings.TrimPrefix(lineWith(out, "LLVM version: "), "LLVM version: ")
			}
		}
	}
	rustc.Fix = "apt-get install rustc-web (Debian 12; or pass --rustc a nightly's rustc, not a rustup proxy)"
	return rustc
}

// cargo finds cargo (want if given).
func (h *hostProber) cargo(want string) HostTool {
	cargo := HostTool{Name: "cargo", Required: true, Package: "cargo-web"}
	cargo.Path, cargo.Problem = findRust("cargo", want)
	if cargo.Found() {
		h.version(&cargo, "-V")
	}
	cargo.Fix = "apt-get install cargo-web"
	return cargo
}

// rustSrc finds the standard library's source in rustc's sysroot (for
// -Zbuild-std) and the crates vendored beside it.
func (h *hostProber) rustSrc(rustc HostTool) HostTool {
	src := HostTool{Name: "rust-src", Required: true, Package: "rust-web-src",
		Fix: "apt-get install rust-web-src (the standard library's source, which -Zbuild-std compiles)"}
	if !rustc.Found() {
		src.Problem = "needs rustc"
		return src
	}
	if out, err := runVersion(h.ctx, rustc.Path, "--print", "sysroot"); err == nil {
		h.p.RustSysroot = strings.TrimSpace(out)
	}
	lib := filepath.Join(h.p.RustSysroot, "lib", "rustlib", "src", "rust", "library")
	if _, err := os.Stat(filepath.Join(lib, "core", "src", "lib.rs")); err != nil {
		src.Problem = "no standard library source in " + lib
		return src
	}
	src.Path = filepath.Join(h.p.RustSysroot, "lib", "rustlib", "src", "rust")
	src.Version = "library/Cargo.lock " + fileDigest(filepath.Join(lib, "Cargo.lock"))
	if st, err := os.Stat(filepath.Join(lib, "vendor")); err == nil && st.IsDir() {
		h.p.StdVendor = filepath.Join(lib, "vendor")
		src.Version += ", vendored std crates"
	}
	return src
}

// rustcTarget marks a found rustc unusable when it does not know the
// target.
func (h *hostProber) rustcTarget(rustc *HostTool) {
	if !rustc.Found() {
		return
	}
	if out, err := runVersion(h.ctx, rustc.Path, "--print", "target-list"); err == nil &&
		!containsLine(out, string(h.target)) {
		rustc.Problem = fmt.Sprintf("%s does not know the target %s", rustc.Version, h.target)
	}
}

// lld finds ld.lld: rustc's linker for the kernel and UEFI targets (as
// rust-lld) and the C link driver's linker.
func (h *hostProber) lld() HostTool {
	lld := HostTool{Name: "ld.lld", Required: true, Package: fmt.Sprintf("lld-%d", orDefault(h.p.LLVMMajor, 22))}
	lld.Path = findVersioned("ld.lld", h.p.LLVMMajor)
	lld.Fix = "apt-get install " + lld.Package
	if lld.Path != "" {
		h.version(&lld, "--version")
	} else {
		lld.Problem = "no ld.lld on PATH"
	}
	return lld
}

// clang finds the C compiler and compiler-rt's builtins for the target
// (the toolchain's libgcc.a), preferring a clang that has the builtins.
func (h *hostProber) clang() (clang, builtins HostTool) {
	clang = HostTool{Name: "clang", Required: true, Package: "clang-14", Fix: "apt-get install clang-14"}
	builtins = HostTool{Name: "compiler-rt", Package: "libclang-rt-14-dev",
		Fix: "apt-get install libclang-rt-14-dev (compiler-rt builtins, the toolchain's libgcc.a)"}
	for _, c := range clangCandidates(h.p.LLVMMajor) {
		path, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		rt := compilerRT(h.ctx, path, h.target)
		if clang.Path == "" || rt != "" && builtins.Path == "" {
			clang.Path, builtins.Path = path, rt
		}
		if rt != "" {
			break
		}
	}
	if clang.Path == "" {
		clang.Problem = "no clang on PATH"
		builtins.Problem = "needs clang"
		return clang, builtins
	}
	h.version(&clang, "--version")
	if builtins.Path != "" {
		builtins.Version = filepath.Base(builtins.Path)
		return clang, builtins
	}
	arch := h.target.Arch()
	builtins.Problem = fmt.Sprintf("no compiler-rt builtins for %s next to %s: C programs cannot link (libgcc.a)", arch, clang.Path)
	if arch != triple.Host().Arch() {
		builtins.Package = ""
		builtins.Fix = "provide libgcc.a for " + arch + " in the prefix's lib/gcc/" + h.target.GNU() + "/"
	}
	return clang, builtins
}

// llvmBinutils finds the LLVM binutils (llvmTools); they come in one
// package, so each found one takes llvm-ar's version.
func (h *hostProber) llvmBinutils() []HostTool {
	llvmPkg := fmt.Sprintf("llvm-%d", orDefault(h.p.LLVMMajor, 22))
	var tools []HostTool
	for _, name := range llvmTools {
		t := HostTool{Name: "llvm-" + name, Required: true, Package: llvmPkg, Fix: "apt-get install " + llvmPkg}
		t.Path = findVersioned("llvm-"+name, h.p.LLVMMajor)
		if t.Path == "" {
			t.Problem = "no llvm-" + name + " on PATH"
		} else if name == "ar" {
			if out, err := runVersion(h.ctx, t.Path, "--version"); err != nil {
				t.Problem = err.Error()
			} else {
				t.Version = strings.TrimSpace(lineWith(out, "LLVM version"))
			}
		}
		tools = append(tools, t)
	}
	var arVersion string
	for _, t := range tools {
		if t.Name == "llvm-ar" {
			arVersion = t.Version
		}
	}
	if arVersion != "" {
		for i, t := range tools {
			if t.Found() {
				tools[i].Version = arVersion
			}
		}
	}
	return tools
}

// nasm finds nasm (x86: the kernel and the BIOS bootloader).
func (h *hostProber) nasm() HostTool {
	nasm := HostTool{Name: "nasm", Required: true, Package: "nasm", Fix: "apt-get install nasm"}
	nasm.Path = lookPath("nasm")
	if nasm.Path == "" {
		nasm.Problem = "no nasm on PATH"
	} else {
		h.version(&nasm, "-v")
	}
	return nasm
}

// gnuBinutils finds GNU ld, objcopy and as for x86 (the BIOS bootloader's
// stage 3 links with -m elf_i386; kernel and BIOS objcopy).
func (h *hostProber) gnuBinutils() []HostTool {
	hostX86 := triple.Host().Arch() == "x86_64"
	var tools []HostTool
	for _, g := range []struct{ name, cmd, arg string }{{"gnu-ld", "ld", "-v"}, {"gnu-objcopy", "objcopy", "--version"}, {"gnu-as", "as", "--version"}} {
		t := HostTool{Name: g.name, Required: true, Package: "binutils", Fix: "apt-get install binutils"}
		t.Path = lookPath(g.cmd)
		if t.Path == "" {
			t.Problem = "no " + g.cmd + " on PATH"
		} else {
			h.version(&t, g.arg)
		}
		if t.Found() && g.cmd == "ld" && hostX86 {
			if out, err := runVersion(h.ctx, t.Path, "-V"); err == nil && !strings.Contains(out, "elf_i386") {
				t.Problem = t.Path + " cannot link elf_i386"
			}
		}
		if t.Found() && !hostX86 {
			t.Problem = "the host's GNU binutils are not for x86"
			t.Fix = "apt-get install binutils-x86-64-linux-gnu"
		}
		tools = append(tools, t)
	}
	return tools
}

// libunwind finds LLVM's libunwind as libgcc_eh.a (optional: Rust std
// programs with panic=unwind need it).
func (h *hostProber) libunwind() HostTool {
	unwind := HostTool{Name: "libunwind", Package: fmt.Sprintf("libunwind-%d-dev", orDefault(h.p.LLVMMajor, 22))}
	unwind.Fix = "apt-get install " + unwind.Package
	if arch, hostArch := h.target.Arch(), triple.Host().Arch(); arch != hostArch {
		unwind.Problem = fmt.Sprintf("Rust std programs with panic=unwind cannot link: the host's LLVM libunwind is for %s, not %s", hostArch, arch)
		unwind.Fix = "build with panic=abort, or provide libgcc_eh.a in the prefix's lib/gcc/" + h.target.GNU() + "/"
		unwind.Package = ""
		return unwind
	}
	if cfg := findVersioned("llvm-config", h.p.LLVMMajor); cfg != "" {
		if out, err := runVersion(h.ctx, cfg, "--libdir"); err == nil {
			if a := filepath.Join(strings.TrimSpace(out), "libunwind.a"); fileExists(a) {
				unwind.Path, unwind.Version = a, "LLVM "+strings.TrimSpace(mustVersion(h.ctx, cfg, "--version"))
			}
		}
	}
	if unwind.Path == "" {
		unwind.Problem = "no LLVM libunwind.a: Rust std programs with panic=unwind cannot link (libgcc_eh.a)"
	}
	return unwind
}

// cbindgen finds cbindgen (want if given; optional: relibc's headers need
// one at least minCbindgen).
func (h *hostProber) cbindgen(want string) HostTool {
	cb := HostTool{Name: "cbindgen", Package: "",
		Fix: "build one with /work/shared/redox/tools/mkcbindgen.sh DIR (or `cargo install cbindgen`) and pass --cbindgen DIR/cbindgen, or put it on PATH"}
	cb.Path = want
	if cb.Path == "" {
		cb.Path = lookPath("cbindgen")
	} else if abs, err := filepath.Abs(cb.Path); err == nil {
		cb.Path = abs
	}
	if cb.Path == "" {
		cb.Problem = "no cbindgen on PATH: relibc's headers need cbindgen ≥ 0.29"
	} else if out, err := runVersion(h.ctx, cb.Path, "--version"); err != nil {
		cb.Problem = fmt.Sprintf("%s: %v", cb.Path, err)
	} else {
		cb.Version = firstLine(out)
		if !versionAtLeast(cb.Version, minCbindgen) {
			cb.Problem = fmt.Sprintf("%s is %s: relibc's headers need cbindgen ≥ 0.29", cb.Path, cb.Version)
		}
	}
	return cb
}

// llvmTools are the LLVM binutils behind the prefix's GNU names.
var llvmTools = []string{"ar", "nm", "ranlib", "objcopy", "objdump", "readelf", "strip", "strings", "size", "addr2line", "cxxfilt"}

// findRust returns the rustc or cargo to use: the one asked for, else the
// distribution's in /usr/bin, else the first on PATH that is not rustup.
func findRust(name, want string) (string, string) {
	if want != "" {
		p, err := exec.LookPath(want)
		if err != nil {
			return "", fmt.Sprintf("%s: %v", want, err)
		}
		p, _ = filepath.Abs(p)
		if isRustup(p) {
			return "", p + " is a rustup proxy: it obeys rust-toolchain.toml and downloads; name the toolchain's own " + name
		}
		return p, ""
	}
	if p := "/usr/bin/" + name; fileExists(p) && !isRustup(p) {
		return p, ""
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if fileExists(p) && !isRustup(p) {
			return p, ""
		}
	}
	return "", "no " + name + " on PATH other than rustup's proxy"
}

// isRustup reports a rustup proxy: a link to (or a copy of) the rustup
// binary, which lives in the same directory.
func isRustup(p string) bool {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false
	}
	if filepath.Base(real) == "rustup" || filepath.Base(real) == "rustup-init" {
		return true
	}
	r := filepath.Join(filepath.Dir(p), "rustup")
	a, errA := os.Stat(real)
	b, errB := os.Stat(r)
	return errA == nil && errB == nil && os.SameFile(a, b)
}

// findVersioned looks for name-<major> first, then name, then other
// versions, newest first.
func findVersioned(name string, major int) string {
	cands := []string{}
	if major > 0 {
		cands = append(cands, fmt.Sprintf("%s-%d", name, major))
	}
	cands = append(cands, name)
	for v := 30; v >= 14; v-- {
		if v != major {
			cands = append(cands, fmt.Sprintf("%s-%d", name, v))
		}
	}
	for _, c := range cands {
		if p := lookPath(c); p != "" {
			return p
		}
	}
	return ""
}

func clangCandidates(major int) []string {
	var out []string
	if major > 0 {
		out = append(out, fmt.Sprintf("clang-%d", major))
	}
	for v := 30; v >= 14; v-- {
		if v != major {
			out = append(out, fmt.Sprintf("clang-%d", v))
		}
	}
	return append(out, "clang")
}

// clangTriple is the triple clang compiles target's C for.
func clangTriple(t triple.Triple) string { return t.GNU() }

// compilerRT returns clang's compiler-rt builtins archive for target's
// architecture, or "".
func compilerRT(ctx context.Context, clang string, t triple.Triple) string {
	arch := t.Arch()
	switch arch {
	case "i586", "i686":
		arch = "i386"
	case "riscv64gc":
		arch = "riscv64"
	}
	out, err := runVersion(ctx, clang, "--target="+arch+"-unknown-linux-gnu", "--rtlib=compiler-rt", "-print-libgcc-file-name")
	if err != nil {
		return ""
	}
	p := strings.TrimSpace(out)
	if !fileExists(p) {
		return ""
	}
	return p
}

func lookPath(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return abs
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// maxVersionOutput bounds what a version query may print (rustc's
// target list, the longest answer, is about 10 KiB).
const maxVersionOutput = 1 << 20

// cappedBuffer keeps what a tool prints, failing the write that would
// take it past max (the tool then dies of a broken pipe). The buffer is a
// field, not embedded, so that io.Copy cannot go around Write by its ReadFrom.
type cappedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.max {
		b.over = true
		return 0, errors.New("too much output")
	}
	return b.buf.Write(p)
}

func (b *cappedBuffer) String() string { return b.buf.String() }

// runVersion runs a tool's version query (a few seconds at most) and
// returns its output. A tool that prints without end is stopped at
// maxVersionOutput; one that leaves a child holding its output open is
// not waited for beyond a second after it exits.
func runVersion(ctx context.Context, path string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "RUSTC_BOOTSTRAP=1", "LC_ALL=C")
	cmd.WaitDelay = time.Second
	out := &cappedBuffer{max: maxVersionOutput}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	switch {
	case out.over:
		err = fmt.Errorf("printed more than %d KiB", maxVersionOutput>>10)
	case errors.Is(err, exec.ErrWaitDelay):
		err = nil // it answered and exited; a child it left kept the output open
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", path, strings.Join(args, " "), err, strings.TrimSpace(firstLine(out.String())))
	}
	return out.String(), nil
}

func mustVersion(ctx context.Context, path string, args ...string) string {
	out, _ := runVersion(ctx, path, args...)
	return firstLine(out)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func containsLine(s, want string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func fileDigest(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "unreadable"
	}
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:8])
}

var versionRE = regexp.MustCompile(`(\d+)\.(\d+)(?:\.(\d+))?`)

// versionAtLeast reports whether the first x.y[.z] in s is at least min.
func versionAtLeast(s string, min [3]int) bool {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	var v [3]int
	for i := 0; i < 3; i++ {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	for i := 0; i < 3; i++ {
		if v[i] != min[i] {
			return v[i] > min[i]
		}
	}
	return true
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
