package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCheckParseCache runs cook check on a tree with errors, warnings and
// dangling dependencies without a work directory (no parse cache), then
// with one (the cache made, then used), and wants the same output, exit
// code and JSON each time; check makes no work directory of its own.
func TestCheckParseCache(t *testing.T) {
	book := t.TempDir()
	for name, text := range map[string]string{
		"good":    "[build]\ntemplate = \"cmake\"\ndependencies = [\"lib\", \"missing\"]\n",
		"lib":     "[source]\ntar = \"https://example.org/lib.tar.gz\"\n[build]\ntemplate = \"configure\"\n",
		"broken":  "[build]\ntemplate = \"nope\"\n",
		"syntax":  "[build\n",
		"unknown": "[build]\ntemplate = \"none\"\nfoo = 1\n",
	} {
		p := filepath.Join(book, "recipes", name, "recipe.toml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	work := filepath.Join(t.TempDir(), "work")
	check := func(args ...string) (string, string, int) {
		return cook(t, append([]string{"--cookbook", book, "--work", work}, args...)...)
	}
	type result struct {
		out, err string
		code     int
	}
	var want []result
	for _, args := range [][]string{{"check", "-v"}, {"check", "--json"}, {"check", "good", "--strict"}} {
		out, errs, code := check(args...)
		want = append(want, result{out, errs, code})
	}
	if _, err := os.Stat(work); err == nil {
		t.Fatal("cook check made the work directory")
	}
	if want[0].code != 1 || want[0].out == "" {
		t.Fatalf("check: exit %d, output %q", want[0].code, want[0].out)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		for i, args := range [][]string{{"check", "-v"}, {"check", "--json"}, {"check", "good", "--strict"}} {
			out, errs, code := check(args...)
			if got := (result{out, errs, code}); got != want[i] {
				t.Errorf("round %d, %v with the parse cache:\n%+v\nwithout:\n%+v", round, args, got, want[i])
			}
		}
		if _, err := os.Stat(filepath.Join(work, "state", "parse.cache")); err != nil {
			t.Errorf("round %d: no parse cache: %v", round, err)
		}
	}
}
