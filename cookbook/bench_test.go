package cookbook

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readCorpus is the floor: walk recipes/ the same way Load does and read every
// recipe.toml, serially, doing nothing with the bytes.
func readCorpus(tb testing.TB, root string) int {
	n := 0
	err := filepath.WalkDir(filepath.Join(root, "recipes"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipDir(d.Name()) && d.Name() != "recipes" {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "recipe.toml" {
			if _, err := os.ReadFile(p); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// loadCheckPlan is what `cook check` does: load and validate every recipe and
// plan the full dependency graph.
func loadCheckPlan(tb testing.TB, root string, opts ...LoadOption) {
	tree, err := Load(context.Background(), root, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	_ = tree.AllDiagnostics(false)
	_ = tree.Unresolved(nil)
	g := tree.NewGraph(nil, AllEdges)
	if _, err := g.Order(); err != nil {
		tb.Fatal(err)
	}
	if len(g.LongestChain()) == 0 {
		tb.Fatal("no chain")
	}
}

// BenchmarkCorpus reports the time to load, check and plan the whole upstream
// corpus, as cook check does (with the work directory's parse cache, made by
// the load before the loop), beside the time to merely walk and read its
// 3,467 recipe files, in the same run; and the same without the cache.
// Target: ratio ≤ 1 (with the cache).
func BenchmarkCorpus(b *testing.B) {
	root := corpus(b)
	if n := readCorpus(b, root); n != 3467 {
		b.Fatalf("read %d files", n)
	}
	cache := WithParseCache(filepath.Join(b.TempDir(), "parse.cache"))
	loadCheckPlan(b, root, cache)
	var read, plan, cold time.Duration
	for b.Loop() {
		t0 := time.Now()
		readCorpus(b, root)
		t1 := time.Now()
		loadCheckPlan(b, root, cache)
		t2 := time.Now()
		loadCheckPlan(b, root)
		read += t1.Sub(t0)
		plan += t2.Sub(t1)
		cold += time.Since(t2)
	}
	b.ReportMetric(float64(read.Microseconds())/float64(b.N)/1000, "read-ms/op")
	b.ReportMetric(float64(plan.Microseconds())/float64(b.N)/1000, "load-check-plan-ms/op")
	b.ReportMetric(float64(plan)/float64(read), "ratio")
	b.ReportMetric(float64(cold)/float64(read), "uncached-ratio")
}
