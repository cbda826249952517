package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tarballServer serves shared/tarballs files at /<host>/<path> of their
// upstream URLs; tamper flips a byte of every file served.
func tarballServer(t *testing.T, shared string, tamper bool) (*httptest.Server, []string) {
	data, err := os.ReadFile(filepath.Join(shared, "tarballs", "MANIFEST.tsv"))
	if err != nil {
		t.Skip(err)
	}
	files := map[string]string{}
	var mirrors []string
	for _, l := range strings.Split(string(data), "\n") {
		c := strings.Split(l, "\t")
		if len(c) != 4 || strings.HasPrefix(l, "#") {
			continue
		}
		u := strings.TrimPrefix(c[1], "https://")
		u, _, _ = strings.Cut(u, "?")
		files["/"+u] = filepath.Join(shared, "tarballs", c[2])
		host, _, _ := strings.Cut(u, "/")
		mirrors = append(mirrors, host)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		b, _ := os.ReadFile(f)
		if tamper {
			b[len(b)/2] ^= 1
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	var flags []string
	for _, h := range mirrors {
		flags = append(flags, "--mirror", h+"="+srv.URL+"/"+h)
	}
	return srv, flags
}

// fetchJSON is cook fetch --json's output, as a reader of it decodes it.
type fetchJSON struct {
	Results []struct {
		Recipe string `json:"recipe"`
		Status string `json:"status"`
		Source string `json:"source"`
		Ident  string `json:"ident"`
		Error  string `json:"error"`
	} `json:"results"`
}

func TestFetchCommand(t *testing.T) {
	shared := sharedDir(t)
	_, mirrors := tarballServer(t, shared, false)
	t.Setenv("COOK_CACHE", t.TempDir())
	work := t.TempDir()
	args := append([]string{"--cookbook", filepath.Join(shared, "corpus", "redox"), "--work", work, "--json"}, mirrors...)

	stdout, stderr, code := cook(t, append(args, "fetch", "bzip2", "m4", "duktape")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var res fetchJSON
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"bzip2":   "97af3f520629c65fe41292f77e6ca798fe594d7987bfb2aebe7c6fcdc7ab5ed2",
		"duktape": "b0a17da888847bc9c73624ae3ba7f858ec327a9bbce9d287aee6a2489e518448",
		"m4":      "eadd696d929b0359bf7bd17390c2bcc3ad1cbf36126854eb545a50b86ca97e9e",
	}
	if len(res.Results) != 3 {
		t.Fatalf("results: %+v", res.Results)
	}
	for _, r := range res.Results {
		if r.Status != "fetched" || r.Ident != want[r.Recipe] || r.Source != filepath.Join(work, "recipes", r.Recipe, "source") {
			t.Errorf("%+v", r)
		}
	}

	// Again: nothing to do.
	stdout, _, code = cook(t, append(args, "fetch", "bzip2")...)
	if code != 0 || !strings.Contains(stdout, `"status": "cached"`) {
		t.Errorf("second fetch: exit %d\n%s", code, stdout)
	}

	// unfetch removes the tree.
	if _, _, code = cook(t, append(args, "unfetch", "bzip2")...); code != 0 {
		t.Errorf("unfetch: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(work, "recipes", "bzip2", "source")); !os.IsNotExist(err) {
		t.Error("unfetch left the source")
	}

	// Usage errors exit 2.
	if _, _, code = cook(t, append(args, "fetch")...); code != 2 {
		t.Errorf("fetch without recipes: exit %d, want 2", code)
	}
	if _, _, code = cook(t, append(args, "fetch", "no-such-recipe")...); code != 2 {
		t.Errorf("unknown recipe: exit %d, want 2", code)
	}
}

func TestFetchCommandTampered(t *testing.T) {
	shared := sharedDir(t)
	_, mirrors := tarballServer(t, shared, true)
	t.Setenv("COOK_CACHE", t.TempDir())
	args := append([]string{"--cookbook", filepath.Join(shared, "corpus", "redox"), "--work", t.TempDir(), "--json"}, mirrors...)
	stdout, _, code := cook(t, append(args, "fetch", "bzip2")...)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stdout)
	}
	var res fetchJSON
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	r := res.Results[0]
	if r.Status != "failed" || !strings.Contains(r.Error, "BLAKE3 mismatch") || !strings.Contains(r.Error, "https://sourceware.org/pub/bzip2/bzip2-1.0.8.tar.gz") ||
		!strings.Contains(r.Error, "expected 97af3f520629c65fe41292f77e6ca798fe594d7987bfb2aebe7c6fcdc7ab5ed2") {
		t.Errorf("%+v", r)
	}
}

func TestFetchWithDeps(t *testing.T) {
	root := t.TempDir()
	for name, body := range map[string]string{
		"app":   "[build]\ntemplate = \"configure\"\ndependencies = [\"lib\"]\n",
		"lib":   "[build]\ntemplate = \"configure\"\n[package]\ndependencies = [\"meta\"]\n",
		"meta":  "[package]\ndependencies = []\n",
		"other": "[build]\ntemplate = \"configure\"\n",
	} {
		p := filepath.Join(root, "recipes", name, "recipe.toml")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	t.Setenv("COOK_CACHE", t.TempDir())
	stdout, stderr, code := cook(t, "--cookbook", root, "--work", t.TempDir(), "--json", "fetch", "--with-deps", "app")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var res fetchJSON
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range res.Results {
		got[r.Recipe] = r.Status + " " + r.Ident
	}
	want := map[string]string{"app": "cached local_source", "lib": "cached local_source", "meta": "skipped "}
	if len(got) != len(want) {
		t.Fatalf("results %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}
