package fetch

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tarSources serves n small tar sources from up and returns their recipes.
func tarSources(t testing.TB, up *upstream, n int) (map[string]string, []string) {
	recipes := map[string]string{}
	var urls []string
	for i := range n {
		body := makeTarGz(t, tarEntry{name: fmt.Sprintf("s%d/", i), typ: tar.TypeDir},
			tarEntry{name: fmt.Sprintf("s%d/a.c", i), body: fmt.Sprintf("int a%d;\n", i)})
		u := fmt.Sprintf("https://example.org/all/%d.tar.gz", i)
		up.addBody(u, body)
		urls = append(urls, u)
		recipes[fmt.Sprintf("r%02d", i)] = tarRecipe(u, b3hex(body))
	}
	return recipes, urls
}

// TestFetchAllDownloadsAhead checks that FetchAll keeps jobs requests in
// flight while the recipes' other work is slow: every download is made
// before the first recipe's slow step (After) ends, never more than jobs
// at once, and the outcomes come in the order of names.
func TestFetchAllDownloadsAhead(t *testing.T) {
	up := newUpstream(t)
	up.latency = 20 * time.Millisecond
	recipes, urls := tarSources(t, up, 6)
	tree := testTree(t, recipes)
	f := newTestFetcher(t, tree, "", up.mirrors(urls...))
	const jobs = 2
	var firstAfter atomic.Int64 // when the first After ended
	var started []string
	var mu sync.Mutex
	start := time.Now()
	out := f.FetchAll(context.Background(), tree.Names, jobs, &Hooks{
		Started: func(name string) { mu.Lock(); started = append(started, name); mu.Unlock() },
		After: func(ctx context.Context, name string, res *Result) error {
			time.Sleep(400 * time.Millisecond)
			firstAfter.CompareAndSwap(0, int64(time.Since(start)))
			return nil
		},
	})
	for i, o := range out {
		if o.Recipe != tree.Names[i] || o.Err != nil || o.Result == nil || o.Result.Status != Fetched {
			t.Errorf("outcome %d: %+v", i, o)
		}
	}
	if n := up.requests.Load(); n != 6 {
		t.Errorf("%d requests, want 6", n)
	}
	if m := up.maxIn.Load(); m > jobs {
		t.Errorf("%d requests at once, more than jobs=%d", m, jobs)
	}
	up.mu.Lock()
	last := up.arrivals[len(up.arrivals)-1].Sub(start)
	up.mu.Unlock()
	if first := time.Duration(firstAfter.Load()); last >= first {
		t.Errorf("the last download started %v after the start, after the first recipe's slow step ended (%v): downloads waited for it", last, first)
	}
	if len(started) != 6 {
		t.Errorf("started %v", started)
	}
}

// TestFetchAllFailures checks that one recipe's failed download fails it
// alone, and that a cancelled FetchAll ends with the context's error for
// what it did not fetch.
func TestFetchAllFailures(t *testing.T) {
	up := newUpstream(t)
	recipes, urls := tarSources(t, up, 6)
	up.status[urlKey(urls[2])] = 404
	tree := testTree(t, recipes)
	f := newTestFetcher(t, tree, "", up.mirrors(urls...))
	out := f.FetchAll(context.Background(), tree.Names, 3, nil)
	for i, o := range out {
		var se *HTTPStatusError
		switch {
		case i == 2 && !errors.As(o.Err, &se):
			t.Errorf("r02: %v, want HTTP 404", o.Err)
		case i != 2 && o.Err != nil:
			t.Errorf("%s: %v", o.Recipe, o.Err)
		}
	}

	up2 := newUpstream(t)
	up2.latency = 200 * time.Millisecond
	recipes, urls = tarSources(t, up2, 6)
	tree = testTree(t, recipes)
	f = newTestFetcher(t, tree, "", up2.mirrors(urls...))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	for _, o := range f.FetchAll(ctx, tree.Names, 2, nil) {
		if !errors.Is(o.Err, context.DeadlineExceeded) && !strings.Contains(fmt.Sprint(o.Err), "context deadline exceeded") {
			t.Errorf("%s: %v, want the context's error", o.Recipe, o.Err)
		}
	}
	if len(f.prefetches) != 0 {
		t.Errorf("prefetches left: %v", f.prefetches)
	}
}

// TestCachedFetchWritesNothing: fetching a recipe whose tree is already
// what it asks for reads its record and writes nothing, so that the
// record keeps the time of the fetch that made the tree.
func TestCachedFetchWritesNothing(t *testing.T) {
	up := newUpstream(t)
	recipes, urls := tarSources(t, up, 1)
	tree := testTree(t, recipes)
	f := newTestFetcher(t, tree, "", up.mirrors(urls...))
	res, err := f.Fetch(context.Background(), "r00")
	if err != nil || res.Status != Fetched {
		t.Fatalf("first fetch: %v %v", res, err)
	}
	path := f.work.SourceInfo("r00")
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// a later run, on the same work directory
	g := newTestFetcher(t, tree, f.Downloader().Dir(), up.mirrors(urls...))
	g.work, g.timeID = f.work, "2099-01-01T00:00:00Z"
	res, err = g.Fetch(context.Background(), "r00")
	if err != nil || res.Status != Cached {
		t.Fatalf("second fetch: %v %v", res, err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Error("a cached fetch rewrote source_info.toml")
	}
	if res.Info.TimeIdentifier == "2099-01-01T00:00:00Z" {
		t.Error("a cached fetch reports the time of the check, not of the fetch")
	}
	// and through FetchAll, whose prefetch reads the record first
	for _, o := range g.FetchAll(context.Background(), []string{"r00"}, 2, nil) {
		if o.Err != nil || o.Result.Status != Cached {
			t.Fatalf("FetchAll: %+v", o)
		}
	}
	if again, err := os.Stat(path); err != nil || !os.SameFile(before, again) || !again.ModTime().Equal(before.ModTime()) {
		t.Error("a cached FetchAll rewrote source_info.toml")
	}
	if up.requests.Load() != 1 {
		t.Errorf("%d requests, want the first fetch's alone", up.requests.Load())
	}
}
