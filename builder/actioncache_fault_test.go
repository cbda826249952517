package builder_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/cookbook"
)

// warnings collects a machine's warnings.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) add(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, s)
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}

// stages is every staged tree of the machine (not packages, whose
// signatures may differ between builds), for comparing local rebuilds.
func stages(t testing.TB, m *machine) map[string]string {
	out := map[string]string{}
	for p, v := range m.outputs(t) {
		parts := strings.Split(p, string(filepath.Separator))
		if len(parts) > 4 && (parts[4] == "stage" || parts[4] == "stage.dev") {
			out[p] = v
		}
	}
	return out
}

// seeded returns a bazel-remote holding machine A's build of meta, and A.
func seeded(t *testing.T) (*bazelRemote, *machine) {
	t.Helper()
	br := startBazelRemote(t)
	a := newMachine(t, machineOpt{store: remoteStore(t, br.URL), noSandbox: true})
	a.buildAll(t, "meta")
	if c := a.ac.Counts(); c.Stored != 4 {
		t.Fatalf("seeding stored %+v", c)
	}
	return br, a
}

func wantAll(t *testing.T, got map[string]builder.Status, want builder.Status) {
	t.Helper()
	if !allStatus(got, want) {
		t.Fatalf("statuses %v, want all %s", got, want)
	}
}

// The server goes away in the middle of machine B's run: what was restored
// stays, the rest is built locally, after one warning.
func TestFaultServerStoppedMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes and runs bazel-remote")
	}
	br, a := seeded(t)
	var w warnings
	b := newMachine(t, machineOpt{keysFrom: a.b, store: remoteStore(t, br.URL, cache.WithWarnings(w.add)), noSandbox: true, warn: w.add})
	b.stageSources(t)
	got := map[string]builder.Status{}
	order, _ := b.b.Tree.NewGraph([]cookbook.Node{{Name: "meta"}}, cookbook.BuildEdge|cookbook.DevEdge|cookbook.PackageEdge).Order()
	for i, n := range order {
		if i == 1 {
			br.stop()
		}
		st, _, err := b.b.Ensure(context.Background(), n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		got[n.Name] = st
	}
	b.ac.Flush(context.Background())
	if got[order[0].Name] != builder.RemoteCached {
		t.Fatalf("first node %s: %s, want remote-cached", order[0], got[order[0].Name])
	}
	for _, n := range order[1:] {
		if got[n.Name] != builder.Built {
			t.Fatalf("%s after the server stopped: %s, want built", n, got[n.Name])
		}
	}
	ws := w.all()
	if len(ws) != 1 || !strings.Contains(ws[0], "building locally") {
		t.Fatalf("want one warning, got %q", ws)
	}
	if diff := cmp.Diff(stages(t, a), stages(t, b)); diff != "" {
		t.Fatalf("stages differ (-A +B):\n%s", diff)
	}
}

// A server that cannot be reached from the start costs one warning: builds
// and uploads go on without it, quickly.
func TestFaultUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes")
	}
	var w warnings
	url := "http://" + freePort(t) // nothing listens there
	a := newMachine(t, machineOpt{store: remoteStore(t, url, cache.WithWarnings(w.add)), noSandbox: true, warn: w.add})
	start := time.Now()
	wantAll(t, a.buildAll(t, "meta"), builder.Built)
	if ws := w.all(); len(ws) != 1 {
		t.Fatalf("want one warning, got %q", ws)
	}
	t.Logf("built with an unreachable cache in %v", time.Since(start))
}

// 500s from the server: built locally, one warning.
func TestFaultServerErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes and runs bazel-remote")
	}
	br, a := seeded(t)
	fp := newFaultProxy(t, br.URL)
	fp.mode.Store("500")
	var w warnings
	b := newMachine(t, machineOpt{keysFrom: a.b, store: remoteStore(t, fp.URL, cache.WithWarnings(w.add)), noSandbox: true, warn: w.add})
	wantAll(t, b.buildAll(t, "meta"), builder.Built)
	ws := w.all()
	if len(ws) != 1 || !strings.Contains(ws[0], "500") {
		t.Fatalf("want one warning naming the 500, got %q", ws)
	}
	if diff := cmp.Diff(stages(t, a), stages(t, b)); diff != "" {
		t.Fatalf("stages differ (-A +B):\n%s", diff)
	}
}

