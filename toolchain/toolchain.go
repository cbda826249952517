// Package toolchain finds or makes the compilers for a target: a Redox prefix (prebuilt or bootstrapped from the host), Linux cross prefixes, the host's.
package toolchain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/triple"
)

// Toolchain is what was found for one target.
type Toolchain struct {
	Target triple.Triple

	// Prefix is the directory holding this target's prebuilt tools, laid out
	// as upstream's prefix/<target>: sysroot/bin holds the <gnu>-gcc ...
	// commands and sysroot/ is COOKBOOK_HOST_SYSROOT. Empty for the host.
	Prefix string

	// HostSysroot is COOKBOOK_HOST_SYSROOT: the prefix's sysroot, or /usr
	// for the host.
	HostSysroot string

	// Path lists directories to put first on PATH.
	Path []string

	// Hide lists host directories a sandboxed build must not see: the
	// default include and library directories of a Debian cross compiler,
	// which would otherwise leak the host's cross libc into the build.
	Hide []string

	// Tools maps a tool variable (CC, CXX, ...) to the command found for it
	// ("" when missing).
	Tools map[string]string

	// Missing explains each missing tool and how to get it.
	Missing []string

	// Clang reports a Linux cross prefix whose tools are clang --target and
	// LLVM's binutils rather than Debian's cross gcc.
	Clang bool

	// Provider says where a Redox prefix came from ("" for the host and
	// Linux cross targets).
	Provider Provider

	// Versions maps each host tool of a bootstrapped prefix to its version.
	Versions map[string]string

	// Optional explains each optional tool that is missing (cbindgen,
	// libgcc_eh.a) and how to get it; the toolchain is Ready without them.
	Optional []string

	// RustSysroot is the Rust sysroot a bootstrapped prefix builds with;
	// StdVendor its standard library's vendored crates ("" if none), which
	// -Zbuild-std resolves through the same cargo source replacement as
	// the recipe's crates.
	RustSysroot, StdVendor string

	// CargoArgs are added to every cargo call of cookbook_redoxer (and so
	// cookbook_cargo): -Zbuild-std for a Rust without the target's
	// prebuilt standard library.
	CargoArgs []string

	identity func() string
	tag      []byte
}

// toolVars are the variables redoxer env sets, with the tool suffix each one
// gets after the GNU prefix.
var toolVars = []struct{ name, tool string }{
	{"AR", "gcc-ar"}, {"AS", "as"}, {"CC", "gcc"}, {"CXX", "g++"}, {"LD", "ld"}, {"NM", "gcc-nm"},
	{"OBJCOPY", "objcopy"}, {"OBJDUMP", "objdump"}, {"PKG_CONFIG", "pkg-config"}, {"RANLIB", "gcc-ranlib"},
	{"READELF", "readelf"}, {"STRIP", "strip"},
}

// Option adjusts Find.
type Option func(*findOptions)

type findOptions struct {
	clang     bool
	bootstrap BootstrapOptions
	noAuto    bool
}

// WithBootstrap sets the options of a bootstrapped Redox toolchain: Find
// assembles one when no prefix is installed, and again when the host's
// tools or these options changed.
func WithBootstrap(opts BootstrapOptions) Option {
	return func(o *findOptions) { o.bootstrap = opts }
}

// WithoutAutoBootstrap makes Find report a missing or stale prefix instead
// of making one: a Redox prefix bootstrapped, a Linux cross prefix
// assembled (for callers without the work directory's writer lock).
func WithoutAutoBootstrap() Option { return func(o *findOptions) { o.noAuto = true } }

// WithClang makes a Linux cross target use clang --target and LLVM's tools
// even when Debian's cross gcc is installed (without gcc, clang is used
// anyway when present).
func WithClang() Option { return func(o *findOptions) { o.clang = true } }

// PrefixDir is where cook keeps the prefix of target under a work directory.
func PrefixDir(work string, t triple.Triple) string { return filepath.Join(work, "prefix", string(t)) }

