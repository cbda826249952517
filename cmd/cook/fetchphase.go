package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/redox-cook/cook/build"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/workdir"
)

// fetchRecipes is the fetch phase of a build: it fetches and verifies the
// named recipes' sources, -j at a time, before anything builds. It returns
// each recipe's failure, naming the recipe, URL or file at fault.
//
// For cargo recipes the phase also runs cargo fetch through b (when b is
// not nil), since their builds have no network.
func (a *app) fetchRecipes(ctx context.Context, tree *cookbook.Tree, w workdir.Dir, b *build.Builder, names []string, update bool) (map[string]error, error) {
	dl, err := fetch.NewDownloader(fetch.WithMirrors(a.mirrors), fetch.WithOffline(a.offline), fetch.WithLogger(a.logger()))
	if err != nil {
		return nil, usageErr(err)
	}
	f, err := fetch.New(tree, w, dl, fetch.WithUpdate(update), fetch.WithFetchLogger(a.logger()))
	if err != nil {
		return nil, err
	}
	view := newLiveView(a.stderr, len(names), "fetching", a.quiet || a.json)
	defer view.close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.jobs)
	var mu sync.Mutex
	errs := map[string]error{}
	for _, name := range names {
		g.Go(func() error {
			view.start(name)
			res, err := f.Fetch(gctx, name)
			if err == nil && b != nil && res.Source != "" {
				err = b.CargoFetch(gctx, tree.Recipes[name], res.Source)
			}
			line := ""
			switch {
			case err != nil:
				line = "FAILED  fetch " + name
				mu.Lock()
				errs[name] = err
				mu.Unlock()
			case res.Status == fetch.Fetched:
				line = "fetched " + name
			}
			if a.quiet && err == nil {
				line = ""
			}
			view.finish(name, line)
			return nil
		})
	}
	g.Wait()
	return errs, ctx.Err()
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