// Corrupted blobs are never used: every restore is a miss with a warning,
// the recipes are built locally and nothing damaged reaches the work
// directory or its cache.
func TestFaultCorruptBlobs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes and runs bazel-remote")
	}
	br, a := seeded(t)
	fp := newFaultProxy(t, br.URL)
	fp.mode.Store("corrupt")
	var w warnings
	b := newMachine(t, machineOpt{keysFrom: a.b, store: remoteStore(t, fp.URL, cache.WithWarnings(w.add), cache.WithReadOnly(true)), noSandbox: true, warn: w.add})
	wantAll(t, b.buildAll(t, "meta"), builder.Built)
	if fp.corrupt.Load() == 0 {
		t.Fatal("the proxy corrupted nothing")
	}
	ws := w.all()
	if len(ws) != 4 {
		t.Fatalf("want a warning per recipe, got %q", ws)
	}
	for _, s := range ws {
		if !strings.Contains(s, "hashes to") && !strings.Contains(s, "damaged") {
			t.Fatalf("warning does not say the blob was damaged: %s", s)
		}
	}
	if diff := cmp.Diff(stages(t, a), stages(t, b)); diff != "" {
		t.Fatalf("stages differ (-A +B):\n%s", diff)
	}
	probs, err := cache.NewLocal(filepath.Join(b.b.Work.Root, "cache")).Verify(context.Background(), false)
	if err != nil || len(probs) > 0 {
		t.Fatalf("local cache after corruption: %v %v", probs, err)
	}
	// no leftover temporaries beside the outputs
	filepath.Walk(b.b.Work.Root, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(info.Name(), ".restore-") {
			t.Errorf("leftover %s", p)
		}
		return nil
	})
}

// A slow server is given up on after its timeout.
func TestFaultSlowServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes and runs bazel-remote")
	}
	br, a := seeded(t)
	fp := newFaultProxy(t, br.URL)
	fp.mode.Store("slow")
	var w warnings
	b := newMachine(t, machineOpt{keysFrom: a.b, noSandbox: true, warn: w.add,
		store: remoteStore(t, fp.URL, cache.WithWarnings(w.add), cache.WithTimeout(200*time.Millisecond), cache.WithRetries(1))})
	start := time.Now()
	wantAll(t, b.buildAll(t, "meta"), builder.Built)
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("took %v", d)
	}
	if ws := w.all(); len(ws) != 1 {
		t.Fatalf("want one warning, got %q", ws)
	}
}

// The server goes away while machine A is building and uploading: the
// builds succeed, the uploads are dropped after one warning, and Flush
// does not hang.
func TestFaultServerStoppedDuringUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes and runs bazel-remote")
	}
	br := startBazelRemote(t)
	var w warnings
	a := newMachine(t, machineOpt{store: remoteStore(t, br.URL, cache.WithWarnings(w.add)), noSandbox: true, warn: w.add})
	a.stageSources(t)
	order, _ := a.b.Tree.NewGraph([]cookbook.Node{{Name: "meta"}}, cookbook.BuildEdge|cookbook.DevEdge|cookbook.PackageEdge).Order()
	for i, n := range order {
		st, _, err := a.b.Ensure(context.Background(), n)
		if err != nil || st != builder.Built {
			t.Fatalf("%s: %s %v", n, st, err)
		}
		if i == 1 {
			br.stop()
		}
	}
	start := time.Now()
	if err := a.ac.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("flush took %v", d)
	}
	c := a.ac.Counts()
	if c.Stored+c.FailedStores != 4 || c.FailedStores < 2 {
		t.Fatalf("counts %+v", c)
	}
	if ws := w.all(); len(ws) != 1 {
		t.Fatalf("want one warning, got %q", ws)
	}
}
