package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/build"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/toolchain"
	"github.com/redox-cook/cook/workdir"
)

func init() { register(newBuildCmd) }

type buildFlags struct {
	keepGoing, dryRun, noSandbox, withPackageDeps, update bool
	allowNetwork                                          []string
	cache                                                 cacheFlags
}

type buildResultJSON struct {
	Recipe   string  `json:"recipe"`
	Target   string  `json:"target"`
	Status   string  `json:"status"`
	Seconds  float64 `json:"seconds"`
	Stage    string  `json:"stage"`
	Package  string  `json:"package"`
	Key      string  `json:"key"`
	Output   string  `json:"output"`
	Log      string  `json:"log"`
	Error    string  `json:"error"`
	Hermetic bool    `json:"hermetic"`
}

func newBuildCmd(a *app) *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build RECIPE...",
		Short: "Build recipes and their dependencies, in parallel, and package them",
		Long: `build fetches what is missing, then builds the named recipes and everything they
need (build and dev dependencies; --with-package-deps adds runtime ones) in a
parallel dependency graph, -j at a time. A recipe is rebuilt only when one of its
inputs changed: its recipe files, its source, a dependency's output, the
toolchain or cook's templates (see cook explain). Each build runs in a sandbox
with no network and a sysroot holding only its declared dependencies, writes a
log under <work>/logs/<target>/, and ends as signed packages.`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runBuild(cmd.Context(), args, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&f.keepGoing, "keep-going", "k", false, "after a failure, keep building everything that does not depend on it")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print what would be built and why, and build nothing")
	fl.BoolVar(&f.noSandbox, "no-sandbox", false, "run build scripts directly on the host (no namespaces, network allowed)")
	fl.BoolVar(&f.withPackageDeps, "with-package-deps", false, "also build the runtime (package) dependencies")
	fl.BoolVar(&f.update, "update", false, "bring branch-tracking git sources up to date before building")
	fl.StringArrayVar(&f.allowNetwork, "allow-network", nil, "let RECIPE use the network while it builds (reported as not hermetic; repeatable)")
	addCacheFlags(fl, &f.cache)
	return cmd
}

// newBuilder makes the Builder for the work directory and target.
func (a *app) newBuilder(ctx context.Context, tree *cookbook.Tree, w workdir.Dir, noSandbox bool, allow []string) (*build.Builder, error) {
	key, err := pkgar.EnsureKeys(w.Keys())
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for _, n := range append(append([]string{}, a.settings.Network.Allow...), allow...) {
		if _, err := tree.Lookup(n); err != nil {
			return nil, usageErr(fmt.Errorf("--allow-network: %w", err))
		}
		allowed[n] = true
	}
	b := &build.Builder{
		Tree: tree, Work: w, Target: a.triple, Key: key, NoSandbox: noSandbox, AllowNetwork: allowed,
		Offline: a.offline, CargoHome: filepath.Join(w.Root, "cargo"), CargoRegistry: a.settings.Cargo.Registry,
		CargoVendor: a.cargoVendor, ToolchainOptions: []toolchain.Option{toolchain.WithBootstrap(a.bootstrapOptions())},
		Log: a.logger(),
	}
	if a.verbose && !a.json {
		b.Output = a.stderr
	}
	dl, err := fetch.NewDownloader(fetch.WithOffline(true), fetch.WithLogger(a.logger()))
	if err != nil {
		return nil, err
	}
	b.Shims = buildShims{dl: dl, log: a.logger()}
	return b, nil
}

// buildShims serves build scripts' wget and curl from the download cache.
type buildShims struct {
	dl  *fetch.Downloader
	log *slog.Logger
}

func (s buildShims) Start(ctx context.Context, recipe string) (string, []string, func() error, error) {
	sh, err := fetch.BuildShims(ctx, s.dl, recipe, fetch.ShimLogger(s.log))
	if err != nil {
		return "", nil, nil, err
	}
	return sh.Dir, sh.Env(), sh.Close, nil
}

// buildGraph is the set of nodes a build of roots touches, with the edges
// the scheduler must respect.
func buildGraph(tree *cookbook.Tree, roots []cookbook.Node, withPackageDeps bool) (*cookbook.Graph, []cookbook.Node, error) {
	kinds := cookbook.BuildEdge | cookbook.DevEdge
	if withPackageDeps {
		kinds |= cookbook.PackageEdge
	}
	g := tree.NewGraph(roots, kinds)
	order, err := g.Order()
	if err != nil {
		return nil, nil, err
	}
	return g, order, nil
}

func (a *app) runBuild(ctx context.Context, args []string, f buildFlags) error {
	tree, roots, err := a.loadNodes(ctx, args)
	if err != nil {
		return err
	}
	root, err := a.workDir()
	if err != nil {
		return err
	}
	return a.buildNodes(ctx, tree, workdir.New(root), roots, f)
}

