package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/internal/live"
	"github.com/redox-cook/cook/internal/termtext"
	"github.com/redox-cook/cook/pipeline"
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
	return a.buildNodes(ctx, a.pipeline(tree, w), roots, f)
}

// buildOptions turns the build flags into the pipeline's options, with
// the live view as observer.
func (a *app) buildOptions(f buildFlags, view *buildView) pipeline.BuildOptions {
	o := pipeline.BuildOptions{
		KeepGoing: f.keepGoing, NoSandbox: f.noSandbox, AllowNetwork: f.allowNetwork,
		Cache:    a.remoteCache(f.cache),
		Fetch:    pipeline.FetchOptions{Update: f.update},
		Warn:     func(msg string) { fmt.Fprintln(a.stderr, "cook: "+msg) },
		Observer: view, ReadOnly: f.dryRun,
	}
	if a.verbose && !a.json {
		o.Output = a.stderr
	}
	return o
}

// buildNodes is cook build after argument parsing: fetch what is missing,
// then build roots and everything they need, and report.
func (a *app) buildNodes(ctx context.Context, p *pipeline.Pipeline, roots []cookbook.Node, f buildFlags) error {
	plan, err := p.Plan(roots, f.withPackageDeps)
	if err != nil {
		return failed(err)
	}
	if f.dryRun {
		b, err := p.Builder(a.buildOptions(f, nil))
		if err != nil {
			return pipelineErr(err)
		}
		return a.printPlan(p.DryRun(ctx, plan, b))
	}
	if f.noSandbox {
		fmt.Fprintln(a.stderr, "warning: --no-sandbox: build scripts run as you, on the host: they can read your home directory and cook's signing key, change other recipes' outputs and use the network; nothing built this way is hermetic")
	}
	fv := a.newFetchView(len(plan.Sources(p.Config().Tree)))
	view := &buildView{a: a, fetch: fv}
	o := a.buildOptions(f, view)
	o.Fetch = fv.options(o.Fetch)
	run, err := p.Build(ctx, plan, o)
	view.close()
	if run != nil {
		defer a.waitUploads(run)
	}
	if err != nil {
		return pipelineErr(err)
	}
	return a.reportBuild(ctx, run, f)
}

// pipelineErr maps a pipeline error to an exit status: what the caller
// asked for was wrong (2), or the work failed (1).
func pipelineErr(err error) error {
	if errors.Is(err, pipeline.ErrInvalid) {
		return usageErr(err)
	}
	return failed(err)
}

// waitUploads waits (a bounded time) for the action cache's background
// uploads before cook exits.
func (a *app) waitUploads(run *pipeline.BuildRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := run.Wait(ctx)
	if err != nil {
		fmt.Fprintf(a.stderr, "cook: warning: %v\n", err)
	}
	if a.verbose && !a.json && c != (builder.CacheCounts{}) {
		fmt.Fprintf(a.stderr, "cache: %d restored, %d missed, %d stored, %d not stored\n", c.Hits, c.Misses, c.Stored, c.FailedStores)
	}
}

// reportBuild prints a build's failures and summary (or its JSON), writes
// the reports asked for, and returns the exit status.
func (a *app) reportBuild(ctx context.Context, run *pipeline.BuildRun, f buildFlags) error {
	count := run.Count()
	if a.json {
		if err := a.printJSON(run.Report); err != nil {
			return err
		}
	} else {
		a.printSummary(run, count)
	}
	if err := a.writeBuildReports(run.Builder.Work, run.Report, f); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return &exitError{code: exitInterrupted, err: errors.New("interrupted")}
	}
	if n := count[builder.Failed]; n > 0 {
		if a.json {
			return &exitError{code: exitFailed, err: errSilent}
		}
		return failed(fmt.Errorf("%d recipe(s) failed", n))
	}
	return nil
}

// printSummary prints each failure once, what was skipped, the counts and
// the slowest builds.
func (a *app) printSummary(run *pipeline.BuildRun, count map[builder.Status]int) {
	for _, o := range run.Outcomes {
		if o.Err != nil && !errors.Is(o.Err, context.Canceled) {
			fmt.Fprintf(a.stderr, "\n%s\n", escape(o.Err.Error()))
		}
	}
	if skipped := run.Skipped(); len(skipped) > 0 {
		names := make([]string, len(skipped))
		for i, n := range skipped {
			names[i] = show(n)
		}
		fmt.Fprintf(a.stderr, "\nnot built because a dependency failed or the run stopped: %s\n", strings.Join(names, " "))
	}
	if a.quiet {
		return
	}
	cached := fmt.Sprint(count[builder.Cached] + count[builder.RemoteCached])
	if n := count[builder.RemoteCached]; n > 0 {
		cached += fmt.Sprintf(" (%d from the action cache)", n)
	}
	fmt.Fprintf(a.stderr, "%d built, %s cached, %d failed, %d skipped\n",
		count[builder.Built], cached, count[builder.Failed], count[builder.Skipped])
	var parts []string
	for _, o := range run.Slowest(5) {
		parts = append(parts, fmt.Sprintf("%s %s", show(o.Node), o.Duration.Round(100*time.Millisecond)))
	}
	if len(parts) > 1 {
		fmt.Fprintf(a.stderr, "slowest: %s\n", strings.Join(parts, ", "))
	}
}

// printPlan prints a dry run: in build order, what would be built and why.
func (a *app) printPlan(steps []pipeline.Step) error {
	if a.json {
		return a.printJSON(map[string]any{"plan": steps})
	}
	n := 0
	for _, s := range steps {
		if !s.Build {
			a.printf("up to date  %s\n", escape(s.Recipe))
			continue
		}
		n++
		a.printf("would build %s\n", escape(s.Recipe))
		for _, r := range s.Reasons {
			a.printf("            %s\n", escape(r))
		}
	}
	a.printf("%d of %d would be built\n", n, len(steps))
	return nil
}

// buildView shows a build: the fetch phase's view first, then one line
// per finished node above a live area of running ones on a terminal, plain
// timestamped lines otherwise.
type buildView struct {
	a     *app
	fetch *fetchView
	*live.Jobs
}

// BuildScheduled ends the fetch phase's view and starts the build's.
func (v *buildView) BuildScheduled(jobs int) {
	v.fetch.Close()
	v.Jobs = live.NewJobs(v.a.stderr, jobs, "building", v.a.quiet || v.a.json)
}

func (v *buildView) close() {
	v.fetch.Close()
	if v.Jobs != nil {
		v.Jobs.Close()
	}
}

func (v *buildView) BuildStarted(n cookbook.Node) { v.Start(show(n)) }

func (v *buildView) BuildFinished(o builder.Outcome) {
	line := ""
	switch o.Status {
	case builder.Built:
		line = fmt.Sprintf("built   %s (%s)", show(o.Node), o.Duration.Round(100*time.Millisecond))
	case builder.RemoteCached:
		line = fmt.Sprintf("cached  %s (from the action cache)", show(o.Node))
	case builder.Failed:
		line = fmt.Sprintf("FAILED  %s", show(o.Node))
	case builder.Skipped:
		if o.Cause.Name != "" {
			line = fmt.Sprintf("skipped %s (needs %s, which failed)", show(o.Node), show(o.Cause))
		}
	}
	if v.a.quiet && o.Status != builder.Failed {
		line = ""
	}
	v.Finish(show(o.Node), line)
}

// show is a node as printed for people: control characters escaped.
func show(n cookbook.Node) string { return escape(n.String()) }

// escape makes text from a recipe tree safe to print on a terminal.
func escape(s string) string { return termtext.Escape(s) }
