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
	"github.com/redox-cook/cook/report"
	"github.com/redox-cook/cook/workdir"
)

func init() { register(newBuildCmd) }

type buildFlags struct {
	keepGoing, dryRun, noSandbox, withPackageDeps, update bool
	allowNetwork                                          []string
	cache                                                 cacheFlags
	timings, trace                                        string // report files ("auto": the default timings path)
}

// defaultTimings is --timings given without a file.
const defaultTimings = "auto"

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
	fl.BoolVar(&f.noSandbox, "no-sandbox", false, "run build scripts directly on the host: they see your home, cook's signing key, other recipes' outputs and the network (not hermetic)")
	fl.BoolVar(&f.withPackageDeps, "with-package-deps", false, "also build the runtime (package) dependencies")
	fl.BoolVar(&f.update, "update", false, "bring branch-tracking git sources up to date before building")
	fl.StringArrayVar(&f.allowNetwork, "allow-network", nil, "let RECIPE use the network while it builds (reported as not hermetic; repeatable)")
	fl.StringVar(&f.timings, "timings", "", "write an HTML timings report to FILE (default <work>/reports/build-TIME.html); see docs/timings.md")
	fl.Lookup("timings").NoOptDefVal = defaultTimings
	fl.StringVar(&f.trace, "trace", "", "write a Chrome trace-event JSON of the build to FILE (Perfetto, chrome://tracing)")
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
		Log: a.logger(),
	}
	if a.verbose && !a.json {
		b.Output = a.stderr
	}
	dl, err := fetch.NewDownloader(fetch.WithOffline(true), fetch.WithLogger(a.logger()))
	if err != nil {
		return nil, err
	}
	b.Shims = buildShims{dl: dl, log: a.logger(), tmp: w.Tmp()}
	return b, nil
}

// buildShims serves build scripts' wget and curl from the download cache.
type buildShims struct {
	dl  *fetch.Downloader
	log *slog.Logger
	tmp string
}

func (s buildShims) Start(ctx context.Context, recipe string) (*build.Shim, error) {
	sh, err := fetch.BuildShims(ctx, s.dl, recipe, fetch.ShimLogger(s.log), fetch.ShimParent(s.tmp))
	if err != nil {
		return nil, err
	}
	return &build.Shim{Root: sh.Root, Bin: sh.Dir, Env: sh.Env(), Stop: sh.Close}, nil
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
	var w workdir.Dir
	if f.dryRun {
		root, err := a.workDir()
		if err != nil {
			return err
		}
		w = workdir.New(root)
	} else {
		var unlock func()
		if w, unlock, err = a.writeWork(ctx); err != nil {
			return err
		}
		defer unlock()
	}
	return a.buildNodes(ctx, tree, w, roots, f)
}