// Find locates the toolchain for target. work is cook's work directory,
// where prefixes live. For a Linux cross target whose Debian cross compiler
// is installed, Find assembles the prefix on first use (see EnsureLinuxPrefix).
func Find(ctx context.Context, target triple.Triple, work string, opts ...Option) (*Toolchain, error) {
	var o findOptions
	for _, opt := range opts {
		opt(&o)
	}
	tc := &Toolchain{Target: target, Tools: map[string]string{}}
	tc.identity = sync.OnceValue(tc.computeIdentity)
	switch {
	case target.IsHost():
		tc.HostSysroot = "/usr"
		for _, v := range toolVars {
			tc.lookup(v.name, hostToolName(v.tool), "install Debian's build-essential")
		}
	case target.IsRedox():
		tc.Prefix = PrefixDir(work, target)
		tc.HostSysroot = filepath.Join(tc.Prefix, "sysroot")
		tc.Path = []string{filepath.Join(tc.HostSysroot, "bin")}
		fix, err := tc.findRedox(ctx, work, o)
		if err != nil {
			return nil, err
		}
		for _, v := range toolVars {
			switch {
			case v.name == "PKG_CONFIG":
				tc.Tools[v.name] = target.GNU() + "-pkg-config" // cook's wrapper, always present
			case fix == "": // no prefix: tc.Missing already says what to run
				tc.Tools[v.name] = ""
			default:
				tc.lookup(v.name, target.GNU()+"-"+v.tool, fix)
			}
		}
	default: // a Linux cross target: Debian's cross compiler behind a prefix of wrappers
		tc.Prefix = PrefixDir(work, target)
		tc.HostSysroot = filepath.Join(tc.Prefix, "sysroot")
		tc.Path = []string{filepath.Join(tc.HostSysroot, "bin")}
		gnu := target.GNU()
		tc.Hide = []string{filepath.Join("/usr", gnu, "include"), filepath.Join("/usr", gnu, "lib")}
		_, gccErr := exec.LookPath(gnu + "-gcc")
		_, clangErr := exec.LookPath("clang")
		_, lldErr := exec.LookPath("ld.lld")
		haveClang := clangErr == nil && lldErr == nil
		useClang := o.clang || gccErr != nil && haveClang
		switch {
		case useClang && !haveClang:
			tc.Missing = append(tc.Missing, "clang and ld.lld: not found on PATH; install Debian's clang and lld")
		case !useClang && gccErr != nil:
			tc.Missing = append(tc.Missing, fmt.Sprintf("%s-gcc: not found on PATH; install Debian's gcc-%s and libc6-dev-%s-cross (or clang and lld with libc6-dev-%s-cross)",
				gnu, debArch(target), debArch(target), debArch(target)))
		}
		if len(tc.Missing) > 0 {
			break
		}
		if ready, _ := linuxPrefixReady(target, tc.Prefix, useClang); !ready && o.noAuto {
			tc.Missing = append(tc.Missing, fmt.Sprintf("the cross prefix in %s is not assembled or out of date; a build assembles it", tc.Prefix))
			break
		}
		if err := EnsureLinuxPrefix(ctx, target, tc.Prefix, useClang); err != nil {
			return nil, err
		}
		tc.Clang = useClang
		for _, v := range toolVars {
			if v.name == "PKG_CONFIG" {
				tc.Tools[v.name] = gnu + "-pkg-config"
				continue
			}
			tc.lookup(v.name, gnu+"-"+v.tool, "install Debian's gcc-"+debArch(target))
		}
	}
	return tc, nil
}

func hostToolName(tool string) string {
	switch tool {
	case "gcc-ar":
		return "ar"
	case "gcc-nm":
		return "nm"
	case "gcc-ranlib":
		return "ranlib"
	}
	return tool
}

func debArch(t triple.Triple) string {
	switch t.Arch() {
	case "x86_64":
		return "x86-64-linux-gnu"
	case "aarch64":
		return "aarch64-linux-gnu"
	case "riscv64gc", "riscv64":
		return "riscv64-linux-gnu"
	case "i686", "i586":
		return "i686-linux-gnu"
	}
	return t.GNU()
}

// lookup finds command on the toolchain's PATH, then the host's.
func (tc *Toolchain) lookup(name, command, fix string) {
	for _, dir := range tc.Path {
		p := filepath.Join(dir, command)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			tc.Tools[name] = command
			return
		}
	}
	if _, err := exec.LookPath(command); err == nil {
		tc.Tools[name] = command
		return
	}
	tc.Tools[name] = ""
	tc.Missing = append(tc.Missing, fmt.Sprintf("%s (%s): not found; %s", command, name, fix))
}

// Ready reports whether every tool was found.
func (tc *Toolchain) Ready() bool { return len(tc.Missing) == 0 }

// Env returns the cross environment redoxer env would set for this target
// (spec/cookbook.md §5.4): the tool variables and their _<triple> twins,
// CARGO_TARGET_<TRIPLE>_LINKER, TARGET and GNU_TARGET. RUSTFLAGS and CPPFLAGS
// are recomputed at cargo call time by the cookbook_redoxer wrapper.
func (tc *Toolchain) Env() map[string]string {
	t := tc.Target
	env := map[string]string{
		"TARGET":     string(t),
		"GNU_TARGET": t.GNU(),
	}
	for _, v := range toolVars {
		cmd := tc.Tools[v.name]
		if cmd == "" {
			continue
		}
		env[v.name] = cmd
		if !t.IsHost() {
			env[v.name+"_"+t.Underscored()] = cmd
		}
	}
	if cc := env["CC"]; cc != "" {
		env["CARGO_TARGET_"+t.Upper()+"_LINKER"] = cc
	}
	if tc.Provider == Bootstrapped {
		env["RUSTC_BOOTSTRAP"] = "1" // -Z flags and #![feature] on the host's stable rustc
	}
	return env
}

