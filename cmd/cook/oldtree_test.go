package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLegacyRecipeSh: check, info and build on a directory holding only the
// older cookbook's recipe.sh say it is not supported, rather than that no
// recipe has that name (testdata/oldtree is cookbook's).
func TestLegacyRecipeSh(t *testing.T) {
	book, _ := filepath.Abs("../../cookbook/testdata/oldtree")
	work := t.TempDir()
	for _, args := range [][]string{{"check", "vice"}, {"info", "vice"}, {"build", "--dry-run", "vice"}, {"print-script", "vice"}} {
		_, errs, code := cook(t, append([]string{"--cookbook", book, "--work", work}, args...)...)
		want := `cook: recipe "vice" is recipes/wip/vice/recipe.sh: recipe.sh recipes are not supported; convert to recipe.toml` + "\n"
		if code != exitFailed || errs != want {
			t.Errorf("cook %s: exit %d, stderr %q; want exit 1 and %q", strings.Join(args, " "), code, errs, want)
		}
	}
	out, _, code := cook(t, "--cookbook", book, "check")
	if code != 0 || !strings.Contains(out, "3 recipes, 3 load, 0 error(s), 3 warning(s), 1 unresolved") {
		t.Errorf("check: exit %d\n%s", code, out)
	}
	out, _, _ = cook(t, "--cookbook", book, "check", "pkgar")
	if !strings.Contains(out, `key "package_path" in [build] is the older cookbook's name for "cargopath"`) {
		t.Errorf("check pkgar:\n%s", out)
	}
}

// TestUnreadableRecipe: a recipe.toml in a symlink loop fails check (exit
// 1, not the usage error of an unloadable tree) and the recipes that need it,
// and nothing else.
func TestUnreadableRecipe(t *testing.T) {
	book, work := planTree(t)
	loop := filepath.Join(book, "recipes/loop/recipe.toml")
	os.MkdirAll(filepath.Dir(loop), 0o755)
	if err := os.Symlink("recipe.toml", loop); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(book, "recipes/needs-loop"), 0o755)
	os.WriteFile(filepath.Join(book, "recipes/needs-loop/recipe.toml"), []byte("[build]\ntemplate = \"none\"\ndependencies = [\"loop\"]\n"), 0o644)
	base := []string{"--cookbook", book, "--work", work}

	out, errs, code := cook(t, append(base, "check")...)
	if code != exitFailed || !strings.Contains(out, "recipes/loop/recipe.toml: error: cannot read recipe.toml: too many levels of symbolic links") ||
		!strings.Contains(out, "4 recipes, 3 load, 1 error(s)") {
		t.Errorf("check: exit %d\n%s%s", code, out, errs)
	}
	if _, errs, code := cook(t, append(base, "check", "top")...); code != 0 {
		t.Errorf("check top: exit %d: %s", code, errs)
	}
	if _, errs, code := cook(t, append(base, "build", "--dry-run", "top")...); code != 0 {
		t.Errorf("build --dry-run top: exit %d: %s", code, errs)
	}
	_, errs, code = cook(t, append(base, "build", "--dry-run", "needs-loop")...)
	if code != exitFailed || !strings.Contains(errs, "loop cannot be built: recipes/loop/recipe.toml: error: cannot read recipe.toml") {
		t.Errorf("build needs-loop: exit %d: %s", code, errs)
	}
}

// TestCheckEscapesControlCharacters: a recipe directory whose name holds a
// terminal escape sequence is printed escaped.
func TestCheckEscapesControlCharacters(t *testing.T) {
	book := t.TempDir()
	dir := filepath.Join(book, "recipes", "x\x1b]0;pwned\x07")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "recipe.toml"), []byte("[build\n"), 0o644)
	out, _, code := cook(t, "--cookbook", book, "check")
	if code != exitFailed || strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `recipes/x\x1b]0;pwned\a/recipe.toml:1:7: error: TOML syntax`) {
		t.Errorf("exit %d: %q", code, out)
	}
}
