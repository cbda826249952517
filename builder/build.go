// Package builder builds recipes into staged trees and packages as upstream's cookbook does, but isolated, scheduling a dependency graph of builds in parallel and reusing up-to-date or cached results.
package builder

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/cargohome"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/initfs"
	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/repo"
	"github.com/redox-cook/cook/script"
	"github.com/redox-cook/cook/sysroot"
	"github.com/redox-cook/cook/toolchain"
	"github.com/redox-cook/cook/triple"
	"github.com/redox-cook/cook/workdir"
)

// Builder builds recipes of one tree for one target.
//
// The recipe sees a sysroot holding only its declared dependencies, a
// scrubbed environment, a read-only recipe directory and a pristine source
// behind an overlay, and no network unless the recipe is explicitly allowed
// one.
type Builder struct {
	Tree   *cookbook.Tree
	Work   workdir.Dir
	Target triple.Triple
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
	// finished build.
	Cache *ActionCache
	// SourceInfos, when set, are the fetch phase's records of the recipes'
	// sources (what their source_info.toml say), so that neither the
	// inputs nor the builds read those files again.
	SourceInfos map[string]*fetch.Info

	mu         sync.Mutex
	toolchains map[triple.Triple]*toolchainOnce
	outputs    map[cookbook.Node]string
	states     map[string]*stateFile
	closures   map[cookbook.Node][]Dep
	keyHex     string
	cargoSetup *cargohome.Setup
}

// ScriptShims starts the download commands of one build script: Start
// returns them; Stop them when the script is done.
type ScriptShims interface {
	Start(ctx context.Context, recipe string) (*Shim, error)
}

// Shim is a running set of download commands for one script.
type Shim struct {
	// Root is a host directory holding everything the commands need
	// (shown to a sandboxed script); Bin, below it, goes first on PATH.
	Root, Bin string
	// Env is extra environment; host paths below Root in it are mapped to
	// where the script sees Root.
	Env  []string
	Stop func() error
}

// Result describes one finished build.
type Result struct {
	Node     cookbook.Node
	Target   triple.Triple
	Stage    string // main staged tree
	Package  string // main package archive ("" for a meta package)
	Log      string
	Output   string          // digest of the staged trees
	Key      cache.ActionKey // the action key it was built (or found cached) for
	Hermetic bool            // built in the sandbox without network
	Duration time.Duration
	Phases   []Phase // the steps of the build, timed
}

// Phase is one timed step of a node's build: sysroot, script or package
// (restore for outputs brought back from the action cache).
type Phase struct {
	Name       string
	Start, End time.Time
}

// phases times the steps of one build: each begins when the one before ends.
type phases struct {
	list []Phase
	name string
	mark time.Time
}

// next ends the current step (if any) and begins name ("" begins none).
func (p *phases) next(name string) []Phase {
	now := time.Now()
	if p.name != "" {
		p.list = append(p.list, Phase{Name: p.name, Start: p.mark, End: now})
	}
	p.name, p.mark = name, now
	return p.list
}

