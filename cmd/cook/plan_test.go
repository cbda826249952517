package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/internal/golden"
	"github.com/redox-cook/cook/script"
	"github.com/redox-cook/cook/triple"
)

// planTree writes a cookbook: top (custom) depends on leaf (a meta package,
// which builds without a toolchain or sandbox).
func planTree(t *testing.T) (book, work string) {
	t.Helper()
	book, work = t.TempDir(), t.TempDir()
	for path, text := range map[string]string{
		"recipes/leaf/recipe.toml": "[build]\ntemplate = \"none\"\n",
		"recipes/top/recipe.toml":  "[build]\ntemplate = \"custom\"\ndependencies = [\"leaf\"]\nscript = \"true\"\n",
	} {
		p := filepath.Join(book, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return book, work
}

var hexRun = regexp.MustCompile(`[0-9a-f]{16,}`)

// normalise hides what differs between runs: keys and digests, temp paths.
func normalise(s string, paths ...string) string {
	for _, p := range paths {
		s = strings.ReplaceAll(s, p, "$TMP")
	}
	return hexRun.ReplaceAllString(s, "<hex>")
}

// TestPlanOutput pins what the plan commands say: every node of a dry run
// has its own reason before the rebuilt dependencies; print-script --json is
// one object; explain on a record whose inputs file is damaged says so.
func TestPlanOutput(t *testing.T) {
	book, work := planTree(t)
	host := string(triple.Host())
	run := func(args ...string) string {
		t.Helper()
		out, errs, code := cook(t, append([]string{"--cookbook", book, "--work", work, "--target", host}, args...)...)
		if code != 0 {
			t.Fatalf("cook %s: exit %d: %s", strings.Join(args, " "), code, errs)
		}
		return normalise(out, book, work)
	}

	golden.Check(t, "testdata/plan/dry-run.golden", run("build", "--dry-run", "top"))
	golden.Check(t, "testdata/plan/dry-run.json.golden", run("--json", "build", "--dry-run", "top"))
	golden.Check(t, "testdata/plan/print-script-none.json.golden", strings.ReplaceAll(run("--json", "print-script", "leaf"), host, "$HOST"))

	var ps printScriptJSON
	if err := json.Unmarshal([]byte(run("--json", "print-script", "host:top")), &ps); err != nil {
		t.Fatal(err)
	}
	tree, err := cookbook.Load(t.Context(), book)
	if err != nil {
		t.Fatal(err)
	}
	if ps.Recipe != "host:top" || ps.Target != host || ps.Template != "custom" || ps.Script != script.Generate(tree.Recipes["top"]) {
		t.Errorf("print-script --json: %+v", ps)
	}

	// Build leaf, then change it and damage its recorded inputs.
	run("build", "--no-sandbox", "leaf")
	golden.Check(t, "testdata/plan/dry-run-built.golden", run("build", "--dry-run", "top"))
	os.WriteFile(filepath.Join(book, "recipes/leaf/recipe.toml"), []byte("# changed\n[build]\ntemplate = \"none\"\n"), 0o644)
	golden.Check(t, "testdata/plan/explain-changed.golden", run("explain", "leaf"))
	inputs := filepath.Join(work, "state", host, "leaf.inputs.json")
	if err := os.WriteFile(inputs, []byte("{\"recipe\": \"trunc"), 0o644); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/plan/explain-damaged.golden", strings.ReplaceAll(run("explain", "leaf"), host, "$HOST"))
	golden.Check(t, "testdata/plan/dry-run-damaged.golden", strings.ReplaceAll(run("build", "--dry-run", "top"), host, "$HOST"))
	os.Remove(inputs)
	golden.Check(t, "testdata/plan/explain-missing.golden", run("explain", "leaf"))
}