// buildNodes is cook build after argument parsing: fetch what is missing,
// then build roots and everything they need in w, and report.
func (a *app) buildNodes(ctx context.Context, tree *cookbook.Tree, w workdir.Dir, roots []cookbook.Node, f buildFlags) error {
	run := &buildRun{start: time.Now(), flags: f}
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
	if dangling := tree.DanglingIn(func(name string) bool { return inGraph[name] }); len(dangling) > 0 {
		var names, msgs []string
		for _, d := range dangling {
			names = append(names, d.Dep.Name)
			msgs = append(msgs, d.String())
		}
		return failed(fmt.Errorf("dependencies name no recipe (%s):\n  %s", strings.Join(dedupeStrings(names), ", "), strings.Join(msgs, "\n  ")))
	}
	b, err := a.newBuilder(ctx, tree, w, f.noSandbox, f.allowNetwork)
	if err != nil {
		return err
	}
	if f.noSandbox && !f.dryRun {
		fmt.Fprintln(a.stderr, "warning: --no-sandbox: build scripts run as you, on the host: they can read your home directory and cook's signing key, change other recipes' outputs and use the network; nothing built this way is hermetic")
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
	mark := time.Now()
	fetchErrs, fetched, err := a.fetchForBuild(ctx, tree, w, b, order, f.update)
	run.fetched = fetched
	run.phase(report.FetchPhase, &mark)
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
	run.phase(report.CheckPhase, &mark)
	run.deps = depsOf
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
	run.phase(report.BuildPhase, &mark)
	view.close()
	if err := b.Flush(); err != nil {
		return failed(fmt.Errorf("saving build state: %w", err))
	}
	return a.reportBuild(ctx, b, outcomes, run)
}

// buildRun is what a build's report needs beside the outcomes.
type buildRun struct {
	start   time.Time
	phases  []report.Phase                      // fetch, check, build
	deps    func(cookbook.Node) []cookbook.Node // what each node waited for
	fetched map[string]report.Phase             // when each recipe's source was fetched
	flags   buildFlags
}

// phase records the run's phase name, from *mark to now, and moves *mark.
func (r *buildRun) phase(name string, mark *time.Time) {
	now := time.Now()
	r.phases = append(r.phases, report.Phase{Name: name, Start: *mark, End: now})
	*mark = now
}

func (a *app) reportBuild(ctx context.Context, b *build.Builder, outcomes []build.Outcome, run *buildRun) error {
	var failures []error
	count := map[build.Status]int{}
	results := make([]report.Node, 0, len(outcomes))
	fetchShown := map[string]bool{} // a source fetched once is shown on one node
	for _, o := range outcomes {
		count[o.Status]++
		t := string(b.TargetOf(o.Node))
		r := report.Node{Recipe: o.Node.String(), Target: t, Status: string(o.Status), Seconds: o.Duration.Seconds(),
			Log: b.Work.Log(o.Node.Name, t), Start: o.Start, End: o.End(), Wait: o.Wait.Seconds()}
		if f, ok := run.fetched[o.Node.Name]; ok && !fetchShown[o.Node.Name] {
			fetchShown[o.Node.Name] = true
			r.Phases = append(r.Phases, f)
		}
		if run.deps != nil {
			for _, d := range run.deps(o.Node) {
				r.Deps = append(r.Deps, d.String())
			}
		}
		var phases []build.Phase
		if be := (*build.Error)(nil); errors.As(o.Err, &be) {
			phases = be.Phases
		}
		if o.Result != nil {
			phases = o.Result.Phases
			r.Stage, r.Package, r.Output, r.Hermetic, r.Key = o.Result.Stage, o.Result.Package, o.Result.Output, o.Result.Hermetic, o.Result.Key.String()
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
			r.Cause = o.Cause.String()
		}
		for _, p := range phases {
			r.Phases = append(r.Phases, report.Phase{Name: p.Name, Start: p.Start, End: p.End})
		}
		results = append(results, r)
	}
	rep := &report.Build{Target: string(a.triple), Jobs: a.jobs, Start: run.start, Seconds: time.Since(run.start).Seconds(),
		Phases: run.phases, Results: results}
	if a.json {
		if err := a.printJSON(rep); err != nil {
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
	if err := a.writeBuildReports(b.Work, rep, run.flags); err != nil {
		return err
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
		// Every node gets its own reasons first, then the rebuilt dependencies.
		p := plan{Recipe: n.String(), Reasons: []string{}}
		ok, in, rec, err := b.Check(ctx, n)
		switch {
		case err != nil:
			p.Build, p.Reasons = true, []string{err.Error()}
		case !ok:
			p.Build, p.Reasons = true, inputChanges(in, rec)
		}
		if len(after) > 0 {
			p.Build = true
			p.Reasons = append(p.Reasons, "dependencies will be rebuilt first: "+strings.Join(after, ", ")+" (unless their output is unchanged)")
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
func (a *app) fetchForBuild(ctx context.Context, tree *cookbook.Tree, w workdir.Dir, b *build.Builder, order []cookbook.Node, update bool) (map[string]error, map[string]report.Phase, error) {
	var names []string
	for _, n := range order {
		r := tree.Recipes[n.Name]
		if r.Source != nil && r.Build.Template != cookbook.TemplateNone {
			names = append(names, n.Name)
		}
	}
	if len(names) == 0 {
		return nil, nil, nil
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
