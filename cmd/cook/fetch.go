package main

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

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/toolchain"
	"github.com/redox-cook/cook/workdir"
)

func init() { register(newFetchCmd) }

type fetchResultJSON struct {
	Recipe string `json:"recipe"`
	Status string `json:"status"`
	Source string `json:"source"`
	Ident  string `json:"ident"`
	Error  string `json:"error"`
}

func newFetchCmd(a *app) *cobra.Command {
	var withDeps, all bool
	cmd := &cobra.Command{
		Use:   "fetch [RECIPE...] [--with-deps] [--all]",
		Short: "Fetch and verify recipe sources (git, tar, path, same_as), apply patches, run source scripts",
		Long: `Fetch makes each recipe's source tree in the work directory: it clones git sources (and
brings branch-tracking checkouts up to date), downloads tarballs into the shared download
cache and verifies their BLAKE3 before extracting them, copies path sources, links same_as
sources, applies patches and runs source scripts. Mirror rules (--mirror, [mirrors]) and
--offline apply to every download, including wget and curl run by source scripts.

The download cache is shared by all work directories: $COOK_CACHE/downloads when COOK_CACHE
is set, else <user cache dir>/cook/downloads. See docs/fetching.md.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return usageErr(errors.New("cook fetch: name recipes, or pass --all"))
			}
			ctx := cmd.Context()
			tree, err := a.loadTree(ctx)
			if err != nil {
				return err
			}
			names, err := fetchNames(tree, args, all, withDeps)
			if err != nil {
				return err
			}
			w, unlock, err := a.writeWork(cmd.Context())
			if err != nil {
				return err
			}
			defer unlock()
			f, view, err := a.newFetcher(tree, w, len(names), true)
			if err != nil {
				return err
			}
			jobs := a.jobs
			if !cmd.Flags().Changed("jobs") && os.Getenv("COOK_JOBS") == "" && a.settings.Jobs == 0 {
				// Fetching waits on the network, not the CPU: default to more at a time.
				jobs = min(4*a.jobs, 16)
			}
			results := runFetches(ctx, jobs, f, view, names, nil)
			view.close()
			return a.reportFetches(results)
		},
	}
	cmd.Flags().BoolVar(&withDeps, "with-deps", false, "also fetch every recipe the named ones depend on (build, dev and package dependencies)")
	cmd.Flags().BoolVar(&all, "all", false, "fetch every recipe of the tree (recipes upstream refuses to load are skipped with a warning)")
	return cmd
}

// fetchNames resolves the recipes to fetch, sorted and without duplicates.
func fetchNames(tree *cookbook.Tree, args []string, all, withDeps bool) ([]string, error) {
	var roots []cookbook.Node
	if all {
		for _, n := range tree.Names {
			roots = append(roots, cookbook.Node{Name: n})
		}
	} else {
		var err error
		if roots, err = nodes(tree, args); err != nil {
			return nil, err
		}
	}
	if withDeps {
		roots = tree.NewGraph(roots, cookbook.AllEdges).Nodes
	}
	seen := map[string]bool{}
	var names []string
	for _, n := range roots {
		if _, ok := tree.Recipes[n.Name]; !ok || seen[n.Name] {
			continue // unresolved dependencies are reported by cook check
		}
		if all && tree.Recipes[n.Name].HasErrors() {
			continue
		}
		seen[n.Name] = true
		names = append(names, n.Name)
	}
	sort.Strings(names)
	return names, nil
}

// newFetcher builds the Fetcher for the global flags; update says whether
// branch-tracking checkouts follow their remote.
func (a *app) newFetcher(tree *cookbook.Tree, w workdir.Dir, total int, update bool) (*fetch.Fetcher, *fetchView, error) {
	work := w.Root
	cache, err := fetch.DefaultCacheDir()
	if err != nil {
		return nil, nil, usageErr(err)
	}
	view := newFetchView(a.stderr, total, a.quiet || a.json)
	log := a.logger()
	if view.live { // log lines go above the progress area
		level := slog.LevelInfo
		if a.verbose {
			level = slog.LevelDebug
		}
		log = slog.New(slog.NewTextHandler(view, &slog.HandlerOptions{Level: level}))
	}
	dl, err := fetch.NewDownloader(fetch.WithCacheDir(cache), fetch.WithMirrors(a.mirrors),
		fetch.WithOffline(a.offline), fetch.WithLogger(log), fetch.WithMaxSourceSize(int64(a.settings.Limits.SourceSize)))
	if err != nil {
		return nil, nil, usageErr(err)
	}
	opts := []fetch.Option{fetch.WithUpdate(update), fetch.WithFetchLogger(log),
		fetch.WithScriptEnv(a.sourceScriptEnv(work)...)}
	if view.live {
		opts = append(opts, fetch.WithProgress(view.counter))
	}
	if a.verbose {
		var w io.Writer = a.stderr
		if view.live {
			w = view
		}
		opts = append(opts, fetch.WithScriptOutput(w))
	}
	f, err := fetch.New(tree, w, dl, opts...)
	if err != nil {
		return nil, nil, err
	}
	return f, view, nil
}

// sourceScriptEnv is what make gives upstream's source scripts: TARGET,
// GNU_TARGET and COOKBOOK_HOST_SYSROOT (the prefix's sysroot when cook has
// one, else /usr), unless the environment already sets them.
func (a *app) sourceScriptEnv(work string) []string {
	t := toolchain.Triple(a.target)
	env := map[string]string{"TARGET": a.target, "GNU_TARGET": t.GNU(), "COOKBOOK_HOST_SYSROOT": "/usr"}
	if sys := filepath.Join(toolchain.PrefixDir(work, t), "sysroot"); dirExists(sys) {
		env["COOKBOOK_HOST_SYSROOT"] = sys
	}
	var out []string
	for k, v := range env {
		if _, set := os.LookupEnv(k); !set {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

type fetchOutcome struct {
	name       string
	res        *fetch.Result
	err        error
	start, end time.Time
}

// runFetches fetches names with at most jobs at a time; after, when not nil,
// runs after each successful fetch (the build's cargo fetch step).
func runFetches(ctx context.Context, jobs int, f *fetch.Fetcher, view *fetchView, names []string,
	after func(ctx context.Context, name string, res *fetch.Result) error) []fetchOutcome {
	out := make([]fetchOutcome, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for i, name := range names {
		g.Go(func() error {
			view.start(name)
			start := time.Now()
			res, err := f.Fetch(gctx, name)
			if err == nil && after != nil {
				err = after(gctx, name, res)
			}
			out[i] = fetchOutcome{name: name, res: res, err: err, start: start, end: time.Now()}
			view.finish(name, res, err)
			return nil // one recipe's failure does not stop the others
		})
	}
	g.Wait()
	return out
}

func (a *app) reportFetches(results []fetchOutcome) error {
	var errs []error
	js := make([]fetchResultJSON, 0, len(results))
	for _, r := range results {
		j := fetchResultJSON{Recipe: r.name}
		if r.err != nil {
			j.Status, j.Error = "failed", r.err.Error()
			errs = append(errs, r.err)
		} else {
			j.Status, j.Source = string(r.res.Status), r.res.Source
			if r.res.Info != nil {
				j.Ident = r.res.Info.SourceIdentifier
			}
		}
		js = append(js, j)
	}
	if a.json {
		if err := a.printJSON(map[string]any{"results": js}); err != nil {
			return err
		}
		if len(errs) > 0 {
			return failed(errSilent)
		}
		return nil
	}
	if len(errs) > 0 {
		return failed(fmt.Errorf("%d of %d recipes failed to fetch:\n%w", len(errs), len(results), errors.Join(errs...)))
	}
	return nil
}

// fetchView shows fetches: a byte (or git object) bar per transfer and a
// count with the running recipes on a terminal; plain lines otherwise.
type fetchView struct {
	liveArea
	quiet   bool
	total   int
	done    int
	running map[string]time.Time
	bars    []*fetchBar
}

type fetchBar struct {
	v   *fetchView
	bar *progressbar.ProgressBar
}

func newFetchView(w io.Writer, total int, quiet bool) *fetchView {
	v := &fetchView{total: total, quiet: quiet, running: map[string]time.Time{}}
	v.liveArea.start(w, quiet, 150*time.Millisecond, v.lines)
	return v
}

// lines renders the bars and the summary line (mu held).
func (v *fetchView) lines() []string {
	var out []string
	for _, fb := range v.bars {
		out = append(out, "  "+fb.bar.String())
	}
	names := runningLines(v.running)
	if len(names) > 4 {
		names = append(names[:4], fmt.Sprintf("and %d more", len(names)-4))
	}
	summary := fmt.Sprintf("fetched %d/%d", v.done, v.total)
	if len(names) > 0 {
		summary += " · running " + strings.Join(names, ", ")
	}
	return append(out, summary)
}

// counter makes the progress counter of one transfer.
func (v *fetchView) counter(recipe, kind, what string) fetch.ProgressCounter {
	opts := []progressbar.Option{progressbar.OptionSetWriter(io.Discard), progressbar.OptionSetWidth(25),
		progressbar.OptionThrottle(100 * time.Millisecond), progressbar.OptionSetPredictTime(false)}
	if kind == "git" {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetItsString("objects"),
			progressbar.OptionSetDescription(recipe+": git objects"))
	} else {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionSetDescription(recipe+": "+filepath.Base(what)))
	}
	fb := &fetchBar{v: v, bar: progressbar.NewOptions64(-1, opts...)}
	v.mu.Lock()
	v.bars = append(v.bars, fb)
	v.mu.Unlock()
	return fb
}

func (b *fetchBar) SetTotal(n int64) { b.bar.ChangeMax64(n) }
func (b *fetchBar) Add(n int)        { b.bar.Add(n) }
func (b *fetchBar) Done() {
	b.v.mu.Lock()
	defer b.v.mu.Unlock()
	for i, x := range b.v.bars {
		if x == b {
			b.v.bars = append(b.v.bars[:i], b.v.bars[i+1:]...)
			break
		}
	}
}

func (v *fetchView) start(name string) {
	v.mu.Lock()
	v.running[name] = time.Now()
	v.mu.Unlock()
}

func (v *fetchView) finish(name string, res *fetch.Result, err error) {
	var line string
	switch {
	case err != nil:
		line = fmt.Sprintf("FAILED  %s", name) // the error itself is printed once, at the end
	case res.Info != nil && res.Info.SourceIdentifier != "":
		line = fmt.Sprintf("%-7s %s (%s)", res.Status, name, res.Info.SourceIdentifier)
	default:
		line = fmt.Sprintf("%-7s %s", res.Status, name)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.running, name)
	v.done++
	if v.live || err != nil || !v.quiet {
		v.above([]byte(line + "\n"))
	}
}
