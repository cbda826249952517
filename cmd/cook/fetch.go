package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/internal/live"
	"github.com/redox-cook/cook/pipeline"
)

func init() { register(newFetchCmd) }

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
			roots, err := nodes(tree, args)
			if err != nil {
				return err
			}
			names := pipeline.FetchSelection(tree, roots, all, withDeps)
			w, unlock, err := a.writeWork(cmd.Context())
			if err != nil {
				return err
			}
			defer unlock()
			jobs := a.jobs
			if !cmd.Flags().Changed("jobs") && os.Getenv("COOK_JOBS") == "" && a.settings.Jobs == 0 {
				// Fetching waits on the network, not the CPU: default to more at a time.
				jobs = min(4*a.jobs, 16)
			}
			view := a.newFetchView(len(names))
			results, err := a.pipeline(tree, w).Fetch(ctx, names, view.options(pipeline.FetchOptions{Update: true, Jobs: jobs}))
			view.Close()
			if err != nil {
				return pipelineErr(err)
			}
			return a.reportFetches(results)
		},
	}
	cmd.Flags().BoolVar(&withDeps, "with-deps", false, "also fetch every recipe the named ones depend on (build, dev and package dependencies)")
	cmd.Flags().BoolVar(&all, "all", false, "fetch every recipe of the tree (recipes upstream refuses to load are skipped with a warning)")
	return cmd
}

// fetchView shows a fetch phase (see live.Transfers) and observes it.
type fetchView struct {
	*live.Transfers
	a *app
}

// newFetchView makes the view of a fetch phase of total recipes.
func (a *app) newFetchView(total int) *fetchView {
	return &fetchView{Transfers: live.NewTransfers(a.stderr, total, a.quiet || a.json), a: a}
}

// options adds the view to o: it observes the fetches, shows a bar per
// transfer, and takes log lines and (with -v) script output above its
// live area.
func (v *fetchView) options(o pipeline.FetchOptions) pipeline.FetchOptions {
	o.Observer = v
	o.Log = v.a.logger()
	if v.Live() {
		level := slog.LevelInfo
		if v.a.verbose {
			level = slog.LevelDebug
		}
		o.Log = slog.New(slog.NewTextHandler(v, &slog.HandlerOptions{Level: level}))
		o.Progress = func(r, kind, what string) fetch.ProgressCounter { return v.Bar(escape(r), kind, escape(what)) }
	}
	if v.a.verbose {
		var w io.Writer = v.a.stderr
		if v.Live() {
			w = v
		}
		o.ScriptOutput = w
	}
	return o
}

// FetchStarted implements pipeline.FetchObserver.
func (v *fetchView) FetchStarted(name string) { v.Start(escape(name)) }

// FetchFinished implements pipeline.FetchObserver.
func (v *fetchView) FetchFinished(name string, res *fetch.Result, err error) {
	var line string
	switch {
	case err != nil:
		line = fmt.Sprintf("FAILED  %s", escape(name)) // the error itself is printed once, at the end
	case res.Info != nil && res.Info.SourceIdentifier != "":
		line = fmt.Sprintf("%-7s %s (%s)", res.Status, escape(name), res.Info.SourceIdentifier)
	default:
		line = fmt.Sprintf("%-7s %s", res.Status, escape(name))
	}
	v.Finish(escape(name), line, err != nil)
}

func (a *app) reportFetches(results []pipeline.FetchOutcome) error {
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	if a.json {
		if err := a.printJSON(map[string]any{"results": results}); err != nil {
			return err
		}
		if len(errs) > 0 {
			return failed(errSilent)
		}
		return nil
	}
	if len(errs) > 0 {
		return failed(fmt.Errorf("%d of %d recipes failed to fetch:\n%s", len(errs), len(results), escape(errors.Join(errs...).Error())))
	}
	return nil
}
