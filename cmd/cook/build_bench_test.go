package main

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"
)

// genCookbook writes n custom recipes with random dependencies on earlier
// ones (up to 3 each) and returns the root and the recipe names.
func genCookbook(tb testing.TB, dir string, n int) []string {
	rng := rand.New(rand.NewSource(7))
	var names []string
	for i := range n {
		name := fmt.Sprintf("r%03d", i)
		var deps []string
		for k := 0; k < 3 && i > 0; k++ {
			if rng.Intn(2) == 0 {
				deps = append(deps, fmt.Sprintf("%q", names[rng.Intn(i)]))
			}
		}
		rdir := filepath.Join(dir, "recipes", "gen", name)
		if err := os.MkdirAll(rdir, 0o755); err != nil {
			tb.Fatal(err)
		}
		recipe := fmt.Sprintf("[build]\ntemplate = \"custom\"\ndependencies = [%s]\nscript = '''\nmkdir -p \"${COOKBOOK_STAGE}/usr/share/%s\"\necho %s > \"${COOKBOOK_STAGE}/usr/share/%s/id\"\n'''\n",
			strings.Join(slices.Compact(slices.Sorted(slices.Values(deps))), ", "), name, name, name)
		if err := os.WriteFile(filepath.Join(rdir, "recipe.toml"), []byte(recipe), 0o644); err != nil {
			tb.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// BenchmarkNoopBuild compares a no-op `cook build` of a generated 300-recipe
// graph with `cook check` of the same tree, in the same run. Target: the
// build costs at most 1.2× the check.
//
// The two run under pprof labels, so that a profile shows each alone:
//
//	go test ./cmd/cook -run - -bench NoopBuild -cpuprofile cpu.out
//	go tool pprof -tagfocus phase=noop-build cpu.out
func BenchmarkNoopBuild(b *testing.B) {
	dir := b.TempDir()
	names := genCookbook(b, filepath.Join(dir, "book"), 300)
	common := []string{"--cookbook", filepath.Join(dir, "book"), "--work", filepath.Join(dir, "work"),
		"--target", "x86_64-unknown-linux-gnu", "-q"}
	build := append(append(append([]string{}, common...), "build", "--no-sandbox"), names...)
	check := append(append([]string{}, common...), "check")
	if code := run(build, io.Discard, os.Stderr); code != 0 {
		b.Fatalf("initial build: exit %d", code)
	}
	var tb, tc time.Duration
	for b.Loop() {
		t0 := time.Now()
		labelled("check", func() {
			if code := run(check, io.Discard, io.Discard); code != 0 {
				b.Fatalf("check: exit %d", code)
			}
		})
		t1 := time.Now()
		labelled("noop-build", func() {
			if code := run(build, io.Discard, io.Discard); code != 0 {
				b.Fatalf("no-op build: exit %d", code)
			}
		})
		tc += t1.Sub(t0)
		tb += time.Since(t1)
	}
	b.ReportMetric(float64(tc.Microseconds())/float64(b.N)/1000, "check-ms/op")
	b.ReportMetric(float64(tb.Microseconds())/float64(b.N)/1000, "noop-build-ms/op")
	b.ReportMetric(float64(tb)/float64(tc), "ratio")
}

// labelled runs f with the pprof label phase=name (inherited by the
// goroutines f starts).
func labelled(name string, f func()) {
	pprof.Do(context.Background(), pprof.Labels("phase", name), func(context.Context) { f() })
}