// Identity returns a digest of what makes this toolchain produce what it
// produces: the target and each tool's resolved path, size and modification
// time, and the prefix sysroot's tag. It changes when a compiler is upgraded.
func (tc *Toolchain) Identity() string {
	if tc.identity == nil { // a Toolchain not made by Find
		return tc.computeIdentity()
	}
	return tc.identity()
}

func (tc *Toolchain) computeIdentity() string {
	h := sha256.New()
	fmt.Fprintf(h, "target %s\n", tc.Target)
	if tc.Provider == Bootstrapped {
		// the tag names every host tool's version, path, size and time and
		// digests the generated wrappers
		h.Write(tc.tag)
		return hex.EncodeToString(h.Sum(nil))
	}
	names := make([]string, 0, len(tc.Tools))
	for n := range tc.Tools {
		names = append(names, n)
	}
	sort.Strings(names)
	pathEnv := strings.Join(append(append([]string{}, tc.Path...), os.Getenv("PATH")), string(os.PathListSeparator))
	for _, n := range names {
		cmd := tc.Tools[n]
		fmt.Fprintf(h, "%s=%s", n, cmd)
		if p := lookPathIn(cmd, pathEnv); p != "" {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				p = real
			}
			if st, err := os.Stat(p); err == nil {
				fmt.Fprintf(h, " %s %d %d", p, st.Size(), st.ModTime().UnixNano())
			}
		}
		fmt.Fprintln(h)
	}
	if tc.Prefix != "" {
		if b, err := os.ReadFile(filepath.Join(tc.Prefix, "sysroot", ".cook-prefix")); err == nil {
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func lookPathIn(cmd, pathEnv string) string {
	if cmd == "" {
		return ""
	}
	if strings.Contains(cmd, "/") {
		return cmd
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		p := filepath.Join(dir, cmd)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// EnsureLinuxPrefix assembles the prefix for a Linux cross target from the
// Debian cross toolchain: sysroot/usr/{include,lib} hold the cross libc
// (hard-linked, or copied across filesystems) with its linker scripts
// rewritten to sysroot-relative paths, and sysroot/bin holds <gnu>-gcc,
// -g++ and -cpp wrappers passing --sysroot, so that nothing from the host's
// /usr/<gnu> is used. It is done once; a tag file marks a complete prefix.
func EnsureLinuxPrefix(ctx context.Context, t triple.Triple, prefix string, clang bool) error {
	ready, want := linuxPrefixReady(t, prefix, clang)
	if ready {
		return nil
	}
	sysroot := filepath.Join(prefix, "sysroot")
	gnu := t.GNU()
	src := filepath.Join("/usr", gnu)
	if _, err := os.Stat(filepath.Join(src, "include")); err != nil {
		return fmt.Errorf("toolchain %s: %s has no include/; install Debian's libc6-dev-%s-cross", t, src, debArch(t))
	}
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return fmt.Errorf("toolchain %s: %w", t, err)
	}
	tmp, err := os.MkdirTemp(prefix, "sysroot.tmp-")
	if err != nil {
		return fmt.Errorf("toolchain %s: %w", t, err)
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"include", "lib"} {
		if err := linkTree(ctx, filepath.Join(src, d), filepath.Join(tmp, "usr", d)); err != nil {
			return fmt.Errorf("toolchain %s: %w", t, err)
		}
	}
	if err := rewriteLinkerScripts(filepath.Join(tmp, "usr", "lib"), src); err != nil {
		return fmt.Errorf("toolchain %s: %w", t, err)
	}
	for _, l := range []string{"include", "lib"} {
		if err := os.Symlink("usr/"+l, filepath.Join(tmp, l)); err != nil {
			return err
		}
	}
	bin := filepath.Join(tmp, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	wrappers := gccWrappers(gnu)
	if clang {
		wrappers = clangWrappers(gnu)
	}
	for name, script := range wrappers {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".cook-prefix"), []byte(want), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(sysroot); err != nil {
		return err
	}
	return os.Rename(tmp, sysroot)
}

// gccWrappers are the prefix's compiler commands over Debian's cross gcc,
// with the prefix's sysroot.
func gccWrappers(gnu string) map[string]string {
	out := map[string]string{}
	for _, tool := range []string{"gcc", "g++", "cpp", "c++", "cc"} {
		real := "/usr/bin/" + gnu + "-" + tool
		if tool == "cc" || tool == "c++" {
			real = "/usr/bin/" + gnu + "-" + map[string]string{"cc": "gcc", "c++": "g++"}[tool]
		}
		if _, err := os.Stat(real); err != nil {
			continue
		}
		out[gnu+"-"+tool] = fmt.Sprintf("#!/bin/sh\n# cook: %s with the prefix sysroot\nexec %s --sysroot=\"$(dirname \"$0\")/..\" \"$@\"\n", tool, real)
	}
	return out
}

// clangWrappers are the prefix's tools as clang --target=<gnu> with the
// prefix's sysroot and lld, and LLVM's binutils, under the GNU names build
// scripts call.
func clangWrappers(gnu string) map[string]string {
	cc := func(driver, extra string) string {
		return fmt.Sprintf("#!/bin/sh\n# cook: %s --target=%s with the prefix sysroot\nexec %s --target=%s --sysroot=\"$(dirname \"$0\")/..\" -fuse-ld=lld%s \"$@\"\n",
			driver, gnu, driver, gnu, extra)
	}
	tool := func(real string) string { return fmt.Sprintf("#!/bin/sh\nexec %s \"$@\"\n", real) }
	return map[string]string{
		gnu + "-gcc": cc("clang", ""), gnu + "-cc": cc("clang", ""),
		gnu + "-g++": cc("clang++", ""), gnu + "-c++": cc("clang++", ""),
		gnu + "-cpp": cc("clang", " -E"),
		gnu + "-as":  cc("clang", " -c -x assembler"),
		gnu + "-ld":  tool("ld.lld"),
		gnu + "-ar":  tool("llvm-ar"), gnu + "-gcc-ar": tool("llvm-ar"),
		gnu + "-nm": tool("llvm-nm"), gnu + "-gcc-nm": tool("llvm-nm"),
		gnu + "-ranlib": tool("llvm-ranlib"), gnu + "-gcc-ranlib": tool("llvm-ranlib"),
		gnu + "-objcopy": tool("llvm-objcopy"), gnu + "-objdump": tool("llvm-objdump"),
		gnu + "-readelf": tool("llvm-readelf"), gnu + "-strip": tool("llvm-strip"),
	}
}

// linuxPrefixReady says whether the Linux cross prefix is assembled and
// current, and returns the tag a current one has.
func linuxPrefixReady(t triple.Triple, prefix string, clang bool) (bool, string) {
	want := prefixTag(filepath.Join("/usr", t.GNU()))
	if clang {
		want += "clang\n"
	}
	b, _, err := fsutil.ReadRegular(filepath.Join(prefix, "sysroot", ".cook-prefix"), 64<<10)
	return err == nil && string(b) == want, want
}

// prefixTag identifies the Debian cross libc a prefix was made from.
func prefixTag(src string) string {
	var parts []string
	for _, f := range []string{"lib/libc.so.6", "lib/libc.a", "include/stdio.h"} {
		if st, err := os.Stat(filepath.Join(src, f)); err == nil {
			parts = append(parts, fmt.Sprintf("%s %d %d", f, st.Size(), st.ModTime().Unix()))
		}
	}
	return "debian-cross " + src + "\n" + strings.Join(parts, "\n") + "\n"
}

// linkTree mirrors src into dst with hard links, copying where linking
// fails. Files already in dst are replaced (later archives of a prefix win).
func linkTree(ctx context.Context, src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if _, err := os.Lstat(target); err == nil {
			if err := os.Remove(target); err != nil {
				return err
			}
		}
		if d.Type()&fs.ModeSymlink != 0 {
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		}
		if err := os.Link(p, target); err == nil {
			return nil
		}
		return fsutil.CopyFile(p, target, 0)
	})
}

// rewriteLinkerScripts replaces absolute /usr/<gnu>/lib paths in the small
// text linker scripts (libc.so, libm.so, ...) with /usr/lib, which ld then
// resolves inside --sysroot. The files are replaced, not edited in place,
// since they are hard links to the host's.
func rewriteLinkerScripts(lib, src string) error {
	entries, err := os.ReadDir(lib)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".so") {
			continue
		}
		p := filepath.Join(lib, e.Name())
		info, err := e.Info()
		if err != nil || info.Size() > 4096 {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "GROUP") && !strings.Contains(string(b), "INPUT") {
			continue
		}
		out := strings.ReplaceAll(string(b), filepath.Join(src, "lib")+"/", "/usr/lib/")
		if err := os.Remove(p); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ErrNotInstalled is returned when a Redox prefix is missing.
var ErrNotInstalled = errors.New("toolchain not installed")
