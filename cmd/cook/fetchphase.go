package main

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/redox-cook/cook/build"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/report"
	"github.com/redox-cook/cook/workdir"
)

// fetchRecipes is the fetch phase of a build: it fetches and verifies the
// named recipes' sources, -j at a time, before anything builds, and for cargo
// recipes runs cargo fetch through b (builds have no network). It returns
// each recipe's failure, naming the recipe, URL or file at fault, and when
// each fetch ran.
func (a *app) fetchRecipes(ctx context.Context, tree *cookbook.Tree, w workdir.Dir, b *build.Builder, names []string, update bool) (map[string]error, map[string]report.Phase, error) {
	f, view, err := a.newFetcher(tree, w, len(names), update)
	if err != nil {
		return nil, nil, err
	}
	cargo := func(ctx context.Context, name string, res *fetch.Result) error {
		if res.Source == "" {
			return nil
		}
		return b.CargoFetch(ctx, tree.Recipes[name], res.Source)
	}
	results := runFetches(ctx, a.jobs, f, view, names, cargo)
	view.close()
	errs := map[string]error{}
	times := map[string]report.Phase{}
	for _, r := range results {
		if r.err != nil {
			errs[r.name] = r.err
		}
		if !r.start.IsZero() {
			times[r.name] = report.Phase{Name: report.FetchPhase, Start: r.start, End: r.end}
		}
	}
	return errs, times, ctx.Err()
}

// joinFetchErrors is the error for a run that stops at the fetch phase.
func joinFetchErrors(errs map[string]error) error {
	names := make([]string, 0, len(errs))
	for n := range errs {
		names = append(names, n)
	}
	sort.Strings(names)
	var list []error
	for _, n := range names {
		list = append(list, errs[n])
	}
	return failed(fmt.Errorf("fetch failed:\n%w", errors.Join(list...)))
}
