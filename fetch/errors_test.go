package fetch

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/workdir"
)

type tarEntry struct {
	name, body, link string
	typ              byte
}

func makeTarGz(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: e.typ, Linkname: e.link}
		switch e.typ {
		case 0:
			h.Typeflag = tar.TypeReg
		case tar.TypeDir:
			h.Mode, h.Size = 0o755, 0
		case tar.TypeSymlink, tar.TypeLink:
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func b3hex(b []byte) string { s := blake3.Sum256(b); return hex.EncodeToString(s[:]) }

func tarRecipe(url, pin string, extra ...string) string {
	s := "[source]\ntar = \"" + url + "\"\n"
	if pin != "" {
		s += "blake3 = \"" + pin + "\"\n"
	}
	return s + strings.Join(extra, "\n") + "\n[build]\ntemplate = \"configure\"\n"
}

// cookRoot is a writable cookbook root whose recipes a test can rewrite.
type cookRoot struct {
	t    *testing.T
	root string
}

func newCookRoot(t *testing.T) *cookRoot { return &cookRoot{t, t.TempDir()} }

func (c *cookRoot) write(files map[string]string) *cookbook.Tree {
	for n, body := range files {
		p := filepath.Join(c.root, "recipes", n)
		if !strings.Contains(n, "/") {
			p = filepath.Join(p, "recipe.toml")
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	tree, err := cookbook.Load(context.Background(), c.root)
	if err != nil {
		c.t.Fatal(err)
	}
	return tree
}

// refetcher makes a new Fetcher over tree sharing f's work dir and cache.
func refetcher(t *testing.T, f *Fetcher, tree *cookbook.Tree) *Fetcher {
	g, err := New(tree, f.work, f.dl)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const (
	v1URL = "https://example.org/pkg/pkg-1.tar.gz"
	v2URL = "https://example.org/pkg/pkg-2.tar.gz"
)

// TestTarFailuresKeepPreviousSource fetches v1, then points the recipe at
// v2 and makes every way of getting v2 fail: each error names the recipe
// and the URL, and v1's tree stays, with nothing partial left behind.
func TestTarFailuresKeepPreviousSource(t *testing.T) {
	up := newUpstream(t)
	v1 := makeTarGz(t, tarEntry{name: "pkg-1/", typ: tar.TypeDir}, tarEntry{name: "pkg-1/VERSION", body: "1\n"})
	v2 := makeTarGz(t, tarEntry{name: "pkg-2/", typ: tar.TypeDir}, tarEntry{name: "pkg-2/VERSION", body: "2\n"},
		tarEntry{name: "pkg-2/file.c", body: "int x;\n"})
	up.addBody(v1URL, v1)
	cr := newCookRoot(t)
	f := newTestFetcher(t, cr.write(map[string]string{"pkg": tarRecipe(v1URL, b3hex(v1))}), "", up.mirrors(v1URL))
	ctx := context.Background()
	if _, err := f.Fetch(ctx, "pkg"); err != nil {
		t.Fatal(err)
	}
	keep := func(t *testing.T) {
		t.Helper()
		if got := readFile(t, filepath.Join(f.Source("pkg"), "VERSION")); got != "1\n" {
			t.Errorf("previous source changed: VERSION = %q", got)
		}
		if info, _ := f.Info("pkg"); info == nil || info.SourceIdentifier != b3hex(v1) {
			t.Errorf("source_info.toml changed: %+v", info)
		}
		assertNoTmp(t, f)
	}

	tampered := append([]byte(nil), v2...)
	tampered[len(tampered)/2] ^= 0xff
	badPatch := "--- a/file.c\n+++ b/file.c\n@@ -1 +1 @@\n-int y;\n+int z;\n"
	for _, tc := range []struct {
		name   string
		setup  func()
		recipe map[string]string
		want   []string
	}{
		{"tampered", func() { up.bodies[urlKey(v2URL)] = tampered }, map[string]string{"pkg": tarRecipe(v2URL, b3hex(v2))},
			[]string{"BLAKE3 mismatch", v2URL, "expected " + b3hex(v2), "got " + b3hex(tampered)}},
		{"truncated", func() { up.bodies[urlKey(v2URL)] = v2; up.truncate[urlKey(v2URL)] = true }, map[string]string{"pkg": tarRecipe(v2URL, b3hex(v2))},
			[]string{"truncated: got", v2URL}},
		{"404", func() { up.truncate[urlKey(v2URL)] = false; up.status[urlKey(v2URL)] = 404 }, map[string]string{"pkg": tarRecipe(v2URL, b3hex(v2))},
			[]string{"HTTP 404 Not Found", "not on the server", v2URL}},
		{"patch", func() { up.status[urlKey(v2URL)] = 0 },
			map[string]string{"pkg": tarRecipe(v2URL, b3hex(v2), `patches = ["bad.patch"]`), "pkg/bad.patch": badPatch},
			[]string{"bad.patch does not apply", "file.c: Hunk #1 FAILED at 1"}},
		{"script", nil, map[string]string{"pkg": tarRecipe(v2URL, b3hex(v2), `script = "echo about to fail; false"`)},
			[]string{"source script of pkg", "about to fail"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				up.mu.Lock()
				tc.setup()
				up.mu.Unlock()
			}
			g := refetcher(t, f, cr.write(tc.recipe))
			_, err := g.Fetch(ctx, "pkg")
			if err == nil {
				t.Fatal("fetch succeeded")
			}
			for _, w := range append(tc.want, "fetch pkg") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			keep(t)
		})
	}
	// The genuine v2 then replaces v1.
	up.addBody(v2URL, v2)
	g := refetcher(t, f, cr.write(map[string]string{"pkg": tarRecipe(v2URL, b3hex(v2))}))
	if res, err := g.Fetch(ctx, "pkg"); err != nil || readFile(t, filepath.Join(res.Source, "VERSION")) != "2\n" {
		t.Fatalf("v2: %v", err)
	}
	assertNoTmp(t, f)
}

// The corpus's own bzip2 recipe against a tampered copy of its tarball.
func TestCorpusTamperedTarball(t *testing.T) {
	tree := corpus(t)
	var e manifestEntry
	for _, m := range manifest(t) {
		if m.Recipe == "archives/bzip2" {
			e = m
		}
	}
	data, err := os.ReadFile(e.File)
	if err != nil {
		t.Fatal(err)
	}
	data[1000] ^= 1
	up := newUpstream(t)
	up.addBody(e.URL, data)
	f := newTestFetcher(t, tree, "", up.mirrors(e.URL))
	_, err = f.Fetch(context.Background(), "bzip2")
	var hm *HashMismatchError
	if !errors.As(err, &hm) || hm.Expected != e.Blake3 || hm.Actual != b3hex(data) {
		t.Fatalf("error %v, want a hash mismatch (expected %s, got %s)", err, e.Blake3, b3hex(data))
	}
	for _, w := range []string{"fetch bzip2", e.URL, e.Blake3, b3hex(data)} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if _, err := os.Lstat(f.Source("bzip2")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a source directory was left")
	}
	if _, ok := f.dl.Lookup(e.URL, ""); ok {
		t.Error("the tampered file was cached")
	}
}

func TestTraversalTarballs(t *testing.T) {
	up := newUpstream(t)
	outside := t.TempDir()
	cases := map[string][]tarEntry{
		"dotdot":   {{name: "t/", typ: tar.TypeDir}, {name: "t/ok", body: "ok"}, {name: "t/../../evil", body: "x"}},
		"absolute": {{name: "/tmp/evil", body: "x"}},
		"symlink":  {{name: "t/", typ: tar.TypeDir}, {name: "t/link", typ: tar.TypeSymlink, link: "../../" + filepath.Base(outside)}},
		"abslink":  {{name: "t/", typ: tar.TypeDir}, {name: "t/link", typ: tar.TypeSymlink, link: outside}},
		"through":  {{name: "t/", typ: tar.TypeDir}, {name: "t/d", typ: tar.TypeSymlink, link: "."}, {name: "t/d/x", body: "x"}},
		"hardlink": {{name: "t/", typ: tar.TypeDir}, {name: "t/h", typ: tar.TypeLink, link: "../etc/passwd"}},
	}
	recipes := map[string]string{}
	var urls []string
	for name, entries := range cases {
		u := "https://example.org/" + name + ".tar.gz"
		body := makeTarGz(t, entries...)
		up.addBody(u, body)
		urls = append(urls, u)
		recipes[name] = tarRecipe(u, b3hex(body))
	}
	f := newTestFetcher(t, testTree(t, recipes), "", up.mirrors(urls...))
	for name := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := f.Fetch(context.Background(), name)
			var te *TraversalError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), "fetch "+name) || !strings.Contains(err.Error(), "refusing to extract") {
				t.Fatalf("error %v, want a traversal error", err)
			}
			if _, err := os.Lstat(f.Source(name)); !errors.Is(err, os.ErrNotExist) {
				t.Error("a source directory was left")
			}
			assertNoTmp(t, f)
		})
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("something was written outside: %v", ents)
	}
}

