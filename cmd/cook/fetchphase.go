package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/workdir"
)

// fetchRecipes is the fetch phase of a build: it fetches and verifies the
// named recipes' sources, -j at a time, before anything builds. Every failure
// is reported, naming the recipe.
func (a *app) fetchRecipes(ctx context.Context, tree *cookbook.Tree, w workdir.Dir, names []string, update bool) error {
	dl, err := fetch.NewDownloader(fetch.WithMirrors(a.mirrors), fetch.WithOffline(a.offline), fetch.WithLogger(a.logger()))
	if err != nil {
		return usageErr(err)
	}
	f, err := fetch.New(tree, w, dl, fetch.WithUpdate(update), fetch.WithFetchLogger(a.logger()))
	if err != nil {
		return err
	}
	view := newLiveView(a.stderr, len(names), "fetching", a.quiet || a.json)
	defer view.close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.jobs)
	var mu sync.Mutex
	var errs []error
	for _, name := range names {
		g.Go(func() error {
			view.start(name)
			res, err := f.Fetch(gctx, name)
			line := ""
			switch {
			case err != nil:
				line = "FAILED  fetch " + name
				mu.Lock()
				errs = append(errs, err)
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
	if len(errs) > 0 {
		return failed(fmt.Errorf("fetch failed:\n%w", errors.Join(errs...)))
	}
	return ctx.Err()
}
