package fetch

import (
	"context"
	"errors"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/cookbook"
)

// gitServer serves the bare repositories under root over smart HTTP with
// git http-backend, on 127.0.0.1.
type gitServer struct {
	*httptest.Server
	root string
}

func newGitServer(t *testing.T) *gitServer {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skip("no git")
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Skip("no git-http-backend")
	}
	root := t.TempDir()
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	s := &gitServer{Server: httptest.NewServer(h), root: root}
	t.Cleanup(s.Close)
	return s
}

// git runs git in dir with a fixed identity and no user configuration.
func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "protocol.file.allow=always", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
		"GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// repo is a bare repository on the server with a work clone to commit from.
type repo struct {
	t    *testing.T
	bare string
	work string
	URL  string // smart HTTP
	File string // file://
}

func (s *gitServer) newRepo(t *testing.T, name string) *repo {
	bare := filepath.Join(s.root, name+".git")
	runGit(t, s.root, "init", "-q", "--bare", bare)
	runGit(t, bare, "config", "uploadpack.allowReachableSHA1InWant", "true")
	runGit(t, bare, "config", "http.receivepack", "true")
	work := filepath.Join(t.TempDir(), name)
	runGit(t, filepath.Dir(work), "clone", "-q", bare, work)
	return &repo{t: t, bare: bare, work: work, URL: s.URL + "/" + name + ".git", File: "file://" + bare}
}