// Error is a failed build: the recipe, its log and the log's last lines.
type Error struct {
	Node   cookbook.Node
	Log    string
	Tail   string
	Err    error
	Phases []Phase // the steps up to and including the one that failed
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
func (b *Builder) TargetOf(n cookbook.Node) triple.Triple {
	if n.Host {
		return triple.Host()
	}
	return b.Target
}

// Toolchain returns (and caches) the toolchain for t. It is found once,
// without holding the builder's lock: other nodes' work goes on meanwhile.
func (b *Builder) Toolchain(ctx context.Context, t triple.Triple) (*toolchain.Toolchain, error) {
	b.mu.Lock()
	if b.toolchains == nil {
		b.toolchains = map[triple.Triple]*toolchainOnce{}
	}
	o, ok := b.toolchains[t]
	if !ok {
		o = &toolchainOnce{}
		b.toolchains[t] = o
	}
	b.mu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tc == nil {
		tc, err := toolchain.Find(ctx, t, b.Work.Root, b.ToolchainOptions...)
		if err != nil {
			return nil, err // not kept: the next call tries again
		}
		o.tc = tc
	}
	return o.tc, nil
}

// toolchainOnce is one target's toolchain, found by the first call.
type toolchainOnce struct {
	mu sync.Mutex
	tc *toolchain.Toolchain
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

// stageDigest is n's output digest: its stage trees in the work directory.
func (b *Builder) stageDigest(ctx context.Context, n cookbook.Node) (string, error) {
	t := string(b.TargetOf(n))
	return b.stagesDigest(ctx, n, func(opt string) string { return b.Work.Stage(n.Name, t, opt) })
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
	var all, direct []Dep
	for _, e := range b.Tree.Deps(n) {
		if e.Kind == cookbook.BuildEdge || e.Kind == cookbook.DevEdge {
			direct = append(direct, Dep{Node: e.To, Suffix: e.Dep.Suffix})
			all = mergeDeps(all, b.buildClosure(e.To))
		}
	}
	slices.SortFunc(direct, compareDeps)
	all = mergeDeps(all, slices.Compact(direct))
	for _, d := range all {
		if d.Node.Host && !n.Host {
			tools = append(tools, d)
		} else {
			sysrootDeps = append(sysrootDeps, d)
		}
	}
	return sysrootDeps, tools
}

// compareDeps orders entries by package name, the target's before the
// host's of the same name, without building the names.
func compareDeps(a, b Dep) int {
	if c := strings.Compare(a.Node.Name, b.Node.Name); c != 0 && a.Suffix == "" && b.Suffix == "" {
		return c
	}
	if c := strings.Compare(a.Name(), b.Name()); c != 0 {
		return c
	}
	switch {
	case a.Node.Host == b.Node.Host:
		return 0
	case !a.Node.Host:
		return -1
	}
	return 1
}

// mergeDeps merges two lists sorted by compareDeps into a new one, each
// entry once.
func mergeDeps(a, b []Dep) []Dep {
	if len(a) == 0 {
		return b[:len(b):len(b)]
	}
	if len(b) == 0 {
		return a
	}
	out := make([]Dep, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		switch c := compareDeps(a[0], b[0]); {
		case c < 0:
			out, a = append(out, a[0]), a[1:]
		case c > 0:
			out, b = append(out, b[0]), b[1:]
		default:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	out = append(out, a...)
	return append(out, b...)
}

// buildClosure is every entry reachable from n through build dependencies
// (not n itself), sorted by compareDeps, memoised: dependents share their
// dependencies' closures.
func (b *Builder) buildClosure(n cookbook.Node) []Dep {
	b.mu.Lock()
	c, ok := b.closures[n]
	b.mu.Unlock()
	if ok {
		return c
	}
	var direct []Dep
	for _, e := range b.Tree.Deps(n) {
		if e.Kind != cookbook.BuildEdge {
			continue
		}
		direct = append(direct, Dep{Node: e.To, Suffix: e.Dep.Suffix})
		c = mergeDeps(c, b.buildClosure(e.To))
	}
	slices.SortFunc(direct, compareDeps)
	c = mergeDeps(c, slices.Compact(direct))
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
	j, err := b.newJob(n)
	if err != nil {
		return nil, err
	}
	defer j.logf.Close()
	if err := j.run(ctx); err != nil {
		return nil, j.fail(err)
	}
	return j.res, nil
}

// job is one node's build, resolved once: its recipe, target, log and the
// directories it uses.
type job struct {
	b      *Builder
	node   cookbook.Node
	recipe *cookbook.Recipe
	target triple.Triple
	t      string // target, as directory names spell it
	res    *Result
	start  time.Time
	ph     phases

	logf *os.File
	tail *fsutil.Tail
	out  io.Writer // the log, the tail and Builder.Output

	info   *fetch.Info // the source's identity
	source string      // the fetched source, same_as links resolved
}

// newJob resolves n and opens its log.
func (b *Builder) newJob(n cookbook.Node) (*job, error) {
	start := time.Now()
	r, err := b.Tree.Lookup(n.Name)
	if err != nil {
		return nil, err
	}
	if r.HasErrors() {
		return nil, &Error{Node: n, Err: fmt.Errorf("%s cannot be loaded: %s", r.Path, r.Diagnostics[0].Message)}
	}
	if err := workdir.CheckName(n.Name); err != nil {
		return nil, &Error{Node: n, Err: err}
	}
	T := b.TargetOf(n)
	t := string(T)
	j := &job{b: b, node: n, recipe: r, target: T, t: t, start: start, ph: phases{name: "sysroot", mark: start},
		res: &Result{Node: n, Target: T, Stage: b.Work.Stage(n.Name, t, ""), Log: b.Work.Log(n.Name, t),
			Hermetic: !b.NoSandbox && !b.AllowNetwork[n.Name]}}
	if err := os.MkdirAll(filepath.Dir(j.res.Log), 0o755); err != nil {
		return nil, err
	}
	if j.logf, err = os.Create(j.res.Log); err != nil {
		return nil, err
	}
	j.tail = fsutil.NewTail(25, 16<<10)
	j.out = io.MultiWriter(j.logf, j.tail)
	if b.Output != nil {
		j.out = io.MultiWriter(j.out, b.Output)
	}
	return j, nil
}

// fail records err in the log and returns the build's error; no
// half-written stage is left behind.
func (j *job) fail(err error) error {
	os.RemoveAll(j.b.Work.StageTmp(j.node.Name, j.t))
	fmt.Fprintf(j.logf, "\ncook: build failed: %v\n", err)
	return &Error{Node: j.node, Log: j.res.Log, Tail: j.tail.String(), Err: err, Phases: j.ph.next("")}
}

// run performs the build's steps: sysroot, script, stage, packages.
func (j *job) run(ctx context.Context) error {
	r := j.recipe
	fmt.Fprintf(j.out, "cook: building %s for %s\n", j.node, j.t)
	var err error
	if j.info, err = j.b.sourceInfo(j.node.Name); err != nil {
		return err
	}
	if j.info == nil {
		j.info = &fetch.Info{}
	}
	if j.source, err = j.b.sourceDir(r); err != nil {
		return err
	}
	switch r.Build.Template {
	case cookbook.TemplateNone:
		j.ph.name = "package"
		return j.packageMeta(ctx)
	case cookbook.TemplateRemote:
		return errors.New(`template "remote" (prebuilt packages from the binary repository) is not supported: cook builds from source`)
	}
	tc, err := j.b.Toolchain(ctx, j.target)
	if err != nil {
		return err
	}
	if !tc.Ready() {
		return fmt.Errorf("toolchain for %s is incomplete:\n  %s", j.target, strings.Join(tc.Missing, "\n  "))
	}
	deps, d, err := j.assemble(ctx, tc)
	if err != nil {
		return err
	}
	j.ph.next("script")
	if err := j.runScript(ctx, tc, d); err != nil {
		return err
	}
	j.ph.next("package")
	if err := j.swapStage(); err != nil {
		return err
	}
	if err := j.packageRecipe(ctx, deps); err != nil {
		return err
	}
	return j.finish(ctx)
}

// assemble makes the sysroot and toolchain directories from the
// dependencies' stages and names every directory the script uses.
func (j *job) assemble(ctx context.Context, tc *toolchain.Toolchain) ([]Dep, scriptDirs, error) {
	w, n, t := j.b.Work, j.node, j.t
	deps, tools := j.b.SysrootDeps(n)
	sysrootDir := w.Sysroot(n.Name, t)
	if _, err := j.b.assemble(ctx, sysrootDir, deps); err != nil {
		return nil, scriptDirs{}, err
	}
	toolDir := ""
	if n.Host {
		toolDir = sysrootDir
	} else if len(tools) > 0 {
		toolDir = w.Toolchain(n.Name, t)
		if _, err := j.b.assemble(ctx, toolDir, tools); err != nil {
			return nil, scriptDirs{}, err
		}
	}
	d := scriptDirs{
		recipe: j.recipe.Dir, source: j.source, build: w.Build(n.Name, t), stage: w.StageTmp(n.Name, t),
		sysroot: sysrootDir, toolchain: toolDir, prefix: tc.Prefix, cargo: j.b.CargoHome,
		home: w.Home(n.Name, t), tmp: w.BuildTmp(n.Name, t), script: w.Script(n.Name, t),
		overlay: w.Overlay(n.Name, t), root: w.SandboxRoot(n.Name, t),
	}
	return deps, d, nil
}

// runScript writes the build script and runs it, in the sandbox unless
// disabled, with the download shims on its PATH.
func (j *job) runScript(ctx context.Context, tc *toolchain.Toolchain, d scriptDirs) error {
	b, r := j.b, j.recipe
	for _, dir := range []string{d.stage, d.tmp} {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	for _, dir := range []string{d.build, d.stage, d.home, d.tmp, d.script} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	var err error
	if d.tools, err = b.writeTools(tc); err != nil {
		return err
	}
	if d.cargo, err = b.prepareCargoHome(ctx, j.node.Name, tc, j.source, !b.NoSandbox); err != nil {
		return err
	}
	scriptPath := filepath.Join(d.script, "build.sh")
	if err := os.WriteFile(scriptPath, []byte(script.Generate(r)), 0o644); err != nil {
		return err
	}

	iso := isolation{sandboxed: !b.NoSandbox, network: b.AllowNetwork[r.Name], hostTools: rustInstallation()}
	for _, h := range tc.Hide {
		if _, err := os.Stat(h); err == nil {
			iso.hide = append(iso.hide, h)
		}
	}
	if d.cargo != b.CargoHome {
		// a home of the build's own (package cargohome), and the vendored
		// crates its config names
		iso.ownCargo = true
		if d.vendor, err = b.cargoHomes().VendorDir(ctx, tc.StdVendor); err != nil {
			return err
		}
		iso.hostTools = append(iso.hostTools, b.CargoVendor)
	}
	var shim *Shim
	if b.Shims != nil && !b.AllowNetwork[r.Name] {
		if shim, err = b.Shims.Start(ctx, r.Name); err != nil {
			return fmt.Errorf("download shims: %w", err)
		}
		defer shim.Stop()
		d.shim = shim.Root
	}
	v := newView(d, iso.sandboxed)
	env := b.environment(r, j.node, tc, v, d, j.info)
	if shim != nil {
		env = withShim(env, v, shim)
	}
	if !iso.sandboxed {
		fmt.Fprintf(j.out, "cook: WARNING: --no-sandbox: this script runs as you on the host, with your network, home directory and cook's signing key in reach\n")
	}
	cmd, cleanup, err := iso.command(ctx, d, v, scriptPath, env)
	if err != nil {
		return err
	}
	defer cleanup()
	cmd.Stdout, cmd.Stderr = j.out, j.out
	cmd.Stdin = nil
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("script failed: %v", err)
	}
	return nil
}

// withShim puts the shim's commands first on env's PATH and adds its
// variables, with paths as the script sees them.
func withShim(env []string, v *view, sh *Shim) []string {
	for i, kv := range env {
		if rest, ok := strings.CutPrefix(kv, "PATH="); ok {
			env[i] = "PATH=" + v.path(sh.Bin) + ":" + rest
		}
	}
	for _, kv := range sh.Env {
		k, val, _ := strings.Cut(kv, "=")
		env = append(env, k+"="+v.path(val))
	}
	return env
}

// swapStage splits the optional packages out of the script's stage, then
// puts it in place of the last one.
func (j *job) swapStage() error {
	w, n, t := j.b.Work, j.node, j.t
	stageTmp := w.StageTmp(n.Name, t)
	if len(j.recipe.OptionalPackages) > 0 {
		if err := splitOptional(stageTmp, j.recipe.OptionalPackages, func(opt string) string { return w.Stage(n.Name, t, opt) }); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(j.res.Stage); err != nil {
		return err
	}
	return os.Rename(stageTmp, j.res.Stage)
}

// packageMeta packages a recipe without a build: metadata only.
func (j *job) packageMeta(ctx context.Context) error {
	if err := os.RemoveAll(j.res.Stage); err != nil {
		return err
	}
	if err := os.MkdirAll(j.res.Stage, 0o755); err != nil {
		return err
	}
	_, err := repo.PackageRecipe(ctx, repo.Packaging{Work: j.b.Work, Recipe: j.node.Name, Target: j.t, Meta: true,
		Depends: names(j.recipe.Package.Dependencies), Source: j.info, Key: j.b.Key})
	if err != nil {
		return err
	}
	return j.finish(ctx)
}

// packageRecipe packages the stages: runtime dependencies, archives,
// metadata, signed with the builder's key (outside any sandbox).
func (j *job) packageRecipe(ctx context.Context, deps []Dep) error {
	b, w, n, r := j.b, j.b.Work, j.node, j.recipe
	pb := repo.Packaging{Work: w, Recipe: n.Name, Target: j.t, Version: GuessVersion(r, j.source),
		Depends: names(r.Package.Dependencies), Source: j.info, Key: b.Key}
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
		return err
	}
	for i, p := range pres.Packages {
		if p.Name == n.Name {
			j.res.Package = pres.Archives[i]
		}
	}
	return nil
}

// finish records the output digest and the phases' times.
func (j *job) finish(ctx context.Context) error {
	d, err := j.b.stageDigest(ctx, j.node)
	if err != nil {
		return err
	}
	j.b.SetOutput(j.node, d)
	j.res.Output = d
	j.res.Phases = j.ph.next("")
	j.res.Duration = time.Since(j.start)
	return nil
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
// target into the work directory, once per content, and links
// redox-initfs-ar to cook.
func (b *Builder) writeTools(tc *toolchain.Toolchain) (string, error) {
	dir := filepath.Join(b.Work.Root, "tools", string(tc.Target), "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// cargo is looked up on PATH, where a prefix's own comes first
	for name, content := range script.Tools(tc.Target, "cargo", tc.CargoArgs) {
		p := filepath.Join(dir, name)
		if old, err := os.ReadFile(p); err == nil && string(old) == content {
			continue
		}
		if err := fsutil.WriteFileAtomic(p, []byte(content), 0o755); err != nil {
			return "", err
		}
	}
	// cook's own executable is redox-initfs-ar (upstream's initfs archiver).
	if err := initfs.LinkTool(dir, ""); err != nil {
		return "", err
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
func (b *Builder) prepareCargoHome(ctx context.Context, recipe string, tc *toolchain.Toolchain, sourceDir string, sandboxed bool) (string, error) {
	if b.CargoHome == "" {
		return "", nil
	}
	key := string(tc.Target) + "/" + recipe
	if !sandboxed {
		key = "host/" + key // a config naming host paths, for cargo run on the host
	}
	return b.cargoHomes().Prepare(ctx, key, sourceDir, tc.StdVendor, vendorAt(sandboxed))
}

// vendorAt is where a build sees the vendored crates: a fixed path in the
// sandbox (what rustc records of them does not depend on the work
// directory), the host's own path without one.
func vendorAt(sandboxed bool) string {
	if sandboxed {
		return inVendor
	}
	return ""
}

// environment is the complete, scrubbed environment of a build script,
// with every path as the script sees it (v).
func (b *Builder) environment(r *cookbook.Recipe, n cookbook.Node, tc *toolchain.Toolchain, v *view, d scriptDirs, info *fetch.Info) []string {
	env := map[string]string{}
	path := append([]string{}, tc.Path...)
	path = append(path, d.tools)
	path = append(path, rustPath()...)
	path = append(path, "/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin")
	env["PATH"] = v.list(strings.Join(dedupe(path), ":"))
	env["HOME"] = v.path(d.home)
	env["TMPDIR"] = v.path(d.tmp)
	env["LANG"] = "C.UTF-8"
	env["TZ"] = "UTC"
	env["TERM"] = "dumb"
	env["SOURCE_DATE_EPOCH"] = "1"
	for k, val := range tc.Env() {
		env[k] = val
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
	if d.cargo != "" {
		env["CARGO_HOME"] = v.path(d.cargo)
	}
	if !b.AllowNetwork[r.Name] {
		env["CARGO_NET_OFFLINE"] = "true"
	}
	env["COOKBOOK_REDOXER"] = v.path(filepath.Join(d.tools, "cookbook_redoxer"))
	env["COOKBOOK_BUILD"] = v.path(d.build)
	env["COOKBOOK_NAME"] = r.Name
	env["COOKBOOK_HOST_TARGET"] = string(triple.Host())
	env["COOKBOOK_HOST_SYSROOT"] = v.path(tc.HostSysroot)
	env["COOKBOOK_RECIPE"] = v.path(d.recipe)
	env["COOKBOOK_ROOT"] = b.Tree.Root
	if v.path(d.recipe) != d.recipe {
		env["COOKBOOK_ROOT"] = inCookbook
	}
	env["COOKBOOK_STAGE"] = v.path(d.stage)
	env["COOKBOOK_SOURCE"] = v.path(d.source)
	env["COOKBOOK_SYSROOT"] = v.path(d.sysroot)
	if d.toolchain != "" {
		env["COOKBOOK_TOOLCHAIN"] = v.path(d.toolchain)
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

// rustInstallation lists where a rustup installation lives when the
// host's cargo or rustc comes from one: shown read-only to sandboxed builds
// (Debian's live in /usr, which every sandbox shows).
func rustInstallation() []string {
	var out []string
	for _, p := range append(rustPath(), rustupHome()) {
		if p == "" || p == "/usr" || strings.HasPrefix(p, "/usr/") || p == "/bin" {
			continue
		}
		out = append(out, p)
	}
	return dedupe(out)
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

func indent(s, prefix string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		b.WriteString(prefix + sc.Text() + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}
