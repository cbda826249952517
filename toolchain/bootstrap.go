package toolchain

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/redox-cook/cook/triple"
)

// Provider says where a Redox target's toolchain comes from.
type Provider string

const (
	// Prebuilt is upstream's prefix download (cook toolchain install).
	Prebuilt Provider = "prebuilt"
	// Bootstrapped is a prefix assembled from the host's Rust and LLVM
	// (cook toolchain bootstrap).
	Bootstrapped Provider = "bootstrap"
)

// ErrBootstrapMissing is returned when the host lacks a tool a
// bootstrapped toolchain needs.
var ErrBootstrapMissing = errors.New("the host lacks tools for a bootstrapped toolchain")

// ErrPrebuiltPresent is returned when bootstrapping would replace a prebuilt
// prefix without BootstrapOptions.Replace.
var ErrPrebuiltPresent = errors.New("a prebuilt toolchain is installed")

// tagName is the file in a prefix's sysroot that says what it is.
const tagName = ".cook-prefix"

// bootstrapMagic starts the tag of a bootstrapped prefix.
const bootstrapMagic = "provider bootstrap\n"

// BootstrapResult says what Bootstrap made.
type BootstrapResult struct {
	Target  triple.Triple
	Sysroot string
	Probe   *HostProbe
	// Changed is false when the prefix was already up to date.
	Changed bool
}

// MarshalJSON writes the result as cook toolchain bootstrap --json prints
// it: target, sysroot, changed and the host tools found or missing.
func (r BootstrapResult) MarshalJSON() ([]byte, error) {
	var tools []HostTool
	if r.Probe != nil {
		tools = r.Probe.Tools
	}
	return json.Marshal(map[string]any{"target": r.Target, "sysroot": r.Sysroot, "changed": r.Changed, "tools": tools})
}