// buildNodes is cook build after argument parsing: fetch what is missing,
// then build roots and everything they need in w, and report.
func (a *app) buildNodes(ctx context.Context, tree *cookbook.Tree, w workdir.Dir, roots []cookbook.Node, f buildFlags) error {
	g, order, err := buildGraph(tree, roots, f.withPackageDeps)
	if err != nil {
		return failed(err)
	}
	inGraph := map[string]bool{}
	for _, n := range order {
		if r := tree.Recipes[n.Name]; r.HasErrors() {
			return failed(fmt.Errorf("%s cannot be built: %s", n, r.Diagnostics[0]))
		}
		inGraph[n.Name] = true
	}
	if missing := tree.Unresolved(func(name string) bool { return inGraph[name] }); len(missing) > 0 {
		var msgs []string
		for _, d := range tree.AllDiagnostics(false) {
			if inGraph[d.Recipe] && strings.Contains(d.Message, "which is no recipe") {
				msgs = append(msgs, d.String())
			}
		}
		return failed(fmt.Errorf("dependencies name no recipe (%s):\n  %s", strings.Join(missing, ", "), strings.Join(msgs, "\n  ")))
	}
	b, err := a.newBuilder(ctx, tree, w, f.noSandbox, f.allowNetwork)
	if err != nil {
		return err
	}
	if !f.dryRun {
		ac, err := a.attachCache(b, f.cache)
		if err != nil {
			return err
		}
		defer a.flushCache(ac)
	}

	if f.dryRun {
		// nothing is fetched: a source that changed upstream shows up on the real run
		return a.dryRun(ctx, b, g, order)
	}
	fetchErrs, err := a.fetchForBuild(ctx, tree, w, b, order, f.update)
	if err != nil {
		return err
	}
	if len(fetchErrs) > 0 && !f.keepGoing {
		return joinFetchErrors(fetchErrs)
	}

	depsOf := func(n cookbook.Node) []cookbook.Node {
		var deps []cookbook.Node
		for _, e := range g.Edges(n) {
			if e.Kind != cookbook.PackageEdge || f.withPackageDeps {
				deps = append(deps, e.To)
			}
		}
		return deps
	}
	// What is already up to date is found in one pass; only the rest is scheduled.
	var pending []cookbook.Node
	for _, n := range order {
		if fetchErrs[n.Name] == nil {
			pending = append(pending, n)
		}
	}
	settled := b.Settled(ctx, pending, depsOf)
	var outcomes []build.Outcome
	jobs := make([]build.Job, 0, len(order))
	for _, n := range order {
		if r := settled[n]; r != nil {
			outcomes = append(outcomes, build.Outcome{Node: n, Status: build.Cached, Result: r})
			continue
		}
		j := build.Job{Node: n}
		for _, d := range depsOf(n) {
			if settled[d] == nil {
				j.Deps = append(j.Deps, d)
			}
		}
		if rec, _ := b.Record(n); rec != nil {
			j.Weight = rec.Seconds
		}
		jobs = append(jobs, j)
	}

	view := newLiveView(a.stderr, len(jobs), "building", a.quiet || a.json)
	s := &build.Scheduler{
		Jobs:      a.jobs,
		KeepGoing: f.keepGoing,
		Run: func(ctx context.Context, n cookbook.Node) (build.Status, *build.Result, error) {
			if err := fetchErrs[n.Name]; err != nil {
				return build.Failed, nil, err
			}
			return b.Ensure(ctx, n)
		},
		OnStart: func(n cookbook.Node) { view.start(n.String()) },
		OnFinish: func(o build.Outcome) {
			line := ""
			switch o.Status {
			case build.Built:
				line = fmt.Sprintf("built   %s (%s)", o.Node, o.Duration.Round(100*time.Millisecond))
			case build.RemoteCached:
				line = fmt.Sprintf("cached  %s (from the action cache)", o.Node)
			case build.Failed:
				line = fmt.Sprintf("FAILED  %s", o.Node)
			case build.Skipped:
				if o.Cause.Name != "" {
					line = fmt.Sprintf("skipped %s (needs %s, which failed)", o.Node, o.Cause)
				}
			}
			if a.quiet && o.Status != build.Failed {
				line = ""
			}
			view.finish(o.Node.String(), line)
		},
	}
	outcomes = append(outcomes, s.Execute(ctx, jobs)...)
	view.close()
	if err := b.Flush(); err != nil {
		return failed(fmt.Errorf("saving build state: %w", err))
	}
	return a.reportBuild(ctx, b, outcomes)
}

