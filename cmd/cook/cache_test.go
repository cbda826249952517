package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/redox-cook/cook/settings"
	"github.com/redox-cook/cook/triple"
)

// memCache is an in-memory server of bazel-remote's HTTP protocol.
type memCache struct {
	mu    sync.Mutex
	blobs map[string][]byte
	auth  []string
}

func (s *memCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	key := strings.TrimPrefix(r.URL.Path, "/")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		b, ok := s.blobs[key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		if r.Method == http.MethodGet {
			w.Write(b)
		}
	case http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		s.blobs[key] = b
	}
}

// cook build --remote-cache: a second work directory restores every recipe
// and --json says remote-cached; cook cache stats, verify and trim.
func TestBuildRemoteCache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes")
	}
	srv := &memCache{blobs: map[string][]byte{}}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	t.Setenv("COOK_CACHE_TOKEN", "team-token")
	cookbook, _ := filepath.Abs("../../builder/testdata/shared-cookbook")
	workA, workB := t.TempDir(), t.TempDir()
	host := string(triple.Host())
	buildJSON := func(work string) map[string]string {
		t.Helper()
		out, errOut, code := cook(t, "--cookbook", cookbook, "--work", work, "--target", host, "--json", "-j", "2",
			"build", "--no-sandbox", "--remote-cache", hs.URL, "libhello", "hello", "split", "meta")
		if code != 0 {
			t.Fatalf("cook build: exit %d\n%s\n%s", code, out, errOut)
		}
		var res struct {
			Results []struct{ Recipe, Status string }
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		got := map[string]string{}
		for _, r := range res.Results {
			got[r.Recipe] = r.Status
		}
		return got
	}
	for r, st := range buildJSON(workA) {
		if st != "built" {
			t.Fatalf("A: %s %s", r, st)
		}
	}
	// the team shares the signing key (an input of every action key)
	if out, err := exec.Command("cp", "-a", filepath.Join(workA, "keys"), filepath.Join(workB, "keys")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	got := buildJSON(workB)
	if len(got) != 4 {
		t.Fatalf("B: %v", got)
	}
	for r, st := range got {
		if st != "remote-cached" {
			t.Fatalf("B: %s is %s, want remote-cached", r, st)
		}
	}
	for _, a := range srv.auth {
		if a != "Bearer team-token" {
			t.Fatalf("request with Authorization %q", a)
		}
	}

	out, _, code := cook(t, "--work", workB, "--json", "cache", "stats")
	var stats struct {
		Stats struct {
			ActionEntries int `json:"action_entries"`
			Blobs         int `json:"blobs"`
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &stats) != nil || stats.Stats.ActionEntries != 4 || stats.Stats.Blobs < 10 {
		t.Fatalf("cache stats: %d %s", code, out)
	}
	if out, _, code := cook(t, "--work", workB, "cache", "verify"); code != 0 || !strings.Contains(out, "sound") {
		t.Fatalf("cache verify: %d %s", code, out)
	}
	if out, _, code := cook(t, "--work", workB, "cache", "trim", "--max-size", "0"); code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("cache trim: %d %s", code, out)
	}
	if out, _, code := cook(t, "--work", workB, "cache", "stats"); code != 0 || !strings.Contains(out, "0 action entries") {
		t.Fatalf("cache stats after trim: %d %s", code, out)
	}
}

func TestCacheCommands(t *testing.T) {
	work := t.TempDir()
	if _, _, code := cook(t, "--work", work, "cache", "trim"); code == 0 {
		t.Fatal("trim without --max-size emptied the cache")
	}
	if out, _, code := cook(t, "--work", work, "cache", "stats"); code != 0 || !strings.Contains(out, "0 action entries") {
		t.Fatalf("stats of an empty cache: %d %s", code, out)
	}
	for size, want := range map[string]settings.Size{"0": 0, "512": 512, "2K": 2048, "3MiB": 3 << 20, "1g": 1 << 30} {
		if got, err := settings.ParseSize(size); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", size, got, err, want)
		}
	}
	if _, err := settings.ParseSize("lots"); err == nil {
		t.Error("parsed lots")
	}
}

// --remote-cache file:///DIR: a directory shared by the team.
func TestBuildSharedDirCache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes")
	}
	shared := t.TempDir()
	cookbook, _ := filepath.Abs("../../builder/testdata/shared-cookbook")
	host := string(triple.Host())
	statuses := func(work string, extra ...string) map[string]string {
		t.Helper()
		args := append([]string{"--cookbook", cookbook, "--work", work, "--target", host, "--json", "build", "--no-sandbox",
			"--remote-cache", "file://" + shared}, extra...)
		out, errOut, code := cook(t, append(args, "libhello", "split")...)
		if code != 0 {
			t.Fatalf("cook build: exit %d\n%s\n%s", code, out, errOut)
		}
		var res struct {
			Results []struct{ Recipe, Status string }
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		got := map[string]string{}
		for _, r := range res.Results {
			got[r.Recipe] = r.Status
		}
		return got
	}
	copyKeys := func(from, to string) {
		if out, err := exec.Command("cp", "-a", filepath.Join(from, "keys"), filepath.Join(to, "keys")).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	// a read-only machine writes nothing to the shared directory
	ro := t.TempDir()
	if got := statuses(ro, "--remote-cache-read-only"); got["libhello"] != "built" {
		t.Fatalf("read-only: %v", got)
	}
	a := t.TempDir()
	copyKeys(ro, a)
	if got := statuses(a); got["libhello"] != "built" || got["split"] != "built" {
		t.Fatalf("A: %v (did the read-only machine write?)", got)
	}
	b := t.TempDir()
	copyKeys(a, b)
	if got := statuses(b); got["libhello"] != "remote-cached" || got["split"] != "remote-cached" {
		t.Fatalf("B: %v", got)
	}
}

// A file:// remote cache that does not exist is a usage error, not a
// silent empty cache.
func TestSharedDirCacheMissing(t *testing.T) {
	cookbook, _ := filepath.Abs("../../builder/testdata/shared-cookbook")
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	_, stderr, code := cook(t, "--cookbook", cookbook, "--work", t.TempDir(), "build", "--remote-cache", "file://"+missing, "libhello")
	if code != exitUsage || !strings.Contains(stderr, "no such directory") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
