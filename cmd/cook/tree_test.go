package main

import (
	"path/filepath"
	"testing"
)

// TestTreeGolden pins `cook tree` for the core recipes of the upstream corpus.
func TestTreeGolden(t *testing.T) {
	corpus := filepath.Join(sharedDir(t), "corpus", "redox")
	for _, name := range []string{"relibc", "base", "ion", "helix", "server", "wasi-testsuite"} {
		t.Run(name, func(t *testing.T) {
			out, errs, code := cook(t, "--cookbook", corpus, "tree", name)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden(t, filepath.Join("tree", name+".golden"), out)
			out, errs, code = cook(t, "--cookbook", corpus, "--json", "tree", name)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden(t, filepath.Join("tree", name+".json.golden"), out)
		})
	}
}