func (a *app) reportBuild(ctx context.Context, b *build.Builder, outcomes []build.Outcome) error {
	var failures []error
	count := map[build.Status]int{}
	results := make([]buildResultJSON, 0, len(outcomes))
	for _, o := range outcomes {
		count[o.Status]++
		t := string(b.TargetOf(o.Node))
		r := buildResultJSON{Recipe: o.Node.String(), Target: t, Status: string(o.Status), Seconds: o.Duration.Seconds(),
			Log: b.Work.Log(o.Node.Name, t)}
		if o.Result != nil {
			r.Stage, r.Package, r.Output, r.Hermetic, r.Key = o.Result.Stage, o.Result.Package, o.Result.Output, o.Result.Hermetic, o.Result.Key
			if o.Status == build.Cached {
				r.Seconds = 0
			}
		}
		if o.Err != nil {
			r.Error = o.Err.Error()
			if !errors.Is(o.Err, context.Canceled) {
				failures = append(failures, o.Err)
			}
		}
		if o.Status == build.Skipped && o.Cause.Name != "" {
			r.Error = fmt.Sprintf("not built: dependency %s failed", o.Cause)
		}
		results = append(results, r)
	}
	if a.json {
		if err := a.printJSON(map[string]any{"results": results}); err != nil {
			return err
		}
	} else {
		for _, err := range failures {
			fmt.Fprintf(a.stderr, "\n%v\n", err)
		}
		var skipped []string
		for _, o := range outcomes {
			if o.Status == build.Skipped {
				skipped = append(skipped, o.Node.String())
			}
		}
		if len(skipped) > 0 {
			fmt.Fprintf(a.stderr, "\nnot built because a dependency failed or the run stopped: %s\n", strings.Join(skipped, " "))
		}
		if !a.quiet {
			cached := fmt.Sprint(count[build.Cached] + count[build.RemoteCached])
			if n := count[build.RemoteCached]; n > 0 {
				cached += fmt.Sprintf(" (%d from the action cache)", n)
			}
			fmt.Fprintf(a.stderr, "%d built, %s cached, %d failed, %d skipped\n",
				count[build.Built], cached, count[build.Failed], count[build.Skipped])
			slow := append([]build.Outcome(nil), outcomes...)
			sort.Slice(slow, func(i, j int) bool { return slow[i].Duration > slow[j].Duration })
			var parts []string
			for _, o := range slow {
				if o.Status == build.Built && len(parts) < 5 {
					parts = append(parts, fmt.Sprintf("%s %s", o.Node, o.Duration.Round(100*time.Millisecond)))
				}
			}
			if len(parts) > 1 {
				fmt.Fprintf(a.stderr, "slowest: %s\n", strings.Join(parts, ", "))
			}
		}
	}
	if ctx.Err() != nil {
		return &exitError{code: exitInterrupted, err: errors.New("interrupted")}
	}
	if count[build.Failed] > 0 {
		if a.json {
			return &exitError{code: exitFailed, err: errSilent}
		}
		return failed(fmt.Errorf("%d recipe(s) failed", count[build.Failed]))
	}
	return nil
}

// dryRun prints, in build order, what would be built and why.
func (a *app) dryRun(ctx context.Context, b *build.Builder, g *cookbook.Graph, order []cookbook.Node) error {
	rebuild := map[cookbook.Node]bool{}
	type plan struct {
		Recipe  string   `json:"recipe"`
		Build   bool     `json:"build"`
		Reasons []string `json:"reasons"`
	}
	var plans []plan
	for _, n := range order {
		var after []string
		for _, e := range g.Edges(n) {
			if rebuild[e.To] && e.Kind != cookbook.PackageEdge {
				after = append(after, e.To.String())
			}
		}
		p := plan{Recipe: n.String(), Reasons: []string{}}
		if len(after) > 0 {
			p.Build = true
			p.Reasons = append(p.Reasons, "dependencies will be rebuilt first: "+strings.Join(after, ", ")+" (unless their output is unchanged)")
		} else {
			ok, in, rec, err := b.Check(ctx, n)
			switch {
			case err != nil:
				p.Build, p.Reasons = true, []string{err.Error()}
			case ok:
			case rec == nil:
				p.Build, p.Reasons = true, []string{"never built"}
			default:
				p.Build = true
				p.Reasons = in.Diff(rec.Inputs())
				if len(p.Reasons) == 0 {
					p.Reasons = []string{"outputs missing from the work directory"}
				}
			}
		}
		rebuild[n] = p.Build
		plans = append(plans, p)
	}
	if a.json {
		return a.printJSON(map[string]any{"plan": plans})
	}
	n := 0
	for _, p := range plans {
		if !p.Build {
			a.printf("up to date  %s\n", p.Recipe)
			continue
		}
		n++
		a.printf("would build %s\n", p.Recipe)
		for _, r := range p.Reasons {
			a.printf("            %s\n", r)
		}
	}
	a.printf("%d of %d would be built\n", n, len(plans))
	return nil
}

// fetchForBuild makes sure every node about to be built has its source as
// the recipe asks for it now (a changed pin, patch or script refetches; a
// branch-tracking checkout is only updated with --update).
func (a *app) fetchForBuild(ctx context.Context, tree *cookbook.Tree, w workdir.Dir, b *build.Builder, order []cookbook.Node, update bool) (map[string]error, error) {
	var names []string
	for _, n := range order {
		r := tree.Recipes[n.Name]
		if r.Source != nil && r.Build.Template != cookbook.TemplateNone {
			names = append(names, n.Name)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	return a.fetchRecipes(ctx, tree, w, b, dedupeStrings(names), update)
}

func dedupeStrings(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
