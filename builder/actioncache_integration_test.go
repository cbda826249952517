package builder_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/workdir"
)

func remoteStore(t testing.TB, url string, opts ...cache.Option) func(workdir.Dir) cache.Store {
	return func(w workdir.Dir) cache.Store {
		r, err := cache.NewRemote(url, append([]cache.Option{cache.WithWarnings(func(s string) { t.Log(s) })}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return &cache.Layered{Local: cache.NewLocal(filepath.Join(w.Root, "cache")), Remote: r}
	}
}

func allStatus(got map[string]builder.Status, want builder.Status) bool {
	for _, st := range got {
		if st != want {
			return false
		}
	}
	return len(got) > 0
}

// Machine A builds and uploads to a real bazel-remote; machine B, an empty
// work directory, gets everything from it, builds nothing, and ends with
// byte-identical stages and packages.
func TestBazelRemoteShare(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes and runs bazel-remote")
	}
	br := startBazelRemote(t)
	a := newMachine(t, machineOpt{store: remoteStore(t, br.URL)})
	got := a.buildAll(t, "meta")
	want := map[string]builder.Status{"libhello": builder.Built, "hello": builder.Built, "split": builder.Built, "meta": builder.Built}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("machine A (-want +got):\n%s", diff)
	}
	if c := a.ac.Counts(); c.Stored != 4 || c.FailedStores != 0 {
		t.Fatalf("machine A stored %+v", c)
	}

	b := newMachine(t, machineOpt{keysFrom: a.b, store: remoteStore(t, br.URL)})
	got = b.buildAll(t, "meta")
	if !allStatus(got, builder.RemoteCached) {
		t.Fatalf("machine B: %v, want everything remote-cached", got)
	}
	if diff := cmp.Diff(a.outputs(t), b.outputs(t)); diff != "" {
		t.Fatalf("machine B's outputs differ from A's (-A +B):\n%s", diff)
	}
	if len(a.outputs(t)) < 20 {
		t.Fatalf("too few outputs compared: %v", a.outputs(t))
	}
	// the restored log is A's
	logB, err := os.ReadFile(b.b.Work.Log("hello", string(b.b.Target)))
	if err != nil || !strings.Contains(string(logB), "building hello") {
		t.Fatalf("restored log: %v %q", err, logB)
	}
	// B's own state now says up to date: a second run is a plain no-op
	got = b.buildAll(t, "meta")
	if !allStatus(got, builder.Cached) {
		t.Fatalf("machine B again: %v, want cached", got)
	}
	// a third machine with another signing key shares nothing (the key
	// signs the packages, so it is an input)
	c := newMachine(t, machineOpt{store: remoteStore(t, br.URL)})
	got = c.buildAll(t, "libhello")
	if got["libhello"] != builder.Built {
		t.Fatalf("machine C with its own key: %v, want built", got)
	}

	// the work directory's own copy passes verify
	l := cache.NewLocal(filepath.Join(b.b.Work.Root, "cache"))
	probs, err := l.Verify(context.Background(), false)
	if err != nil || len(probs) > 0 {
		t.Fatalf("verify: %v %v", probs, err)
	}
}

// Read-only clients read but never write.
func TestBazelRemoteReadOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes and runs bazel-remote")
	}
	br := startBazelRemote(t)
	a := newMachine(t, machineOpt{store: remoteStore(t, br.URL, cache.WithReadOnly(true)), noSandbox: true})
	a.buildAll(t, "libhello")
	b := newMachine(t, machineOpt{keysFrom: a.b, store: remoteStore(t, br.URL), noSandbox: true})
	if got := b.buildAll(t, "libhello"); got["libhello"] != builder.Built {
		t.Fatalf("read-only A uploaded: B says %v", got)
	}
	c := newMachine(t, machineOpt{keysFrom: a.b, store: remoteStore(t, br.URL, cache.WithReadOnly(true)), noSandbox: true})
	if got := c.buildAll(t, "libhello"); got["libhello"] != builder.RemoteCached {
		t.Fatalf("read-only C did not read: %v", got)
	}
}

// Basic auth and bearer tokens reach the server; credentials never show in
// errors or warnings.
func TestBazelRemoteBasicAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bazel-remote")
	}
	// {SHA} htpasswd entry for user "cook", password "s3cret"
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("cook:{SHA}"+shaBase64("s3cret")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	br := startBazelRemote(t, "--htpasswd_file", htpasswd)
	ctx := context.Background()
	blob := []byte("hello")
	d := cache.DigestBytes(blob)

	var mu sync.Mutex
	var warnings []string
	warn := func(s string) { mu.Lock(); warnings = append(warnings, s); mu.Unlock() }
	bad, err := cache.NewRemote(strings.Replace(br.URL, "http://", "http://cook:wrong-pass@", 1), cache.WithWarnings(warn))
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Put(ctx, cache.CAS, d.Hash, d.Size, strings.NewReader(string(blob)))
	if err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if strings.Contains(err.Error(), "wrong-pass") || strings.Contains(bad.String(), "wrong-pass") {
		t.Fatalf("the password leaked: %v / %s", err, bad)
	}
	good, err := cache.NewRemote(strings.Replace(br.URL, "http://", "http://cook:s3cret@", 1), cache.WithWarnings(warn))
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Put(ctx, cache.CAS, d.Hash, d.Size, strings.NewReader(string(blob))); err != nil {
		t.Fatal(err)
	}
	if ok, err := good.Has(ctx, cache.CAS, d.Hash); !ok || err != nil {
		t.Fatalf("has: %v %v", ok, err)
	}
	for _, w := range warnings {
		if strings.Contains(w, "s3cret") || strings.Contains(w, "wrong-pass") {
			t.Fatalf("a warning shows the password: %s", w)
		}
	}
}
