// Package build turns one recipe and its fetched source into staged trees
// and packages, the way upstream's cookbook does, but isolated: the recipe
// sees a sysroot holding only its declared dependencies, a scrubbed
// environment, a read-only recipe directory and a pristine source behind an
// overlay, and no network unless the recipe is explicitly allowed one.
package build

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zeebo/blake3"

	"github.com/redox-cook/cook/cargohome"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/repo"
	"github.com/redox-cook/cook/sandbox"
	"github.com/redox-cook/cook/script"
	"github.com/redox-cook/cook/sysroot"
	"github.com/redox-cook/cook/toolchain"
	"github.com/redox-cook/cook/workdir"
)

// Builder builds recipes of one tree for one target.
type Builder struct {
	Tree   *cookbook.Tree
	Work   workdir.Dir
	Target toolchain.Triple
	Key    *pkgar.SecretKey

	// Jobs is COOKBOOK_MAKE_JOBS, the parallelism inside one build.
	Jobs int
	// NoSandbox runs scripts directly on the host (--no-sandbox).
	NoSandbox bool
	// AllowNetwork names recipes that may use the network while they build;
	// their builds are reported as not hermetic.
	AllowNetwork map[string]bool
	// Offline marks builds offline (COOKBOOK_OFFLINE for cargo recipes).
	Offline bool
	// CargoHome is the cargo home shared by builds, holding crates the
	// fetch phase downloaded and the source-replacement config.
	CargoHome string
	// CargoRegistry, when set, replaces crates.io: a local directory
	// registry (such as Debian's /usr/share/cargo/registry) or an index URL.
	CargoRegistry string
	// CargoVendor, when set, is a `cargo vendor` directory replacing
	// crates.io and every git source of a recipe's Cargo.lock (package
	// cargohome): builds get a cargo home of their own, nothing is
	// downloaded.
	CargoVendor string
	// ToolchainOptions are passed to toolchain.Find.
	ToolchainOptions []toolchain.Option
	// Shims, when set, serves the wget and curl a build script runs from the
	// download cache (the sandbox has no network): a script that downloads
	// works when the fetch phase or an earlier run fetched the same URL.
	Shims ScriptShims
	// Output, when set, receives every build's output live (as well as its log).
	Output io.Writer
	Log    *slog.Logger
	// Cache, when set, is tried before a node is built and offered every
	// finished build (see package cache).
	Cache ActionCache

	mu         sync.Mutex
	toolchains map[toolchain.Triple]*toolchain.Toolchain
	outputs    map[cookbook.Node]string
	states     map[string]*stateFile
	closures   map[cookbook.Node][]Dep
	keyHex     string
	cargoSetup *cargohome.Setup
}

// ScriptShims starts the download commands of one build script: Start
// returns a directory to put first on PATH, extra environment, and a stop
// function to call when the script is done.
type ScriptShims interface {
	Start(ctx context.Context, recipe string) (dir string, env []string, stop func() error, err error)
}

// Result describes one finished build.
type Result struct {
	Node     cookbook.Node
	Target   toolchain.Triple
	Stage    string // main staged tree
	Package  string // main package archive ("" for a meta package)
	Log      string
	Output   string // digest of the staged trees
	Key      string // the action key it was built (or found cached) for
	Hermetic bool   // built in the sandbox without network
	Duration time.Duration
}

