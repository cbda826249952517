package builder_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/workdir"
)

// Uploads run in the background, at most WithUploads at a time: builds do
// not wait for them, Flush does.
func TestUploadsInBackground(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes")
	}
	mem := &memServer{}
	var inflight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(150 * time.Millisecond)
		}
		mem.ServeHTTP(w, r)
	}))
	defer srv.Close()
	m := newMachine(t, machineOpt{noSandbox: true, store: func(workdir.Dir) cache.Store {
		r, err := cache.NewRemote(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}})
	ac, err := builder.NewActionCache(m.store, builder.WithUploads(2), builder.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	m.b.Cache, m.ac = ac, ac
	m.stageSources(t)
	order, _ := m.b.Tree.NewGraph([]cookbook.Node{{Name: "meta"}}, cookbook.BuildEdge|cookbook.DevEdge|cookbook.PackageEdge).Order()
	s := &builder.Scheduler{Jobs: 4, Run: m.b.Ensure}
	var jobs []builder.Job
	for _, n := range order {
		j := builder.Job{Node: n}
		for _, e := range m.b.Tree.Deps(n) {
			j.Deps = append(j.Deps, e.To)
		}
		jobs = append(jobs, j)
	}
	for _, o := range s.Execute(context.Background(), jobs) {
		if o.Status != builder.Built {
			t.Fatalf("%s: %s %v", o.Node, o.Status, o.Err)
		}
	}
	if c := ac.Counts(); c.Stored == 4 {
		t.Fatalf("every upload finished before the builds did: %+v", c)
	}
	if err := ac.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := ac.Counts(); c.Stored != 4 || c.FailedStores != 0 {
		t.Fatalf("after flush: %+v", c)
	}
	if p := peak.Load(); p > 2 || p < 1 {
		t.Fatalf("peak concurrent uploads %d, want 1..2", p)
	}
}

// A damaged blob in the local copy is a miss that removes it: the next
// restore fetches a good copy from the remote.
func TestLocalDamageRefetches(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes")
	}
	srv := httptest.NewServer(&memServer{})
	defer srv.Close()
	a := newMachine(t, machineOpt{noSandbox: true, store: remoteStore(t, srv.URL)})
	wantAll(t, a.buildAll(t, "libhello"), builder.Built)
	var w warnings
	b := newMachine(t, machineOpt{keysFrom: a.b, noSandbox: true, warn: w.add, store: remoteStore(t, srv.URL)})
	wantAll(t, b.buildAll(t, "libhello"), builder.RemoteCached)
	// damage every local blob of B's copy, and forget B's state
	blobs, err := filepath.Glob(filepath.Join(b.b.Work.Root, "cache", "cas", "*", "*"))
	if err != nil || len(blobs) == 0 {
		t.Fatalf("no local blobs: %v", err)
	}
	for _, p := range blobs {
		os.WriteFile(p, []byte("damaged"), 0o644)
	}
	forget := func() {
		if err := b.b.Forget(cookbook.Node{Name: "libhello"}); err != nil {
			t.Fatal(err)
		}
	}
	forget()
	wantAll(t, b.buildAll(t, "libhello"), builder.Built)
	if ws := w.all(); len(ws) != 1 || !strings.Contains(ws[0], "damaged") {
		t.Fatalf("warnings %q", ws)
	}
	// B's build of the same key replaced nothing remote; the damaged local
	// copies are gone or replaced, so a restore works again
	forget()
	os.RemoveAll(b.b.Work.Stage("libhello", string(b.b.Target), ""))
	wantAll(t, b.buildAll(t, "libhello"), builder.RemoteCached)
}
