package cookbook

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpus returns the upstream recipe tree in $COOK_SHARED, or skips.
func corpus(tb testing.TB) string {
	tb.Helper()
	shared := os.Getenv("COOK_SHARED")
	if shared == "" {
		tb.Skip("COOK_SHARED is not set; the upstream corpus is not available")
	}
	dir := filepath.Join(shared, "corpus", "redox")
	if _, err := os.Stat(filepath.Join(dir, "recipes")); err != nil {
		tb.Skipf("no corpus at %s: %v", dir, err)
	}
	return dir
}

// TestCorpus checks cook against the upstream numbers of spec/cookbook.md §10.
func TestCorpus(t *testing.T) {
	tree, err := Load(context.Background(), corpus(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tree.Names); got != 3467 {
		t.Errorf("recipes: got %d, want 3467", got)
	}
	// Errors: the 216 recipes upstream refuses, all in wip/.
	failing := map[string][]string{}
	for _, d := range tree.AllDiagnostics(false) {
		if d.Severity == Error {
			failing[d.Recipe] = append(failing[d.Recipe], d.Message)
		}
	}
	if len(failing) != 216 {
		t.Errorf("recipes with errors: got %d, want 216", len(failing))
	}
	kinds := map[string]int{}
	for name, msgs := range failing {
		if !strings.HasPrefix(tree.Recipes[name].Path, "recipes/wip/") {
			t.Errorf("error outside wip: %s: %v", name, msgs)
		}
		for _, m := range msgs {
			switch {
			case strings.Contains(m, "needs a script"):
				kinds["custom without script"]++
			case strings.Contains(m, "unknown build template \"go\""):
				kinds["template go"]++
			case strings.HasPrefix(m, "TOML syntax"):
				kinds["syntax"]++
			case strings.Contains(m, "[source] is empty"):
				kinds["empty source"]++
			case strings.Contains(m, "must be an array of strings"):
				kinds["wrong type"]++
			default:
				kinds["other: "+m]++
			}
		}
	}
	want := map[string]int{"custom without script": 193, "template go": 12, "syntax": 9, "empty source": 3, "wrong type": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%s: got %d, want %d", k, kinds[k], n)
		}
	}
	for k, n := range kinds {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected error kind %q (%d)", k, n)
		}
	}

	wantUnresolved := "dotnet10 glm kerberos5 ksvg6 lapack libjpeg-turbo liboping mbedtls nodejs24 perl plasma-wayland-protocols portaudio qt4 spidermonkey wayland-scanner"
	if got := strings.Join(tree.Unresolved(nil), " "); got != wantUnresolved {
		t.Errorf("unresolved:\n got %s\nwant %s", got, wantUnresolved)
	}

	for _, tc := range []struct {
		kinds EdgeKind
		depth int
	}{
		{BuildEdge, 11},
		{BuildEdge | DevEdge, 11},
		{AllEdges, 13},
		{PackageEdge, 4},
	} {
		g := tree.NewGraph(nil, tc.kinds)
		if c := g.Cycles(); len(c) != 0 {
			t.Errorf("%s graph: cycles %v", tc.kinds, c)
		}
		chain := g.LongestChain()
		if len(chain)-1 != tc.depth {
			t.Errorf("%s graph: longest chain %d edges (%v), want %d", tc.kinds, len(chain)-1, chain, tc.depth)
		}
	}
}

func TestCorpusWarnings(t *testing.T) {
	tree, err := Load(context.Background(), corpus(t))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, d := range tree.AllDiagnostics(false) {
		if d.Severity != Warning {
			continue
		}
		switch {
		case strings.Contains(d.Message, "no blake3 checksum"):
			count["no blake3"]++
		case strings.Contains(d.Message, `did you mean "blake3"`):
			count["b3sum"]++
		case strings.Contains(d.Message, `"shallow_clone" is ignored for a tar source`):
			count["shallow on tar"]++
		}
	}
	// spec/cookbook.md §10.3/10.4: 876 tar sources without blake3, 2 b3sum typos, 7 shallow_clone on tar.
	for k, n := range map[string]int{"no blake3": 876, "b3sum": 2, "shallow on tar": 7} {
		if count[k] != n {
			t.Errorf("%s warnings: got %d, want %d", k, count[k], n)
		}
	}
}
