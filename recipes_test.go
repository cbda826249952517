// Tests of cook's own recipes (recipes/ at the repo root): they must pass
// `cook check --strict`, and every git source must be pinned to a commit.
package cook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/redox-cook/cook/cookbook"
)

// ownRecipes are the recipes cook ships (docs/recipes.md): the system the
// Nix seed build covered and what it needs, and the meta packages.
var ownRecipes = []string{
	"relibc", "kernel", "bootloader", "base", "redoxfs", "ion", "helix",
	"binutils", "extrautils", "uutils", "sodium", "netutils", "netdb",
	"userutils", "coreutils", "pkgutils", "ca-certificates", "installer",
	"libgcc", "libstdcxx", "kibi", "uutils-procps", "xz",
	"core", "minimal", "seed",
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "recipes")); err != nil {
		t.Fatalf("no recipes/ at the repo root: %v", err)
	}
	return root
}

func TestOwnRecipesCheckStrict(t *testing.T) {
	root := repoRoot(t)
	cmd := exec.Command(cookBin, "--cookbook", root, "check", "--strict", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var report struct {
		Recipes int `json:"recipes"`
		Loaded  int `json:"loaded"`
		Errors  []struct {
			Recipe, Path, Message string
		} `json:"errors"`
		Warnings []struct {
			Recipe, Path, Message string
		} `json:"warnings"`
		Unresolved []string   `json:"unresolved"`
		Cycles     [][]string `json:"cycles"`
	}
	if jerr := json.Unmarshal(stdout.Bytes(), &report); jerr != nil {
		t.Fatalf("cook check --json: %v (run error %v)\nstdout:\n%s\nstderr:\n%s", jerr, err, stdout.String(), stderr.String())
	}
	for _, d := range report.Errors {
		t.Errorf("error: %s (%s): %s", d.Recipe, d.Path, d.Message)
	}
	for _, d := range report.Warnings {
		t.Errorf("warning: %s (%s): %s", d.Recipe, d.Path, d.Message)
	}
	if len(report.Unresolved) > 0 {
		t.Errorf("dependencies naming no recipe in recipes/: %v", report.Unresolved)
	}
	if len(report.Cycles) > 0 {
		t.Errorf("dependency cycles: %v", report.Cycles)
	}
	if report.Loaded != report.Recipes {
		t.Errorf("%d of %d recipes load", report.Loaded, report.Recipes)
	}
	if report.Recipes < len(ownRecipes) {
		t.Errorf("cook check saw %d recipes, want at least %d", report.Recipes, len(ownRecipes))
	}
	if err != nil {
		t.Errorf("cook check --strict: %v\nstderr:\n%s", err, stderr.String())
	}
}

var (
	commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	blake3RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func TestOwnRecipesPinned(t *testing.T) {
	root := repoRoot(t)
	tree, err := cookbook.Load(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ownRecipes {
		if tree.Recipes[name] == nil {
			t.Errorf("recipe %s is missing from recipes/", name)
		}
	}
	for _, name := range tree.Names {
		r := tree.Recipes[name]
		src := r.Source
		if src == nil {
			continue
		}
		switch src.Kind {
		case cookbook.Git:
			// A branch alone, a tag name or a short hash can move or be
			// ambiguous; a full commit id cannot.
			if !commitRE.MatchString(src.Rev) {
				t.Errorf("%s (%s): git source %s has rev %q, want a full 40-hex commit id", name, r.Path, src.Git, src.Rev)
			}
		case cookbook.Tar:
			if !blake3RE.MatchString(src.Blake3) {
				t.Errorf("%s (%s): tar source %s has blake3 %q, want 64 hex digits", name, r.Path, src.Tar, src.Blake3)
			}
		case cookbook.Path:
			t.Errorf("%s (%s): path source %q: cook's own recipes fetch what they build", name, r.Path, src.Path)
		}
		for _, p := range src.Patches {
			if _, err := os.Stat(filepath.Join(r.Dir, p)); err != nil {
				t.Errorf("%s (%s): patch %s: %v", name, r.Path, p, err)
			}
		}
	}
}