// WriteText says whether the prefix changed and lists each host tool: its
// version and path, or what is missing and the fix.
func (r BootstrapResult) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.Changed {
		fmt.Fprintf(&b, "bootstrapped the %s toolchain in %s\n", r.Target, r.Sysroot)
	} else {
		fmt.Fprintf(&b, "the %s toolchain in %s is up to date\n", r.Target, r.Sysroot)
	}
	if r.Probe != nil {
		for _, t := range r.Probe.Tools {
			if t.Found() {
				fmt.Fprintf(&b, "  %-12s %s (%s)\n", t.Name, t.Version, t.Path)
			} else {
				fmt.Fprintf(&b, "  %-12s missing: %s; fix: %s\n", t.Name, t.Problem, t.Fix)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// MissingError lists what the host lacks, with the command that fixes it.
func MissingError(target triple.Triple, missing []HostTool) error {
	var b strings.Builder
	for _, t := range missing {
		fmt.Fprintf(&b, "\n  %s: %s; fix: %s", t.Name, t.Problem, t.Fix)
	}
	if apt := AptCommand(missing); apt != "" {
		fmt.Fprintf(&b, "\n  all at once: %s", apt)
	}
	return fmt.Errorf("toolchain %s: %w:%s", target, ErrBootstrapMissing, b.String())
}

// Bootstrap assembles target's prefix (PrefixDir(work, target)/sysroot)
// from the host's tools, as ProbeHost finds them: the cross tool names of
// upstream's prefix in sysroot/bin, cargo and rustc wrappers, rust-lld,
// cbindgen, and libgcc.a/libgcc_eh.a in sysroot/lib/gcc/<gnu>. The tag file
// records every tool's path, size, time and version, so Find notices a
// host upgrade and the toolchain identity covers every version. A prefix
// already matching is left alone; a prebuilt one is replaced only with
// opts.Replace.
func Bootstrap(ctx context.Context, target triple.Triple, work string, opts BootstrapOptions) (*BootstrapResult, error) {
	if !target.IsRedox() {
		return nil, fmt.Errorf("toolchain bootstrap: %s is not a Redox target", target)
	}
	p := ProbeHost(ctx, target, opts)
	if missing := p.Missing(); len(missing) > 0 {
		return nil, MissingError(target, missing)
	}
	prefix := PrefixDir(work, target)
	sysroot := filepath.Join(prefix, "sysroot")
	res := &BootstrapResult{Target: target, Sysroot: sysroot, Probe: p}
	files := bootstrapFiles(p)
	tag := bootstrapTag(p, opts, files)
	old, err := os.ReadFile(filepath.Join(sysroot, tagName))
	switch {
	case err == nil && string(old) == tag && filesPresent(sysroot, files):
		return res, nil
	case err == nil && !bytes.HasPrefix(old, []byte(bootstrapMagic)) && !opts.Replace:
		return nil, fmt.Errorf("toolchain bootstrap %s: %w in %s (bootstrap with --replace to replace it)", target, ErrPrebuiltPresent, sysroot)
	}
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, fmt.Errorf("toolchain bootstrap %s: %w", target, err)
	}
	tmp, err := os.MkdirTemp(prefix, "bootstrap.tmp-")
	if err != nil {
		return nil, fmt.Errorf("toolchain bootstrap %s: %w", target, err)
	}
	defer os.RemoveAll(tmp)
	ts := filepath.Join(tmp, "sysroot")
	for _, d := range []string{"bin", filepath.Join("lib", "gcc", target.GNU()), filepath.Join(target.GNU(), "include"), filepath.Join(target.GNU(), "lib")} {
		if err := os.MkdirAll(filepath.Join(ts, d), 0o755); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedKeys(files) {
		f := files[name]
		p := filepath.Join(ts, name)
		if f.Link != "" {
			err = os.Symlink(f.Link, p)
		} else {
			err = os.WriteFile(p, []byte(f.Text), 0o755)
		}
		if err != nil {
			return nil, fmt.Errorf("toolchain bootstrap %s: %w", target, err)
		}
	}
	if u := p.Tool("libunwind"); u.Found() {
		if err := buildLibgccEH(ctx, p, ts, filepath.Join(tmp, "eh")); err != nil {
			return nil, fmt.Errorf("toolchain bootstrap %s: libgcc_eh.a: %w", target, err)
		}
	}
	if err := os.WriteFile(filepath.Join(ts, tagName), []byte(tag), 0o644); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(sysroot); err == nil {
		if err := os.Rename(sysroot, filepath.Join(tmp, "old")); err != nil {
			return nil, fmt.Errorf("toolchain bootstrap %s: %w", target, err)
		}
	}
	if err := os.Rename(ts, sysroot); err != nil {
		return nil, fmt.Errorf("toolchain bootstrap %s: %w", target, err)
	}
	res.Changed = true
	return res, nil
}

// buildLibgccEH makes lib/gcc/<gnu>/libgcc_eh.a: LLVM's libunwind objects
// and the shim, compiled with the new gcc driver.
func buildLibgccEH(ctx context.Context, p *HostProbe, sysroot, dir string) error {
	gnu := p.Target.GNU()
	objs := filepath.Join(dir, "objs")
	if err := os.MkdirAll(objs, 0o755); err != nil {
		return err
	}
	ar := p.Tool("llvm-ar").Path
	run := func(dir string, name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "REDOX_SYSROOT="+filepath.Join(sysroot, gnu))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run(objs, ar, "x", p.Tool("libunwind").Path); err != nil {
		return err
	}
	shim := filepath.Join(dir, "cook-eh-shim.c")
	if err := os.WriteFile(shim, []byte(ehShim), 0o644); err != nil {
		return err
	}
	if err := run(dir, filepath.Join(sysroot, "bin", gnu+"-gcc"), "-O2", "-fPIC", "-ffreestanding", "-c", shim, "-o", filepath.Join(objs, "cook-eh-shim.o")); err != nil {
		return err
	}
	entries, err := os.ReadDir(objs)
	if err != nil {
		return err
	}
	args := []string{"rcsD", filepath.Join(sysroot, "lib", "gcc", gnu, "libgcc_eh.a")}
	for _, e := range entries {
		args = append(args, filepath.Join(objs, e.Name()))
	}
	if err := run(dir, ar, args...); err != nil {
		return err
	}
	// Rust's unwind crate links -lgcc_s when not crt-static (DYNAMIC_INIT):
	// there is no shared unwinder here, so libgcc_s.so is a linker script
	// linking the static one into each program.
	return os.WriteFile(filepath.Join(sysroot, "lib", "gcc", gnu, "libgcc_s.so"), []byte(libgccS), 0o644)
}

// libgccS is lib/gcc/<gnu>/libgcc_s.so: Rust's unwind crate links -lgcc_s
// when not crt-static (DYNAMIC_INIT), and there is no shared unwinder here,
// so each program gets the static one.
const libgccS = "/* cook: no shared unwinder; link LLVM libunwind statically (docs/toolchains.md) */\nINPUT(libgcc_eh.a)\n"

// generator digests what this cook writes into a bootstrapped prefix (the
// wrapper templates, for every target, with placeholder tool paths): a
// prefix written by another cook version is assembled again.
var generator = sync.OnceValue(func() string {
	h := sha256.New()
	for _, t := range triple.RedoxTargets {
		p := &HostProbe{Target: t}
		for _, n := range []string{"rustc", "cargo", "rust-src", "ld.lld", "clang", "compiler-rt", "gnu-ld", "gnu-objcopy", "gnu-as", "cbindgen"} {
			p.Tools = append(p.Tools, HostTool{Name: n, Path: "/" + n})
		}
		for _, n := range llvmTools {
			p.Tools = append(p.Tools, HostTool{Name: "llvm-" + n, Path: "/llvm-" + n})
		}
		files := bootstrapFiles(p)
		for _, name := range sortedKeys(files) {
			fmt.Fprintf(h, "%s\x00%s\x00%s\x00", name, files[name].Link, files[name].Text)
		}
	}
	h.Write([]byte(ehShim))
	h.Write([]byte(libgccS))
	return hex.EncodeToString(h.Sum(nil))[:16]
})

// bootstrapTag is the tag of a bootstrapped prefix: the options, every host
// tool's path with its size and time (checked by Find), each version, and
// a digest of the generated files.
func bootstrapTag(p *HostProbe, opts BootstrapOptions, files map[string]prefixFile) string {
	var b strings.Builder
	b.WriteString(bootstrapMagic)
	fmt.Fprintf(&b, "target %s\n", p.Target)
	fmt.Fprintf(&b, "generator %s\n", generator())
	fmt.Fprintf(&b, "option rustc=%s\noption cargo=%s\noption cbindgen=%s\n", opts.Rustc, opts.Cargo, opts.Cbindgen)
	fmt.Fprintf(&b, "rust-sysroot %s\nstd-vendor %s\n", p.RustSysroot, p.StdVendor)
	for _, t := range p.Tools {
		if t.Found() {
			fmt.Fprintf(&b, "version %s %s\n", t.Name, t.Version)
		} else {
			fmt.Fprintf(&b, "missing %s %s; fix: %s\n", t.Name, t.Problem, t.Fix)
		}
	}
	for _, t := range p.Tools {
		if t.Path == "" {
			continue
		}
		for _, f := range identityFiles(t) { // found, or found but unusable (too old)
			fmt.Fprintf(&b, "file %s\n", statLine(f))
		}
	}
	h := sha256.New()
	for _, name := range sortedKeys(files) {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", name, files[name].Link, files[name].Text)
	}
	h.Write([]byte(ehShim))
	h.Write([]byte(libgccS))
	fmt.Fprintf(&b, "files %s\n", hex.EncodeToString(h.Sum(nil)))
	return b.String()
}

// identityFiles are the files whose change means t changed.
func identityFiles(t HostTool) []string {
	if t.Name == "rust-src" {
		return []string{filepath.Join(t.Path, "library", "Cargo.lock"), filepath.Join(t.Path, "library", "core", "src", "lib.rs")}
	}
	p := t.Path
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	return []string{p}
}

// statLine is "path size mtime" ("path missing" when it is gone).
func statLine(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return p + " missing"
	}
	return fmt.Sprintf("%s %d %d", p, st.Size(), st.ModTime().UnixNano())
}

func filesPresent(sysroot string, files map[string]prefixFile) bool {
	for name := range files {
		if _, err := os.Lstat(filepath.Join(sysroot, name)); err != nil {
			return false
		}
	}
	return true
}

// bootstrapInfo is what Find reads back from a bootstrapped prefix's tag.
type bootstrapInfo struct {
	opts        BootstrapOptions
	generator   string
	rustSysroot string
	stdVendor   string
	versions    map[string]string
	missing     map[string]string // optional tools missing: name → problem
	files       []string          // "path size mtime" lines
}

func parseBootstrapTag(tag []byte) (*bootstrapInfo, bool) {
	if !bytes.HasPrefix(tag, []byte(bootstrapMagic)) {
		return nil, false
	}
	in := &bootstrapInfo{versions: map[string]string{}, missing: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(tag))
	for sc.Scan() {
		key, rest, _ := strings.Cut(sc.Text(), " ")
		switch key {
		case "option":
			k, v, _ := strings.Cut(rest, "=")
			switch k {
			case "rustc":
				in.opts.Rustc = v
			case "cargo":
				in.opts.Cargo = v
			case "cbindgen":
				in.opts.Cbindgen = v
			}
		case "generator":
			in.generator = rest
		case "rust-sysroot":
			in.rustSysroot = rest
		case "std-vendor":
			in.stdVendor = rest
		case "version":
			n, v, _ := strings.Cut(rest, " ")
			in.versions[n] = v
		case "missing":
			n, v, _ := strings.Cut(rest, " ")
			in.missing[n] = v
		case "file":
			in.files = append(in.files, rest)
		}
	}
	return in, true
}

// fresh reports whether the prefix was written by this cook and every host
// file it was made from is as it was (same size and time).
func (in *bootstrapInfo) fresh() bool {
	if in.generator != generator() {
		return false
	}
	for _, line := range in.files {
		i := strings.LastIndexByte(line, ' ')
		j := strings.LastIndexByte(line[:max(i, 0)], ' ')
		if i < 0 || j < 0 {
			return false
		}
		if _, err := strconv.ParseInt(line[i+1:], 10, 64); err != nil {
			return false
		}
		if statLine(line[:j]) != line {
			return false
		}
	}
	return true
}

// choices are the options that shape a prefix (Replace does not).
func (o BootstrapOptions) choices() BootstrapOptions {
	return BootstrapOptions{Rustc: o.Rustc, Cargo: o.Cargo, Cbindgen: o.Cbindgen}
}

// PreviousOptions returns the options target's bootstrapped prefix under
// work was made with, so that a new bootstrap can keep what it is not told
// to change.
func PreviousOptions(work string, target triple.Triple) (BootstrapOptions, bool) {
	tag, err := os.ReadFile(filepath.Join(PrefixDir(work, target), "sysroot", tagName))
	if err != nil {
		return BootstrapOptions{}, false
	}
	in, ok := parseBootstrapTag(tag)
	if !ok {
		return BootstrapOptions{}, false
	}
	return in.opts, true
}

// findRedox settles which prefix a Redox target uses: a prebuilt one as
// installed; a bootstrapped one, re-assembled when a host tool or an option
// changed; none, in which case it bootstraps one when the host has every
// tool (unless WithoutAutoBootstrap). It returns the fix to name for tools
// missing from the prefix, or "" when there is no prefix (tc.Missing says
// why and what to run).
func (tc *Toolchain) findRedox(ctx context.Context, work string, o findOptions) (string, error) {
	t := tc.Target
	tagPath := filepath.Join(tc.HostSysroot, tagName)
	tag, err := os.ReadFile(tagPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("toolchain %s: %w", t, err)
	}
	install := "run `cook toolchain install --target " + string(t) + "`"
	bootstrap := "run `cook toolchain bootstrap --target " + string(t) + "`"
	if len(tag) > 0 {
		in, ok := parseBootstrapTag(tag)
		if !ok {
			tc.Provider = Prebuilt
			tc.tag = tag
			return install, nil
		}
		want := o.bootstrap
		if want.choices() == (BootstrapOptions{}) {
			want = in.opts // keep what the prefix was made with
		}
		if !in.fresh() || want.choices() != in.opts {
			if o.noAuto {
				tc.Provider = Bootstrapped
				tc.Missing = append(tc.Missing, fmt.Sprintf("the bootstrapped toolchain in %s is out of date (a host tool or an option changed); %s", tc.Prefix, bootstrap))
				return "", nil
			}
			if _, err := Bootstrap(ctx, t, work, want); err != nil {
				if errors.Is(err, ErrBootstrapMissing) {
					tc.Missing = append(tc.Missing, err.Error())
					return "", nil
				}
				return "", err
			}
			if tag, err = os.ReadFile(tagPath); err != nil {
				return "", err
			}
		}
		return bootstrap, tc.loadBootstrap(tag)
	}
	if o.noAuto {
		tc.Missing = append(tc.Missing, fmt.Sprintf("no toolchain in %s: %s (upstream's prebuilt one) or %s (from the host's Rust and LLVM)", tc.Prefix, install, bootstrap))
		return "", nil
	}
	if _, err := Bootstrap(ctx, t, work, o.bootstrap); err != nil {
		if errors.Is(err, ErrBootstrapMissing) {
			tc.Missing = append(tc.Missing, fmt.Sprintf("no prebuilt toolchain in %s (%s), and none can be bootstrapped from the host: %v", tc.Prefix, install, err))
			return "", nil
		}
		return "", err
	}
	if tag, err = os.ReadFile(tagPath); err != nil {
		return "", err
	}
	return bootstrap, tc.loadBootstrap(tag)
}

// loadBootstrap fills tc from a bootstrapped prefix's tag.
func (tc *Toolchain) loadBootstrap(tag []byte) error {
	in, ok := parseBootstrapTag(tag)
	if !ok {
		return fmt.Errorf("toolchain %s: %s is not a bootstrapped prefix's tag", tc.Target, filepath.Join(tc.HostSysroot, tagName))
	}
	tc.Provider = Bootstrapped
	tc.tag = tag
	tc.Versions = in.versions
	tc.RustSysroot, tc.StdVendor = in.rustSysroot, in.stdVendor
	tc.CargoArgs = []string{"-Zbuild-std=std,panic_abort"}
	for _, n := range sortedKeys(in.missing) {
		tc.Optional = append(tc.Optional, n+": "+in.missing[n])
	}
	return nil
}

// Or fills o's empty host programs from d.
func (o BootstrapOptions) Or(d BootstrapOptions) BootstrapOptions {
	for _, f := range []struct {
		dst *string
		src string
	}{{&o.Rustc, d.Rustc}, {&o.Cargo, d.Cargo}, {&o.Cbindgen, d.Cbindgen}} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	return o
}