// Error is a failed build: the recipe, its log and the log's last lines.
type Error struct {
	Node cookbook.Node
	Log  string
	Tail string
	Err  error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("build %s: %v", e.Node, e.Err)
	if e.Tail != "" {
		msg += "\n" + indent(e.Tail, "    ")
	}
	if e.Log != "" {
		msg += "\n  log: " + e.Log
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// TargetOf is the triple n is built for: the host for host: nodes.
func (b *Builder) TargetOf(n cookbook.Node) toolchain.Triple {
	if n.Host {
		return toolchain.Host()
	}
	return b.Target
}

// Toolchain returns (and caches) the toolchain for t.
func (b *Builder) Toolchain(ctx context.Context, t toolchain.Triple) (*toolchain.Toolchain, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if tc, ok := b.toolchains[t]; ok {
		return tc, nil
	}
	tc, err := toolchain.Find(ctx, t, b.Work.Root, b.ToolchainOptions...)
	if err != nil {
		return nil, err
	}
	if b.toolchains == nil {
		b.toolchains = map[toolchain.Triple]*toolchain.Toolchain{}
	}
	b.toolchains[t] = tc
	return tc, nil
}

// SetOutput records a node's output digest, so that dependents need not
// hash its stage again.
func (b *Builder) SetOutput(n cookbook.Node, digest string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.outputs == nil {
		b.outputs = map[cookbook.Node]string{}
	}
	b.outputs[n] = digest
}

// OutputOf returns n's output digest, hashing its stages if not known.
func (b *Builder) OutputOf(ctx context.Context, n cookbook.Node) (string, error) {
	b.mu.Lock()
	d, ok := b.outputs[n]
	b.mu.Unlock()
	if ok {
		return d, nil
	}
	if rec, err := b.Record(n); err == nil && rec != nil && b.outputsPresent(n) {
		b.SetOutput(n, rec.Output)
		return rec.Output, nil
	}
	d, err := b.stageDigest(ctx, n)
	if err != nil {
		return "", err
	}
	b.SetOutput(n, d)
	return d, nil
}

func (b *Builder) stageDigest(ctx context.Context, n cookbook.Node) (string, error) {
	r, err := b.Tree.Lookup(n.Name)
	if err != nil {
		return "", err
	}
	t := string(b.TargetOf(n))
	main, err := TreeDigest(ctx, b.Work.Stage(n.Name, t, ""))
	if err != nil || len(r.OptionalPackages) == 0 {
		return main, err
	}
	// with optional packages: one digest over every package's tree
	h := blake3.New()
	fmt.Fprintf(h, "=%s\n", main)
	for _, opt := range optionalNames(r) {
		d, err := TreeDigest(ctx, b.Work.Stage(n.Name, t, opt))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s=%s\n", opt, d)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func optionalNames(r *cookbook.Recipe) []string {
	var out []string
	for _, o := range r.OptionalPackages {
		out = append(out, o.Name)
	}
	return out
}

// Dep is one entry of a recipe's sysroot: a node and, for "name.suffix"
// entries, the optional package it is limited to.
type Dep struct {
	Node   cookbook.Node
	Suffix string
}

// Name is the package name: "zlib" or "llvm21.dev".
func (d Dep) Name() string {
	if d.Suffix != "" {
		return d.Node.Name + "." + d.Suffix
	}
	return d.Node.Name
}

// SysrootDeps returns what goes into n's sysroot and toolchain directories
// (spec/cookbook.md §6.1): its direct build and dev dependencies plus the
// transitive closure of build dependencies below them, sorted by name. For a
// target node, host: entries are returned as tools; a host node's
// dependencies are all in its sysroot.
func (b *Builder) SysrootDeps(n cookbook.Node) (sysrootDeps, tools []Dep) {
	seen := map[Dep]bool{}
	var all []Dep
	add := func(d Dep) {
		if !seen[d] {
			seen[d] = true
			all = append(all, d)
		}
	}
	for _, e := range b.Tree.Deps(n) {
		if e.Kind == cookbook.BuildEdge || e.Kind == cookbook.DevEdge {
			add(Dep{Node: e.To, Suffix: e.Dep.Suffix})
			for _, d := range b.buildClosure(e.To) {
				add(d)
			}
		}
	}
	sort.Slice(all, func(i, j int) bool {
		return all[i].Name() < all[j].Name() || all[i].Name() == all[j].Name() && !all[i].Node.Host
	})
	for _, d := range all {
		if d.Node.Host && !n.Host {
			tools = append(tools, d)
		} else {
			sysrootDeps = append(sysrootDeps, d)
		}
	}
	return sysrootDeps, tools
}

// buildClosure is every entry reachable from n through build dependencies
// (not n itself), memoised: dependents share their dependencies' closures.
func (b *Builder) buildClosure(n cookbook.Node) []Dep {
	b.mu.Lock()
	c, ok := b.closures[n]
	b.mu.Unlock()
	if ok {
		return c
	}
	seen := map[Dep]bool{}
	for _, e := range b.Tree.Deps(n) {
		if e.Kind != cookbook.BuildEdge {
			continue
		}
		d := Dep{Node: e.To, Suffix: e.Dep.Suffix}
		if !seen[d] {
			seen[d] = true
			c = append(c, d)
		}
		for _, d := range b.buildClosure(e.To) {
			if !seen[d] {
				seen[d] = true
				c = append(c, d)
			}
		}
	}
	b.mu.Lock()
	if b.closures == nil {
		b.closures = map[cookbook.Node][]Dep{}
	}
	b.closures[n] = c
	b.mu.Unlock()
	return c
}

// Build builds n. Its dependencies must have been built already.
func (b *Builder) Build(ctx context.Context, n cookbook.Node) (*Result, error) {
	start := time.Now()
	r, err := b.Tree.Lookup(n.Name)
	if err != nil {
		return nil, err
	}
	if r.HasErrors() {
		return nil, &Error{Node: n, Err: fmt.Errorf("%s cannot be loaded: %s", r.Path, r.Diagnostics[0].Message)}
	}
	T := b.TargetOf(n)
	t := string(T)
	w := b.Work
	res := &Result{Node: n, Target: T, Stage: w.Stage(n.Name, t, ""), Log: w.Log(n.Name, t), Hermetic: !b.NoSandbox && !b.AllowNetwork[n.Name]}

	if err := os.MkdirAll(filepath.Dir(res.Log), 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(res.Log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	tail := &tailBuffer{max: 25}
	var out io.Writer = io.MultiWriter(logf, tail)
	if b.Output != nil {
		out = io.MultiWriter(out, b.Output)
	}
	stageTmp := filepath.Join(w.Target(n.Name, t), "stage.tmp")
	fail := func(err error) (*Result, error) {
		os.RemoveAll(stageTmp) // never leave a half-written stage behind
		fmt.Fprintf(logf, "\ncook: build failed: %v\n", err)
		return nil, &Error{Node: n, Log: res.Log, Tail: tail.String(), Err: err}
	}
	fmt.Fprintf(out, "cook: building %s for %s\n", n, t)

	info, err := repo.ReadSourceInfo(w.SourceInfo(n.Name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(err)
	}
	sourceDir, err := b.sourceDir(r)
	if err != nil {
		return fail(err)
	}

	if r.Build.Template == cookbook.TemplateNone {
		if err := os.RemoveAll(res.Stage); err != nil {
			return fail(err)
		}
		if err := os.MkdirAll(res.Stage, 0o755); err != nil {
			return fail(err)
		}
		if _, err := repo.PackageRecipe(ctx, repo.Build{Work: w, Recipe: n.Name, Target: t, Meta: true,
			Depends: names(r.Package.Dependencies), Source: info, Key: b.Key}); err != nil {
			return fail(err)
		}
		return b.finish(ctx, n, res, start)
	}
	if r.Build.Template == cookbook.TemplateRemote {
		return fail(errors.New(`template "remote" (prebuilt packages from the binary repository) is not supported: cook builds from source`))
	}

	tc, err := b.Toolchain(ctx, T)
	if err != nil {
		return fail(err)
	}
	if !tc.Ready() {
		return fail(fmt.Errorf("toolchain for %s is incomplete:\n  %s", T, strings.Join(tc.Missing, "\n  ")))
	}

	// Sysroot and toolchain directories from the dependencies' stages.
	deps, tools := b.SysrootDeps(n)
	sysrootDir := w.Sysroot(n.Name, t)
	if _, err := b.assemble(ctx, sysrootDir, deps); err != nil {
		return fail(err)
	}
	toolDir := ""
	if n.Host {
		toolDir = sysrootDir
	} else if len(tools) > 0 {
		toolDir = w.Toolchain(n.Name, t)
		if _, err := b.assemble(ctx, toolDir, tools); err != nil {
			return fail(err)
		}
	}

	// Directories the script writes.
	target := w.Target(n.Name, t)
	buildDir := w.Build(n.Name, t)
	home := filepath.Join(target, "home")
	tmpDir := filepath.Join(target, "tmp")
	for _, d := range []string{stageTmp, tmpDir} {
		if err := os.RemoveAll(d); err != nil {
			return fail(err)
		}
	}
	for _, d := range []string{buildDir, stageTmp, home, tmpDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
	}
	toolsBin, err := b.writeTools(tc)
	if err != nil {
		return fail(err)
	}
	cargoHome, err := b.prepareCargoHome(ctx, n.Name, tc, sourceDir)
	if err != nil {
		return fail(err)
	}
	scriptPath := filepath.Join(target, "build.sh")
	if err := os.WriteFile(scriptPath, []byte(script.Build(r)), 0o644); err != nil {
		return fail(err)
	}

	env := b.environment(r, n, tc, envPaths{
		build: buildDir, stage: stageTmp, source: sourceDir, sysroot: sysrootDir, toolchain: toolDir,
		home: home, tmp: tmpDir, tools: toolsBin, cargoHome: cargoHome,
	}, info)

	if b.Shims != nil && !b.AllowNetwork[r.Name] {
		dir, extra, stop, err := b.Shims.Start(ctx, r.Name)
		if err != nil {
			return fail(fmt.Errorf("download shims: %w", err))
		}
		defer stop()
		for i, kv := range env {
			if strings.HasPrefix(kv, "PATH=") {
				env[i] = "PATH=" + dir + ":" + strings.TrimPrefix(kv, "PATH=")
			}
		}
		env = append(env, extra...)
	}
	cmd, cleanup, err := b.command(ctx, n, r, tc, scriptPath, buildDir, sourceDir, sysrootDir, toolDir, env)
	if err != nil {
		return fail(err)
	}
	defer cleanup()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Stdin = nil
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		return fail(fmt.Errorf("script failed: %v", err))
	}

	// Split optional packages out of the stage, then swap it in.
	if len(r.OptionalPackages) > 0 {
		if err := splitOptional(stageTmp, r.OptionalPackages, func(opt string) string { return w.Stage(n.Name, t, opt) }); err != nil {
			return fail(err)
		}
	}
	if err := os.RemoveAll(res.Stage); err != nil {
		return fail(err)
	}
	if err := os.Rename(stageTmp, res.Stage); err != nil {
		return fail(err)
	}

	// Package: runtime dependencies, archives, metadata.
	pb := repo.Build{Work: w, Recipe: n.Name, Target: t, Version: GuessVersion(r, sourceDir),
		Depends: names(r.Package.Dependencies), Source: info, Key: b.Key}
	for _, o := range r.OptionalPackages {
		pb.Optional = append(pb.Optional, repo.Optional{Name: o.Name, Depends: names(o.Dependencies)})
	}
	for _, d := range deps {
		if d.Node.Host {
			continue
		}
		pb.Providers = append(pb.Providers, repo.Provider{Name: d.Name(), Pkgar: w.Pkgar(d.Node.Name, string(b.TargetOf(d.Node)), d.Suffix)})
	}
	pb.StaticRuntime = map[string][]string{}
	for _, e := range b.Tree.Deps(n) {
		if e.Kind == cookbook.BuildEdge && !e.To.Host {
			pb.Direct = append(pb.Direct, e.To.Name)
			pb.StaticRuntime[e.To.Name] = b.runtimeClosure(e.To)
		}
	}
	if n.Host {
		pb.AutoDeps = []string{} // host packages are never installed on the target
	}
	pres, err := repo.PackageRecipe(ctx, pb)
	if err != nil {
		return fail(err)
	}
	for i, p := range pres.Packages {
		if p.Name == n.Name {
			res.Package = pres.Archives[i]
		}
	}
	return b.finish(ctx, n, res, start)
}

func (b *Builder) finish(ctx context.Context, n cookbook.Node, res *Result, start time.Time) (*Result, error) {
	d, err := b.stageDigest(ctx, n)
	if err != nil {
		return nil, err
	}
	b.SetOutput(n, d)
	res.Output = d
	res.Duration = time.Since(start)
	return res, nil
}

// runtimeClosure lists n's package dependencies, recursively.
func (b *Builder) runtimeClosure(n cookbook.Node) []string {
	seen := map[string]bool{}
	var out []string
	var visit func(n cookbook.Node)
	visit = func(n cookbook.Node) {
		for _, e := range b.Tree.Deps(n) {
			if e.Kind == cookbook.PackageEdge && !seen[e.Dep.String()] {
				seen[e.Dep.String()] = true
				out = append(out, e.Dep.String())
				visit(e.To)
			}
		}
	}
	visit(n)
	sort.Strings(out)
	return out
}

func (b *Builder) assemble(ctx context.Context, dir string, deps []Dep) (bool, error) {
	var inputs []sysroot.Input
	for _, d := range deps {
		digest, err := b.OutputOf(ctx, d.Node)
		if err != nil {
			return false, err
		}
		inputs = append(inputs, sysroot.Input{Name: d.Name(), Stage: b.Work.Stage(d.Node.Name, string(b.TargetOf(d.Node)), d.Suffix), Digest: digest})
	}
	return sysroot.Assemble(ctx, dir, inputs)
}

// sourceDir returns the recipe's fetched source, resolved through same_as
// links. A recipe without [source] gets an empty one, with a warning.
func (b *Builder) sourceDir(r *cookbook.Recipe) (string, error) {
	dir := b.Work.Source(r.Name)
	if r.Source == nil {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			if b.Log != nil {
				b.Log.Debug("recipe has no [source]; building with an empty source directory", "recipe", r.Name)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", err
			}
		}
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return "", fmt.Errorf("the source of %s has not been fetched: run `cook fetch %s`", r.Name, r.Name)
		}
		return "", err
	}
	return real, nil
}

func names(ps []cookbook.PackageName) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// writeTools writes cookbook_redoxer and the pkg-config wrapper for tc's
// target into the work directory, once per content.
func (b *Builder) writeTools(tc *toolchain.Toolchain) (string, error) {
	dir := filepath.Join(b.Work.Root, "tools", string(tc.Target), "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cargo, extra := cargoFor(tc)
	for name, content := range script.Tools(string(tc.Target), tc.Target.GNU(), cargo, extra) {
		p := filepath.Join(dir, name)
		if old, err := os.ReadFile(p); err == nil && string(old) == content {
			continue
		}
		if err := pkgar.WriteFileAtomic(p, []byte(content), 0o755); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// cargoFor picks the cargo command for a target: the prefix's own for Redox
// targets with a prebuilt Rust, or a bootstrapped prefix's wrapper with the
// -Zbuild-std its Rust needs; otherwise the host's cargo.
func cargoFor(tc *toolchain.Toolchain) (string, []string) {
	if tc.Prefix != "" {
		p := filepath.Join(tc.HostSysroot, "bin", "cargo")
		if _, err := os.Stat(p); err == nil {
			return p, tc.CargoArgs
		}
	}
	return "cargo", nil
}

// cargoHomes is how builds get their crates (package cargohome).
func (b *Builder) cargoHomes() *cargohome.Setup {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cargoSetup == nil {
		b.cargoSetup = &cargohome.Setup{Shared: b.CargoHome, Registry: b.CargoRegistry, Vendor: b.CargoVendor}
	}
	return b.cargoSetup
}

// prepareCargoHome returns the CARGO_HOME for a build of recipe with tc
// from sourceDir, its config written (package cargohome): the shared home,
// or with CargoVendor one of the recipe's own whose config replaces the
// sources its Cargo.lock files name.
func (b *Builder) prepareCargoHome(ctx context.Context, recipe string, tc *toolchain.Toolchain, sourceDir string) (string, error) {
	if b.CargoHome == "" {
		return "", nil
	}
	return b.cargoHomes().Prepare(ctx, string(tc.Target)+"/"+recipe, sourceDir, tc.StdVendor)
}

type envPaths struct {
	build, stage, source, sysroot, toolchain, home, tmp, tools, cargoHome string
}

// environment is the complete, scrubbed environment of a build script.
func (b *Builder) environment(r *cookbook.Recipe, n cookbook.Node, tc *toolchain.Toolchain, p envPaths, info repo.SourceInfo) []string {
	env := map[string]string{}
	path := append([]string{}, tc.Path...)
	path = append(path, p.tools)
	path = append(path, rustPath()...)
	path = append(path, "/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin")
	env["PATH"] = strings.Join(dedupe(path), ":")
	env["HOME"] = p.home
	env["TMPDIR"] = p.tmp
	env["LANG"] = "C.UTF-8"
	env["TZ"] = "UTC"
	env["TERM"] = "dumb"
	env["SOURCE_DATE_EPOCH"] = "1"
	for k, v := range tc.Env() {
		env[k] = v
	}
	if tc.Target.IsRedox() && tc.Target.Arch() == "aarch64" {
		env["CPPFLAGS"] = "-mno-outline-atomics"
	}
	if tc.Target.IsRedox() && tc.Target.Arch() == "riscv64gc" {
		env["CPPFLAGS"] = "-march=rv64gc -mabi=lp64d"
	}
	if home := rustupHome(); home != "" {
		env["RUSTUP_HOME"] = home
	}
	if p.cargoHome != "" {
		env["CARGO_HOME"] = p.cargoHome
	}
	if !b.AllowNetwork[r.Name] {
		env["CARGO_NET_OFFLINE"] = "true"
	}
	root := b.Tree.Root
	env["COOKBOOK_REDOXER"] = filepath.Join(p.tools, "cookbook_redoxer")
	env["COOKBOOK_BUILD"] = p.build
	env["COOKBOOK_NAME"] = r.Name
	env["COOKBOOK_HOST_TARGET"] = string(toolchain.Host())
	env["COOKBOOK_HOST_SYSROOT"] = tc.HostSysroot
	env["COOKBOOK_RECIPE"] = r.Dir
	env["COOKBOOK_ROOT"] = root
	env["COOKBOOK_STAGE"] = p.stage
	env["COOKBOOK_SOURCE"] = p.source
	env["COOKBOOK_SYSROOT"] = p.sysroot
	if p.toolchain != "" {
		env["COOKBOOK_TOOLCHAIN"] = p.toolchain
	}
	jobs := b.Jobs
	if jobs < 1 {
		jobs = runtime.NumCPU()
	}
	env["COOKBOOK_MAKE_JOBS"] = strconv.Itoa(jobs)
	env["COOKBOOK_VERBOSE"] = "1"
	if b.Offline && r.Build.Template == cookbook.TemplateCargo {
		env["COOKBOOK_OFFLINE"] = "1"
	}
	if info.SourceIdentifier != "" {
		env["COOKBOOK_SOURCE_IDENT"] = info.SourceIdentifier
	}
	if info.CommitIdentifier != "" {
		env["COOKBOOK_COMMIT_IDENT"] = info.CommitIdentifier
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// command returns the command that runs the build script: in the sandbox
// unless disabled, with its cleanup.
func (b *Builder) command(ctx context.Context, n cookbook.Node, r *cookbook.Recipe, tc *toolchain.Toolchain,
	scriptPath, buildDir, sourceDir, sysrootDir, toolDir string, env []string) (*exec.Cmd, func(), error) {
	args := []string{"-ex", scriptPath}
	if b.NoSandbox {
		cmd := exec.CommandContext(ctx, "bash", args...)
		cmd.Dir, cmd.Env = buildDir, env
		// the script and everything it starts form one process group, killed
		// as a whole on cancellation
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		return cmd, func() {}, nil
	}
	if err := sandbox.Available(); err != nil {
		return nil, nil, err
	}
	overlay := filepath.Join(b.Work.Target(n.Name, string(tc.Target)), "overlay")
	if err := os.RemoveAll(overlay); err != nil {
		return nil, nil, err
	}
	upper, work := filepath.Join(overlay, "upper"), filepath.Join(overlay, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, nil, err
		}
	}
	mounts := []sandbox.Mount{
		{Kind: sandbox.Overlay, Target: sourceDir, Upper: upper, Work: work},
		{Kind: sandbox.ReadOnly, Target: r.Dir},
		{Kind: sandbox.ReadOnly, Target: sysrootDir},
	}
	if toolDir != "" && toolDir != sysrootDir {
		mounts = append(mounts, sandbox.Mount{Kind: sandbox.ReadOnly, Target: toolDir})
	}
	for _, h := range tc.Hide {
		if _, err := os.Stat(h); err == nil {
			mounts = append(mounts, sandbox.Mount{Kind: sandbox.Hide, Target: h})
		}
	}
	spec := sandbox.Spec{Dir: buildDir, Env: env, Mounts: mounts, Network: b.AllowNetwork[r.Name]}
	cmd := sandbox.Command(ctx, spec, "bash", args...)
	cmd.WaitDelay = 5 * time.Second
	return cmd, func() { os.RemoveAll(overlay) }, nil
}

// rustPath returns the directory of the host's cargo and rustc, so that
// cargo recipes find them in the scrubbed environment.
func rustPath() []string {
	var out []string
	for _, c := range []string{"cargo", "rustc"} {
		if p, err := exec.LookPath(c); err == nil {
			out = append(out, filepath.Dir(p))
		}
	}
	return out
}

func rustupHome() string {
	if h := os.Getenv("RUSTUP_HOME"); h != "" {
		return h
	}
	if home, err := os.UserHomeDir(); err == nil {
		if st, err := os.Stat(filepath.Join(home, ".rustup")); err == nil && st.IsDir() {
			return filepath.Join(home, ".rustup")
		}
	}
	return ""
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// tailBuffer keeps the last max lines written to it.
type tailBuffer struct {
	max   int
	lines []string
	part  bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.part.Write(p)
	for {
		line, err := t.part.ReadString('\n')
		if err != nil {
			t.part.Reset()
			t.part.WriteString(line)
			break
		}
		t.lines = append(t.lines, strings.TrimRight(line, "\n"))
		if len(t.lines) > t.max {
			t.lines = t.lines[len(t.lines)-t.max:]
		}
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	lines := t.lines
	if t.part.Len() > 0 {
		lines = append(lines, t.part.String())
	}
	return strings.Join(lines, "\n")
}

func indent(s, prefix string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		b.WriteString(prefix + sc.Text() + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