func TestDownloadOnceForConcurrentRecipes(t *testing.T) {
	up := newUpstream(t)
	up.latency = 100 * 1e6
	body := makeTarGz(t, tarEntry{name: "s/f", body: "shared"})
	const u = "https://example.org/shared.tar.gz"
	up.addBody(u, body)
	recipes := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d"} {
		recipes[n] = tarRecipe(u, b3hex(body))
	}
	f := newTestFetcher(t, testTree(t, recipes), "", up.mirrors(u))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, n := range []string{"a", "b", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.Fetch(context.Background(), n)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := up.hits[urlKey(u)]; n != 1 {
		t.Errorf("%d downloads of one URL, want 1", n)
	}
	// A second work directory sharing the cache downloads nothing.
	g, err := New(f.tree, workdir.New(t.TempDir()), f.dl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Fetch(context.Background(), "a"); err != nil || up.hits[urlKey(u)] != 1 {
		t.Errorf("second work dir: %v, %d downloads", err, up.hits[urlKey(u)])
	}
}

func TestOfflineTar(t *testing.T) {
	up := newUpstream(t)
	body := makeTarGz(t, tarEntry{name: "s/f", body: "x"})
	const u = "https://example.org/off.tar.gz"
	up.addBody(u, body)
	tree := testTree(t, map[string]string{"off": tarRecipe(u, b3hex(body))})
	dl, _ := NewDownloader(WithCacheDir(t.TempDir()), WithOffline(true), WithLogger(testLogger(t)))
	f, _ := New(tree, workdir.New(t.TempDir()), dl)
	_, err := f.Fetch(context.Background(), "off")
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "fetch off") || !strings.Contains(err.Error(), u) {
		t.Fatalf("error %v, want an offline refusal naming recipe and URL", err)
	}
	if up.requests.Load() != 0 {
		t.Error("offline fetch made a request")
	}
}

