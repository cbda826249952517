package fetch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/workdir"
)

// The six recipes of shared/tarballs/MANIFEST.tsv, unchanged from the
// corpus, fetched through mirror rules from a loopback server: every BLAKE3
// pin verified, dev/patch's and m4's patches applied, dev/patch's script
// downloading config.sub through cook's wget.
func TestCorpusTarballs(t *testing.T) {
	tree := corpus(t)
	up := newUpstream(t)
	var urls []string
	var configSub string
	entries := manifest(t)
	for _, e := range entries {
		up.addFile(e.URL, e.File)
		urls = append(urls, e.URL)
		if strings.Contains(e.URL, "config.sub") {
			configSub = e.File
		}
	}
	f := newTestFetcher(t, tree, "", up.mirrors(urls...))
	ctx := context.Background()
	t.Run("fetch", func(t *testing.T) {
		for _, e := range entries {
			if strings.HasPrefix(e.Recipe, "(") {
				continue
			}
			name := filepath.Base(e.Recipe)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				res, err := f.Fetch(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != Fetched || res.Info.SourceIdentifier != e.Blake3 {
					t.Fatalf("status %s ident %s, want fetched %s", res.Status, res.Info.SourceIdentifier, e.Blake3)
				}
				info, err := f.Info(name)
				if err != nil || info == nil || info.SourceIdent() != e.Blake3 {
					t.Fatalf("source_info.toml: %+v %v", info, err)
				}
				r := tree.Recipes[name]
				if (len(r.Source.Patches) > 0 || r.Source.Script != "") && info.PatchIdentifier == "" {
					t.Error("no patch_identifier")
				}
				// A second fetch is a no-op.
				again, err := f.Fetch(ctx, name)
				if err != nil || again.Status != Cached {
					t.Fatalf("second fetch: %v %v", again, err)
				}
			})
		}
	})
	if t.Failed() {
		return
	}

	// dev/patch: its three patches applied, config.sub from the gnu-config
	// URL through cook's wget, recorded, and autoreconf run.
	src := f.Source("patch")
	for _, p := range tree.Recipes["patch"].Source.Patches {
		checkPatchApplied(t, filepath.Join(tree.Recipes["patch"].Dir, p), src)
	}
	got, _ := os.ReadFile(filepath.Join(src, "build-aux", "config.sub"))
	want, _ := os.ReadFile(configSub)
	if len(want) == 0 || string(got) != string(want) {
		t.Error("build-aux/config.sub is not the file served for the gnu-config URL")
	}
	info, _ := f.Info("patch")
	if len(info.Downloads) != 1 || !strings.Contains(info.Downloads[0].URL, "gnu-config") {
		t.Errorf("downloads recorded: %+v", info.Downloads)
	}
	if _, err := os.Stat(filepath.Join(src, "configure")); err != nil {
		t.Error("autoreconf made no configure")
	}
	// m4: redox.patch applied.
	checkPatchApplied(t, filepath.Join(tree.Recipes["m4"].Dir, "redox.patch"), f.Source("m4"))

	// dev/patch again, offline with the server gone, into a new work
	// directory: the tarball and the script's config.sub come from the cache.
	up.Close()
	dl, err := NewDownloader(WithCacheDir(f.dl.Dir()), WithOffline(true), WithMirrors(up.mirrors(urls...)), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	off, err := New(tree, workdir.New(t.TempDir()), dl,
		WithScriptEnv("TARGET=x86_64-unknown-redox", "GNU_TARGET=x86_64-unknown-redox", "COOKBOOK_HOST_SYSROOT=/usr"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := off.Fetch(ctx, "patch")
	if err != nil {
		t.Fatalf("offline: %v", err)
	}
	if res.Info.Key() != info.Key() {
		t.Errorf("offline fetch has another identity: %+v vs %+v", res.Info, info)
	}
	if got, _ := os.ReadFile(filepath.Join(res.Source, "build-aux", "config.sub")); string(got) != string(want) {
		t.Error("offline: build-aux/config.sub differs")
	}
}

// checkPatchApplied checks that the added lines of each file in a unified
// diff are present in that file under src.
func checkPatchApplied(t *testing.T, patch, src string) {
	t.Helper()
	data, err := os.ReadFile(patch)
	if err != nil {
		t.Fatal(err)
	}
	file := ""
	var content string
	for _, l := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, "+++ "):
			name := strings.Fields(strings.TrimPrefix(l, "+++ "))[0]
			if i := strings.Index(name, "/"); i >= 0 {
				name = name[i+1:]
			}
			file = name
			b, err := os.ReadFile(filepath.Join(src, file))
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(patch), err)
				file = ""
			}
			content = string(b)
		case file != "" && strings.HasPrefix(l, "+") && len(strings.TrimSpace(l[1:])) > 3:
			if !strings.Contains(content, l[1:]) {
				t.Errorf("%s: %s lacks added line %q", filepath.Base(patch), file, l[1:])
				return
			}
		}
	}
}
