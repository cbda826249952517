package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/report"
	"github.com/redox-cook/cook/settings"
	"github.com/redox-cook/cook/toolchain"
)

// BuildObserver sees a build: once the fetch phase and the up-to-date
// check are done, how many nodes will run; then each one start and finish.
type BuildObserver interface {
	BuildScheduled(jobs int)
	BuildStarted(n cookbook.Node)
	BuildFinished(o builder.Outcome)
}

// BuildOptions adjust Build.
type BuildOptions struct {
	// KeepGoing builds everything that does not depend on a failure.
	KeepGoing bool
	// NoSandbox runs build scripts directly on the host.
	NoSandbox bool
	// AllowNetwork names recipes that may use the network while they build
	// (besides cook.toml's [network] allow).
	AllowNetwork []string
	// Cache is the remote action cache ("" URL: none).
	Cache settings.RemoteCache
	// Fetch adjusts the fetch phase (its Update, Observer, Progress, ...).
	Fetch FetchOptions
	// Observer, when set, sees each node start and finish.
	Observer BuildObserver
	// Output, when set, receives every build's output live.
	Output io.Writer
	// Warn receives one-line warnings (the remote cache's); nil: the log.
	Warn func(string)
	// ReadOnly is for a caller without the work directory's writer lock
	// (explain, build --dry-run): a missing or out-of-date bootstrapped
	// toolchain is reported, not assembled - assembling replaces the prefix
	// a running build uses.
	ReadOnly bool
}

// Builder makes the builder of the Config: the work directory's signing
// key (created on first use), the sandbox and network settings, the cargo
// home, and download shims answering build scripts from the cache.
func (p *Pipeline) Builder(o BuildOptions) (*builder.Builder, error) {
	tree, w := p.cfg.Tree, p.cfg.Work
	key, err := pkgar.EnsureKeys(w.Keys())
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for _, n := range append(append([]string{}, p.cfg.Settings.Network.Allow...), o.AllowNetwork...) {
		if _, err := tree.Lookup(n); err != nil {
			return nil, fmt.Errorf("%w: network allowed for %w", ErrInvalid, err)
		}
		allowed[n] = true
	}
	b := &builder.Builder{
		Tree: tree, Work: w, Target: p.cfg.Target, Key: key, NoSandbox: o.NoSandbox, AllowNetwork: allowed,
		Offline: p.cfg.Offline, CargoHome: filepath.Join(w.Root, "cargo"), CargoRegistry: p.cfg.Settings.Cargo.Registry,
		CargoVendor: p.cfg.CargoVendor, ToolchainOptions: []toolchain.Option{toolchain.WithBootstrap(p.cfg.Bootstrap)},
		Log: p.cfg.Log, Output: o.Output,
	}
	if o.ReadOnly {
		b.ToolchainOptions = append(b.ToolchainOptions, toolchain.WithoutAutoBootstrap())
	}
	dl, err := fetch.NewDownloader(fetch.WithOffline(true), fetch.WithLogger(p.cfg.Log))
	if err != nil {
		return nil, err
	}
	b.Shims = buildShims{dl: dl, log: p.cfg.Log, tmp: w.Tmp()}
	return b, nil
}

// buildShims serves build scripts' wget and curl from the download cache.
type buildShims struct {
	dl  *fetch.Downloader
	log *slog.Logger
	tmp string
}

func (s buildShims) Start(ctx context.Context, recipe string) (*builder.Shim, error) {
	sh, err := fetch.BuildShims(ctx, s.dl, recipe, fetch.ShimParent(s.tmp))
	if err != nil {
		return nil, err
	}
	return &builder.Shim{Root: sh.Root, Bin: sh.Dir, Env: sh.Env(), Stop: sh.Close}, nil
}

// openCache gives b the action cache rc asks for: the work directory's
// store, then the remote one. It returns nil (and leaves b alone) without
// a remote.
func (p *Pipeline) openCache(b *builder.Builder, rc settings.RemoteCache, warn func(string)) (*builder.ActionCache, error) {
	if rc.URL == "" || p.cfg.Offline {
		return nil, nil
	}
	var remote cache.Store
	if dir, ok := strings.CutPrefix(rc.URL, "file://"); ok {
		// a directory shared by the team (NFS, a mounted volume): the same
		// layout as the work directory's own copy
		if !filepath.IsAbs(dir) {
			return nil, fmt.Errorf("%w: remote cache %s: a file:// cache needs an absolute path", ErrInvalid, rc.URL)
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%w: remote cache %s: no such directory (create it, or check the path)", ErrInvalid, rc.URL)
		}
		remote = &cache.Local{Dir: dir, Name: "remote cache " + rc.URL}
		if rc.ReadOnly {
			remote = cache.ReadOnly(remote)
		}
	} else {
		opts := []cache.Option{cache.WithWarnings(warn), cache.WithReadOnly(rc.ReadOnly)}
		if rc.Token != "" {
			opts = append(opts, cache.WithToken(rc.Token))
		} else if rc.User != "" {
			opts = append(opts, cache.WithBasicAuth(rc.User, rc.Password))
		}
		r, err := cache.NewRemote(rc.URL, opts...)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		remote = r
	}
	tmp := b.Work.Tmp()
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	ac, err := builder.NewActionCache(&cache.Layered{Local: cache.NewLocal(LocalCacheDir(b.Work.Root)), Remote: remote},
		builder.WithWarnings(warn), builder.WithTempDir(tmp), builder.WithUploads(4))
	if err != nil {
		return nil, err
	}
	b.Cache = ac
	return ac, nil
}