func TestUnpinnedTarAndRetries(t *testing.T) {
	up := newUpstream(t)
	body := makeTarGz(t, tarEntry{name: "s/f", body: "x"})
	const u = "https://example.org/flaky.tar.gz"
	up.addBody(u, body)
	up.status[urlKey(u)] = 503
	f := newTestFetcher(t, testTree(t, map[string]string{"flaky": tarRecipe(u, "")}), "", up.mirrors(u))
	_, err := f.Fetch(context.Background(), "flaky")
	if err == nil || !strings.Contains(err.Error(), "HTTP 503") || up.hits[urlKey(u)] != 3 {
		t.Fatalf("error %v after %d requests, want HTTP 503 after 3", err, up.hits[urlKey(u)])
	}
	up.mu.Lock()
	up.status[urlKey(u)] = 0
	up.mu.Unlock()
	res, err := f.Fetch(context.Background(), "flaky")
	if err != nil || res.Info.SourceIdentifier != b3hex(body) {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestPathSameAsAndNone(t *testing.T) {
	cr := newCookRoot(t)
	tree := cr.write(map[string]string{
		"local":          "[source]\npath = \"local-src\"\n",
		"base":           tarRecipe("https://example.org/base.tar.gz", ""),
		"shared":         "[source]\nsame_as = \"../base\"\n[build]\ntemplate = \"configure\"\n",
		"shared2":        "[source]\nsame_as = \"../shared\"\n[build]\ntemplate = \"configure\"\n",
		"loop1":          "[source]\nsame_as = \"../loop2\"\n[build]\ntemplate = \"configure\"\n",
		"loop2":          "[source]\nsame_as = \"../loop1\"\n[build]\ntemplate = \"configure\"\n",
		"nosrc":          "[build]\ntemplate = \"configure\"\n",
		"tonosrc":        "[source]\nsame_as = \"../nosrc\"\n[build]\ntemplate = \"configure\"\n",
		"meta":           "[package]\ndependencies = [\"nosrc\"]\n",
		"../local-src/a": "A\n",
	})
	up := newUpstream(t)
	body := makeTarGz(t, tarEntry{name: "b/base.txt", body: "base"})
	up.addBody("https://example.org/base.tar.gz", body)
	f := newTestFetcher(t, tree, "", up.mirrors("https://example.org/"))
	ctx := context.Background()

	res, err := f.Fetch(ctx, "local")
	if err != nil || readFile(t, filepath.Join(res.Source, "a")) != "A\n" {
		t.Fatalf("path: %+v %v", res, err)
	}
	id1 := res.Info.SourceIdentifier
	if res, _ := f.Fetch(ctx, "local"); res.Status != Cached {
		t.Error("unchanged path source refetched")
	}
	os.WriteFile(filepath.Join(cr.root, "local-src", "a"), []byte("B\n"), 0o644)
	g := refetcher(t, f, tree)
	res, err = g.Fetch(ctx, "local")
	if err != nil || res.Status != Fetched || res.Info.SourceIdentifier == id1 || readFile(t, filepath.Join(res.Source, "a")) != "B\n" {
		t.Fatalf("changed path source: %+v %v", res, err)
	}

	for _, n := range []string{"shared2", "shared"} {
		res, err = f.Fetch(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, filepath.Join(res.Source, "base.txt")); got != "base" {
			t.Errorf("%s: base.txt = %q", n, got)
		}
		if res.Info.SourceIdentifier != b3hex(body) {
			t.Errorf("%s: ident %s", n, res.Info.SourceIdentifier)
		}
	}
	if l, _ := os.Readlink(f.Source("shared")); l != filepath.Join("..", "base", "source") {
		t.Errorf("shared/source links to %q", l)
	}
	if _, err := f.Fetch(ctx, "loop1"); err == nil || !strings.Contains(err.Error(), "same_as loop") {
		t.Errorf("loop: %v", err)
	}
	if _, err := f.Fetch(ctx, "tonosrc"); err == nil || !strings.Contains(err.Error(), "no [source]") {
		t.Errorf("same_as to a recipe without source: %v", err)
	}
	res, err = f.Fetch(ctx, "nosrc")
	if err != nil || res.Info.SourceIdentifier != LocalSource || !isDir(res.Source) {
		t.Errorf("no source: %+v %v", res, err)
	}
	res, err = f.Fetch(ctx, "meta")
	if err != nil || res.Status != Skipped {
		t.Errorf("meta: %+v %v", res, err)
	}
	if err := f.Unfetch("local"); err != nil || isDir(f.Source("local")) {
		t.Errorf("unfetch: %v", err)
	}
}

func TestStalledDownload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write(make([]byte, 100))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	dl, err := NewDownloader(WithCacheDir(t.TempDir()), WithMirrors(map[string]string{"example.org": srv.URL}),
		WithStallTimeout(200*time.Millisecond), WithRetries(1, 10*time.Millisecond), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = dl.Get(context.Background(), "https://example.org/slow.tar.gz", "")
	if err == nil || !strings.Contains(err.Error(), "stalled: no data for 200ms after 100 bytes") || !strings.Contains(err.Error(), "https://example.org/slow.tar.gz") {
		t.Fatalf("error %v, want a stall", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// A path source keeps its permission bits — setuid, setgid, read-only —
// as upstream's copy does; the build's overlay keeps the tree pristine.
func TestPathSourceKeepsModes(t *testing.T) {
	cr := newCookRoot(t)
	tree := cr.write(map[string]string{
		"local":               "[source]\npath = \"local-src\"\n",
		"../local-src/tool":   "#!/bin/sh\n",
		"../local-src/ro":     "read only\n",
		"../local-src/d/data": "x\n",
	})
	src := filepath.Join(cr.root, "local-src")
	modes := map[string]fs.FileMode{"tool": 0o755 | fs.ModeSetuid | fs.ModeSetgid, "ro": 0o444, "d": 0o555 | fs.ModeDir}
	for name, m := range modes {
		if err := os.Chmod(filepath.Join(src, name), m); err != nil {
			t.Fatal(err)
		}
	}
	defer os.Chmod(filepath.Join(src, "d"), 0o755)
	f := newTestFetcher(t, tree, "", nil)
	res, err := f.Fetch(context.Background(), "local")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(filepath.Join(res.Source, "d"), 0o755)
	for name, want := range modes {
		st, err := os.Stat(filepath.Join(res.Source, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode() & (fs.ModeDir | fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
}

// TestCraftedPinStaysInCache: a recipe's blake3 (only warned about when it
// is not hex) and a damaged urls/ record name a blob by its hash: one that
// walks out of the cache must be no cache hit, so that a fetch never reads,
// hands on or removes (as a damaged blob) a file outside the cache.
func TestCraftedPinStaysInCache(t *testing.T) {
	up := newUpstream(t)
	base := t.TempDir()
	cache := filepath.Join(base, "cache")
	victim := filepath.Join(base, "victim7")
	if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	// blobs/<pin[:2]>/<pin>, with pin[:2] = "..": <cache>/../victim7
	pin := "../" + strings.Repeat("./", 27) + "victim7"
	if len(pin) != 64 {
		t.Fatalf("pin is %d bytes", len(pin))
	}
	const u = "https://example.org/p.tar.gz"
	body := makeTarGz(t, tarEntry{name: "p/f", body: "x"})
	up.addBody(u, body)
	f := newTestFetcher(t, testTree(t, map[string]string{"p": tarRecipe(u, pin)}), cache, up.mirrors(u))
	if b, ok := f.dl.Lookup(u, pin); ok {
		t.Errorf("Lookup with a crafted pin = %s", b.Path)
	}
	if _, err := f.Fetch(context.Background(), "p"); err == nil {
		t.Error("a fetch whose pin is no hash succeeded")
	}
	// the record of a URL's last download, damaged the same way
	rec := f.dl.urlPath(u)
	os.MkdirAll(filepath.Dir(rec), 0o755)
	if err := os.WriteFile(rec, []byte(pin+" "+u+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, ok := f.dl.Lookup(u, ""); ok {
		t.Errorf("Lookup through a crafted urls/ record = %s", b.Path)
	}
	if data, err := os.ReadFile(victim); err != nil || string(data) != "keep me" {
		t.Fatalf("the file outside the cache: %q, %v", data, err)
	}
}
