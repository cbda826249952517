package fetch

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/workdir"
)

// TestMain lets the test binary play cook's wget and curl: source scripts
// run it through the shim links, as they run the cook binary in real use.
func TestMain(m *testing.M) {
	if IsShim(os.Args[0]) {
		os.Exit(ShimMain(os.Args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// shared returns $COOK_SHARED or skips the test.
func shared(t testing.TB) string {
	t.Helper()
	d := os.Getenv("COOK_SHARED")
	if d == "" {
		t.Skip("COOK_SHARED is unset (point it at the shared/ reference directory)")
	}
	if _, err := os.Stat(filepath.Join(d, "tarballs", "MANIFEST.tsv")); err != nil {
		t.Skipf("COOK_SHARED=%s: %v", d, err)
	}
	return d
}

var (
	corpusOnce sync.Once
	corpusTree *cookbook.Tree
	corpusErr  error
)

func corpus(t testing.TB) *cookbook.Tree {
	t.Helper()
	root := filepath.Join(shared(t), "corpus", "redox")
	corpusOnce.Do(func() { corpusTree, corpusErr = cookbook.Load(context.Background(), root) })
	if corpusErr != nil {
		t.Fatal(corpusErr)
	}
	return corpusTree
}

// manifestEntry is one line of shared/tarballs/MANIFEST.tsv.
type manifestEntry struct {
	Recipe, URL, File, Blake3 string
}

func manifest(t testing.TB) []manifestEntry {
	t.Helper()
	dir := filepath.Join(shared(t), "tarballs")
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []manifestEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		c := strings.Split(l, "\t")
		if len(c) != 4 {
			t.Fatalf("MANIFEST.tsv: bad line %q", l)
		}
		out = append(out, manifestEntry{c[0], c[1], filepath.Join(dir, c[2]), c[3]})
	}
	return out
}

// upstream is a loopback HTTP server standing in for upstream hosts: it
// serves /<host>/<path> (a URL without its scheme and query) from files,
// behind mirror rules "<host>" → "<server>/<host>".
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string]string // "/host/path" → file
	bodies   map[string][]byte // "/host/path" → content (overrides files)
	status   map[string]int
	truncate map[string]bool
	latency  time.Duration
	requests atomic.Int64
	busy     atomic.Int64 // nanoseconds spent answering, summed over requests
	inFlight atomic.Int64
	maxIn    atomic.Int64 // the most requests answered at once
	arrivals []time.Time  // when each request arrived (under mu)
	hits     map[string]int
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{files: map[string]string{}, bodies: map[string][]byte{}, status: map[string]int{},
		truncate: map[string]bool{}, hits: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func urlKey(raw string) string {
	s := raw
	for _, p := range []string{"https://", "http://"} {
		s = strings.TrimPrefix(s, p)
	}
	s, _, _ = strings.Cut(s, "?")
	return "/" + s
}

func (u *upstream) addFile(rawURL, file string) {
	u.mu.Lock()
	u.files[urlKey(rawURL)] = file
	u.mu.Unlock()
}
func (u *upstream) addBody(rawURL string, b []byte) {
	u.mu.Lock()
	u.bodies[urlKey(rawURL)] = b
	u.mu.Unlock()
}

// mirrors returns mirror rules sending each host of urls to the server.
func (u *upstream) mirrors(urls ...string) map[string]string {
	m := map[string]string{}
	for _, raw := range urls {
		host := strings.SplitN(strings.TrimPrefix(urlKey(raw), "/"), "/", 2)[0]
		m[host] = u.URL + "/" + host
	}
	return m
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.requests.Add(1)
	start := time.Now()
	u.mu.Lock()
	u.arrivals = append(u.arrivals, start)
	u.mu.Unlock()
	in := u.inFlight.Add(1)
	for m := u.maxIn.Load(); in > m && !u.maxIn.CompareAndSwap(m, in); m = u.maxIn.Load() {
	}
	defer func() {
		u.inFlight.Add(-1)
		u.busy.Add(int64(time.Since(start)))
	}()
	if u.latency > 0 {
		time.Sleep(u.latency)
	}
	u.mu.Lock()
	key := r.URL.EscapedPath()
	u.hits[key]++
	st, body, file, trunc := u.status[key], u.bodies[key], u.files[key], u.truncate[key]
	u.mu.Unlock()
	if st != 0 {
		http.Error(w, http.StatusText(st), st)
		return
	}
	if body == nil && file != "" {
		var err error
		if body, err = os.ReadFile(file); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	}
	if body == nil {
		http.NotFound(w, r)
		return
	}
	if trunc {
		w.Header().Set("Content-Length", itoa(len(body)))
		w.Write(body[:len(body)/2])
		return // the handler returns early: the client sees a short body
	}
	w.Header().Set("Content-Length", itoa(len(body)))
	w.Write(body)
}

func itoa(n int) string { return strconv.Itoa(n) }

// testLogger sends slog output to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newTestFetcher builds a Fetcher on tree with a fresh work dir and cache
// (cache may be given to share one).
func newTestFetcher(t testing.TB, tree *cookbook.Tree, cache string, mirrors map[string]string, opts ...Option) *Fetcher {
	t.Helper()
	if cache == "" {
		cache = t.TempDir()
	}
	dl, err := NewDownloader(WithCacheDir(cache), WithMirrors(mirrors), WithRetries(2, 10*time.Millisecond), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]Option{
		WithScriptEnv("TARGET=x86_64-unknown-redox", "GNU_TARGET=x86_64-unknown-redox", "COOKBOOK_HOST_SYSROOT=/usr")}, opts...)
	f, err := New(tree, workdir.New(t.TempDir()), dl, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