// LocalCacheDir is a work directory's own action-cache store.
func LocalCacheDir(work string) string { return filepath.Join(work, "cache") }

// BuildRun is a finished build.
type BuildRun struct {
	Builder  *builder.Builder
	Outcomes []builder.Outcome
	// FetchErrors are the recipes whose sources could not be fetched.
	FetchErrors map[string]error
	// Report is the build as data: every node's status, times and phases.
	Report *report.Build

	cache *builder.ActionCache
}

// Wait waits, at most until ctx ends, for the action cache's background
// uploads.
func (r *BuildRun) Wait(ctx context.Context) (builder.CacheCounts, error) {
	if r.cache == nil {
		return builder.CacheCounts{}, nil
	}
	err := r.cache.Flush(ctx)
	return r.cache.Counts(), err
}

// FetchError is a build stopped at its fetch phase.
type FetchError struct {
	Errors map[string]error // by recipe
}

func (e *FetchError) Error() string {
	names := make([]string, 0, len(e.Errors))
	for n := range e.Errors {
		names = append(names, n)
	}
	sort.Strings(names)
	var list []error
	for _, n := range names {
		list = append(list, e.Errors[n])
	}
	return fmt.Sprintf("fetch failed:\n%v", errors.Join(list...))
}

// Build builds the plan: the fetch phase first (sources, and the cargo
// step for cargo recipes, since builds have no network), then every node
// found not up to date, in parallel as the scheduler allows, each in its
// sandbox. Node failures are in the outcomes; the error is for a run that
// could not go on (a failed fetch phase without KeepGoing, or state that
// could not be saved). Call Wait on the result before exiting.
func (p *Pipeline) Build(ctx context.Context, pl *Plan, o BuildOptions) (*BuildRun, error) {
	start := time.Now()
	b, err := p.Builder(o)
	if err != nil {
		return nil, err
	}
	warn := o.Warn
	if warn == nil {
		warn = func(s string) { p.cfg.Log.Warn(s) }
	}
	ac, err := p.openCache(b, o.Cache, warn)
	if err != nil {
		return nil, err
	}
	run := &BuildRun{Builder: b, cache: ac}
	rep := &report.Build{Target: string(p.cfg.Target), Jobs: p.cfg.Jobs, Start: start}
	mark := start
	phase := func(name string) {
		now := time.Now()
		rep.Phases = append(rep.Phases, report.Phase{Name: name, Start: mark, End: now})
		mark = now
	}

	fetched, err := p.fetchForBuild(ctx, pl, o.Fetch)
	phase(report.FetchPhase)
	if err != nil {
		return run, err
	}
	run.FetchErrors = map[string]error{}
	b.SourceInfos = map[string]*fetch.Info{}
	for _, f := range fetched {
		if f.Err != nil {
			run.FetchErrors[f.Recipe] = f.Err
		} else if f.Result != nil && f.Result.Info != nil {
			b.SourceInfos[f.Recipe] = f.Result.Info
		}
	}
	if len(run.FetchErrors) > 0 && !o.KeepGoing {
		return run, &FetchError{Errors: run.FetchErrors}
	}

	// What is already up to date is found in one pass; only the rest is
	// scheduled.
	var pending []cookbook.Node
	for _, n := range pl.Order {
		if run.FetchErrors[n.Name] == nil {
			pending = append(pending, n)
		}
	}
	settled := b.Settled(ctx, pending, pl.Deps)
	phase(report.CheckPhase)
	// cargo fetch, for the cargo recipes that will be built: a node found
	// up to date needs no crates
	p.cargoForBuild(ctx, b, pl, fetched, settled, o.Fetch)
	for _, f := range fetched {
		if f.Err != nil {
			run.FetchErrors[f.Recipe] = f.Err
		}
	}
	if len(run.FetchErrors) > 0 && !o.KeepGoing {
		return run, &FetchError{Errors: run.FetchErrors}
	}
	jobs := make([]builder.Job, 0, len(pl.Order))
	for _, n := range pl.Order {
		if r := settled[n]; r != nil {
			run.Outcomes = append(run.Outcomes, builder.Outcome{Node: n, Status: builder.Cached, Result: r})
			continue
		}
		j := builder.Job{Node: n}
		for _, d := range pl.Deps(n) {
			if settled[d] == nil {
				j.Deps = append(j.Deps, d)
			}
		}
		if rec, _ := b.Record(n); rec != nil {
			j.Weight = rec.Seconds
		}
		jobs = append(jobs, j)
	}
	s := &builder.Scheduler{
		Jobs:      p.cfg.Jobs,
		KeepGoing: o.KeepGoing,
		Run: func(ctx context.Context, n cookbook.Node) (builder.Status, *builder.Result, error) {
			if err := run.FetchErrors[n.Name]; err != nil {
				return builder.Failed, nil, err
			}
			return b.Ensure(ctx, n)
		},
	}
	if o.Observer != nil {
		o.Observer.BuildScheduled(len(jobs))
		s.OnStart, s.OnFinish = o.Observer.BuildStarted, o.Observer.BuildFinished
	}
	run.Outcomes = append(run.Outcomes, s.Execute(ctx, jobs)...)
	phase(report.BuildPhase)
	if err := b.Flush(); err != nil {
		return run, fmt.Errorf("saving build state: %w", err)
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.Results = p.reportNodes(b, pl, run.Outcomes, fetched)
	run.Report = rep
	return run, nil
}

// fetchForBuild makes sure every node about to be built has its source as
// the recipe asks for it now (a changed pin, patch or script refetches; a
// branch-tracking checkout is only updated with Update).
func (p *Pipeline) fetchForBuild(ctx context.Context, pl *Plan, o FetchOptions) ([]FetchOutcome, error) {
	names := pl.Sources(p.cfg.Tree)
	if len(names) == 0 {
		return nil, nil
	}
	f, err := p.Fetcher(o)
	if err != nil {
		return nil, err
	}
	out := p.runFetches(ctx, f, names, o)
	return out, ctx.Err()
}

// cargoForBuild runs cargo fetch (cargoFetch), a few at a time, for the
// fetched recipes of which a node is not settled; a failure becomes the
// recipe's fetch error, and the step's time part of its fetch.
func (p *Pipeline) cargoForBuild(ctx context.Context, b *builder.Builder, pl *Plan, fetched []FetchOutcome,
	settled map[cookbook.Node]*builder.Result, o FetchOptions) {
	build := map[string]bool{}
	for _, n := range pl.Order {
		if settled[n] == nil {
			build[n.Name] = true
		}
	}
	jobs := o.Jobs
	if jobs < 1 {
		jobs = p.cfg.Jobs
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for i := range fetched {
		f := &fetched[i]
		if f.Err != nil || f.Result == nil || f.Result.Source == "" || !build[f.Recipe] {
			continue
		}
		g.Go(func() error {
			if err := p.cargoFetch(gctx, b, p.cfg.Tree.Recipes[f.Recipe], f.Result.Source); err != nil {
				f.Err = err
			}
			f.End = time.Now()
			return nil // one recipe's failure does not stop the others
		})
	}
	g.Wait()
}

// reportNodes turns outcomes into the report's nodes: status, times,
// phases (the fetch shown on one node per recipe), dependencies and errors.
func (p *Pipeline) reportNodes(b *builder.Builder, pl *Plan, outcomes []builder.Outcome, fetched []FetchOutcome) []report.Node {
	fetchOf := map[string]report.Phase{}
	for _, f := range fetched {
		fetchOf[f.Recipe] = report.Phase{Name: report.FetchPhase, Start: f.Start, End: f.End}
	}
	shown := map[string]bool{}
	results := make([]report.Node, 0, len(outcomes))
	for _, o := range outcomes {
		t := string(b.TargetOf(o.Node))
		r := report.Node{Recipe: o.Node.String(), Target: t, Status: string(o.Status), Seconds: o.Duration.Seconds(),
			Log: b.Work.Log(o.Node.Name, t), Start: o.Start, End: o.End(), Wait: o.Wait.Seconds()}
		if f, ok := fetchOf[o.Node.Name]; ok && !shown[o.Node.Name] {
			shown[o.Node.Name] = true
			r.Phases = append(r.Phases, f)
		}
		for _, d := range pl.Deps(o.Node) {
			r.Deps = append(r.Deps, d.String())
		}
		var phases []builder.Phase
		if be := (*builder.Error)(nil); errors.As(o.Err, &be) {
			phases = be.Phases
		}
		if o.Result != nil {
			phases = o.Result.Phases
			r.Stage, r.Package, r.Output, r.Hermetic, r.Key = o.Result.Stage, o.Result.Package, o.Result.Output, o.Result.Hermetic, o.Result.Key.String()
			if o.Status == builder.Cached {
				r.Seconds = 0
			}
		}
		if o.Err != nil {
			r.Error = o.Err.Error()
		}
		if o.Status == builder.Skipped && o.Cause.Name != "" {
			r.Error = fmt.Sprintf("not built: dependency %s failed", o.Cause)
			r.Cause = o.Cause.String()
		}
		for _, ph := range phases {
			r.Phases = append(r.Phases, report.Phase{Name: ph.Name, Start: ph.Start, End: ph.End})
		}
		results = append(results, r)
	}
	return results
}