// commit writes files (name → content), commits and pushes the current
// branch; it returns the commit.
func (r *repo) commit(msg string, files map[string]string) string {
	for n, c := range files {
		p := filepath.Join(r.work, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	runGit(r.t, r.work, "add", "-A")
	runGit(r.t, r.work, "commit", "-q", "-m", msg)
	runGit(r.t, r.work, "push", "-q", "origin", "HEAD")
	return runGit(r.t, r.work, "rev-parse", "HEAD")
}

// testTree writes recipes (name → recipe.toml text, plus extra files as
// "name/file" keys) under a new cookbook root and loads it.
func testTree(t testing.TB, files map[string]string) *cookbook.Tree {
	t.Helper()
	root := t.TempDir()
	for n, c := range files {
		p := filepath.Join(root, "recipes", n)
		if !strings.Contains(n, "/") {
			p = filepath.Join(root, "recipes", n, "recipe.toml")
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tree, err := cookbook.Load(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range tree.AllDiagnostics(false) {
		if d.Severity == cookbook.Error {
			t.Fatalf("recipe error: %v", d)
		}
	}
	return tree
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func isShallow(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ".git", "shallow"))
	return err == nil
}

func TestGit(t *testing.T) {
	srv := newGitServer(t)
	ctx := context.Background()

	lib := srv.newRepo(t, "lib")
	c1 := lib.commit("one", map[string]string{"README": "one\n"})
	runGit(t, lib.work, "tag", "-a", "-m", "v1", "v1.0")
	runGit(t, lib.work, "push", "-q", "origin", "v1.0")
	c2 := lib.commit("two", map[string]string{"README": "two\n"})
	runGit(t, lib.work, "checkout", "-q", "-b", "dev")
	c3 := lib.commit("dev", map[string]string{"README": "dev\n"})
	runGit(t, lib.work, "checkout", "-q", "main")

	tree := testTree(t, map[string]string{
		"branch":   "[source]\ngit = \"" + lib.URL + "\"\n",
		"named":    "[source]\ngit = \"" + lib.URL + "\"\nbranch = \"dev\"\n",
		"rev":      "[source]\ngit = \"" + lib.URL + "\"\nrev = \"" + c1 + "\"\n",
		"tag":      "[source]\ngit = \"" + lib.URL + "\"\nrev = \"v1.0\"\n",
		"shallow":  "[source]\ngit = \"" + lib.URL + "\"\nshallow_clone = true\n",
		"file":     "[source]\ngit = \"" + lib.File + "\"\nrev = \"" + c1 + "\"\n",
		"norev":    "[source]\ngit = \"" + lib.URL + "\"\nrev = \"0123456789012345678901234567890123456789\"\n",
		"notag":    "[source]\ngit = \"" + lib.URL + "\"\nrev = \"v9.9\"\n",
		"nobranch": "[source]\ngit = \"" + lib.URL + "\"\nbranch = \"nope\"\n",
	})
	f := newTestFetcher(t, tree, "", nil)

	for _, tc := range []struct {
		name, commit, readme string
		shallow              bool
	}{
		{"branch", c2, "two\n", false},
		{"named", c3, "dev\n", false},
		{"rev", c1, "one\n", true},
		{"tag", c1, "one\n", true},
		{"shallow", c2, "two\n", true},
		{"file", c1, "one\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.Fetch(ctx, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if res.Info.SourceIdentifier != tc.commit {
				t.Errorf("commit %s, want %s", res.Info.SourceIdentifier, tc.commit)
			}
			if got := readFile(t, filepath.Join(res.Source, "README")); got != tc.readme {
				t.Errorf("README %q, want %q", got, tc.readme)
			}
			if isShallow(res.Source) != tc.shallow {
				t.Errorf("shallow = %v, want %v", isShallow(res.Source), tc.shallow)
			}
			if again, err := f.Fetch(ctx, tc.name); err != nil || again.Status != Cached {
				t.Errorf("second fetch: %+v %v", again, err)
			}
		})
	}
	for _, tc := range []struct{ name, want string }{
		{"norev", `rev "0123456789012345678901234567890123456789" does not exist`},
		{"notag", `rev "v9.9" does not exist`},
		{"nobranch", `no branch "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Fetch(ctx, tc.name)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "fetch "+tc.name) ||
				!strings.Contains(err.Error(), lib.URL) {
				t.Fatalf("error %v, want one naming the recipe, %s and %q", err, lib.URL, tc.want)
			}
			if _, err := os.Lstat(f.Source(tc.name)); !errors.Is(err, os.ErrNotExist) {
				t.Error("a failed clone left a source directory")
			}
			assertNoTmp(t, f)
		})
	}
}

// assertNoTmp checks that nothing is left in the work directory's tmp/.
func assertNoTmp(t *testing.T, f *Fetcher) {
	t.Helper()
	ents, _ := os.ReadDir(f.work.Tmp())
	if len(ents) > 0 {
		t.Errorf("tmp/ holds %d leftovers, e.g. %s", len(ents), ents[0].Name())
	}
}

func TestGitUpdate(t *testing.T) {
	srv := newGitServer(t)
	ctx := context.Background()
	lib := srv.newRepo(t, "lib")
	c1 := lib.commit("one", map[string]string{"f": "1\n"})
	tree := testTree(t, map[string]string{
		"up":         "[source]\ngit = \"" + lib.URL + "\"\npatches = [\"p.patch\"]\n",
		"up/p.patch": "--- a/f\n+++ b/f\n@@ -1 +1,2 @@\n 1\n+patched\n",
	})
	f := newTestFetcher(t, tree, "", nil)
	res, err := f.Fetch(ctx, "up")
	if err != nil || res.Info.SourceIdentifier != c1 {
		t.Fatalf("%+v %v", res, err)
	}
	if got := readFile(t, filepath.Join(res.Source, "f")); got != "1\npatched\n" {
		t.Fatalf("patched f = %q", got)
	}
	c2 := lib.commit("two", map[string]string{"f": "1\n", "g": "2\n"})

	// A build (no update) keeps the checkout.
	res, err = f.Fetch(ctx, "up")
	if err != nil || res.Status != Cached || res.Info.SourceIdentifier != c1 {
		t.Fatalf("without update: %+v %v", res, err)
	}
	// cook fetch (update) follows the branch and patches again.
	fu, err := New(tree, f.work, f.dl, WithUpdate(true))
	if err != nil {
		t.Fatal(err)
	}
	res, err = fu.Fetch(ctx, "up")
	if err != nil || res.Status != Fetched || res.Info.SourceIdentifier != c2 {
		t.Fatalf("with update: %+v %v", res, err)
	}
	if got := readFile(t, filepath.Join(res.Source, "f")); got != "1\npatched\n" {
		t.Errorf("patched f after update = %q", got)
	}
	if got := readFile(t, filepath.Join(res.Source, "g")); got != "2\n" {
		t.Errorf("g = %q", got)
	}
	res, err = fu.Fetch(ctx, "up")
	if err != nil || res.Status != Cached {
		t.Fatalf("update with nothing new: %+v %v", res, err)
	}
	assertNoTmp(t, f)
}

func TestGitSubmodules(t *testing.T) {
	srv := newGitServer(t)
	ctx := context.Background()
	leaf := srv.newRepo(t, "leaf")
	leaf.commit("leaf", map[string]string{"leaf.txt": "leaf\n"})
	mid := srv.newRepo(t, "mid")
	mid.commit("mid", map[string]string{"mid.txt": "mid\n"})
	runGit(t, mid.work, "submodule", "add", "-q", leaf.URL, "deps/leaf")
	runGit(t, mid.work, "commit", "-q", "-m", "add leaf")
	runGit(t, mid.work, "push", "-q", "origin", "HEAD")
	top := srv.newRepo(t, "top")
	top.commit("top", map[string]string{"top.txt": "top\n"})
	runGit(t, top.work, "submodule", "add", "-q", mid.URL, "mid")
	runGit(t, top.work, "commit", "-q", "-m", "add mid")
	runGit(t, top.work, "push", "-q", "origin", "HEAD")
	rev := runGit(t, top.work, "rev-parse", "HEAD")

	rel := srv.newRepo(t, "rel")
	rel.commit("rel", map[string]string{"rel.txt": "rel\n"})
	runGit(t, rel.work, "submodule", "add", "-q", "../leaf.git", "leaf") // relative to the parent's URL
	runGit(t, rel.work, "commit", "-q", "-m", "add leaf")
	runGit(t, rel.work, "push", "-q", "origin", "HEAD")

	tree := testTree(t, map[string]string{
		"top":    "[source]\ngit = \"" + top.URL + "\"\n",
		"toprev": "[source]\ngit = \"" + top.URL + "\"\nrev = \"" + rev + "\"\n",
		"rel":    "[source]\ngit = \"" + rel.URL + "\"\n",
	})
	res, err := newTestFetcher(t, tree, "", nil).Fetch(ctx, "rel")
	if err != nil {
		t.Fatalf("relative submodule: %v", err)
	}
	if got := readFile(t, filepath.Join(res.Source, "leaf", "leaf.txt")); got != "leaf\n" {
		t.Errorf("relative submodule file = %q", got)
	}
	f := newTestFetcher(t, tree, "", nil)
	for _, name := range []string{"top", "toprev"} {
		res, err := f.Fetch(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := readFile(t, filepath.Join(res.Source, "mid", "deps", "leaf", "leaf.txt")); got != "leaf\n" {
			t.Errorf("%s: nested submodule file = %q", name, got)
		}
	}
}

func TestGitMirror(t *testing.T) {
	srv := newGitServer(t)
	lib := srv.newRepo(t, "lib")
	c1 := lib.commit("one", map[string]string{"README": "one\n"})
	tree := testTree(t, map[string]string{
		"m": "[source]\ngit = \"https://gitlab.redox-os.org/redox-os/lib.git\"\n",
	})
	f := newTestFetcher(t, tree, "", map[string]string{"gitlab.redox-os.org/redox-os": srv.URL})
	res, err := f.Fetch(context.Background(), "m")
	if err != nil || res.Info.SourceIdentifier != c1 {
		t.Fatalf("%+v %v", res, err)
	}
	// origin names the upstream URL, as upstream leaves it.
	if cfg := readFile(t, filepath.Join(res.Source, ".git", "config")); !strings.Contains(cfg, "https://gitlab.redox-os.org/redox-os/lib.git") {
		t.Errorf("origin URL not restored:\n%s", cfg)
	}
}

// Changing a git recipe's patches remakes the tree from the existing
// checkout, without the network: the old patch's changes are gone, the new
// patch is applied, and submodules come back pristine.
func TestGitPatchChangeOffline(t *testing.T) {
	srv := newGitServer(t)
	ctx := context.Background()
	leaf := srv.newRepo(t, "leaf")
	leaf.commit("leaf", map[string]string{"leaf.txt": "leaf\n"})
	lib := srv.newRepo(t, "lib")
	c1 := lib.commit("one", map[string]string{"f": "1\n", ".gitignore": "gen.txt\n"})
	runGit(t, lib.work, "submodule", "add", "-q", leaf.URL, "sub")
	runGit(t, lib.work, "commit", "-q", "-m", "sub")
	runGit(t, lib.work, "push", "-q", "origin", "HEAD")
	c2 := runGit(t, lib.work, "rev-parse", "HEAD")
	_ = c1

	cr := newCookRoot(t)
	recipe := "[source]\ngit = \"" + lib.URL + "\"\nrev = \"" + c2 + "\"\npatches = [\"p.patch\"]\nscript = \"echo generated > gen.txt; echo dirty >> sub/leaf.txt\"\n"
	p1 := "--- a/f\n+++ b/f\n@@ -1 +1,2 @@\n 1\n+old patch\n--- /dev/null\n+++ b/added.txt\n@@ -0,0 +1 @@\n+added\n"
	p2 := "--- a/f\n+++ b/f\n@@ -1 +1,2 @@\n 1\n+new patch\n"
	f := newTestFetcher(t, cr.write(map[string]string{"g": recipe, "g/p.patch": p1}), "", nil)
	res, err := f.Fetch(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(res.Source, "added.txt")) != "added\n" || readFile(t, filepath.Join(res.Source, "sub", "leaf.txt")) != "leaf\ndirty\n" {
		t.Fatal("first fetch: patch or script not applied")
	}

	srv.Close() // no network from here on
	dl, err := NewDownloader(WithCacheDir(f.dl.Dir()), WithOffline(true), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cr.write(map[string]string{"g/p.patch": p2}), f.work, dl)
	if err != nil {
		t.Fatal(err)
	}
	res, err = g.Fetch(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != Fetched || res.Info.SourceIdentifier != c2 {
		t.Errorf("%+v", res)
	}
	if got := readFile(t, filepath.Join(res.Source, "f")); got != "1\nnew patch\n" {
		t.Errorf("f = %q", got)
	}
	if _, err := os.Stat(filepath.Join(res.Source, "added.txt")); !os.IsNotExist(err) {
		t.Error("the old patch's new file survived")
	}
	if got := readFile(t, filepath.Join(res.Source, "sub", "leaf.txt")); got != "leaf\ndirty\n" {
		t.Errorf("submodule file = %q (script ran once on a pristine copy?)", got)
	}
	if got := readFile(t, filepath.Join(res.Source, "gen.txt")); got != "generated\n" {
		t.Errorf("gen.txt = %q", got)
	}
	assertNoTmp(t, f)
}
