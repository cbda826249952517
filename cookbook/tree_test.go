package cookbook

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/redox-cook/cook/internal/termtext"
)

// TestOlderCookbookTree loads testdata/oldtree, shaped like the standalone
// cookbook repository (github.com/redox-os/cookbook): a recipe.toml with the
// older [build] package_path, a directory with only a recipe.sh, and a
// recipe depending on it.
func TestOlderCookbookTree(t *testing.T) {
	tree, err := Load(t.Context(), "testdata/oldtree")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tree.Names, " "); got != "hello pkgar uses-vice" {
		t.Errorf("names %q", got)
	}
	_, err = tree.Lookup("vice")
	if !errors.Is(err, ErrLegacyRecipe) || !strings.Contains(err.Error(), "recipe.sh recipes are not supported; convert to recipe.toml") ||
		!strings.Contains(err.Error(), "recipes/wip/vice/recipe.sh") {
		t.Errorf("Lookup(vice) = %v", err)
	}
	if _, err := tree.Lookup("nothing"); err == nil || errors.Is(err, ErrLegacyRecipe) || !strings.Contains(err.Error(), `no recipe named "nothing"`) {
		t.Errorf("Lookup(nothing) = %v", err)
	}
	var got []string
	for _, d := range tree.AllDiagnostics(false) {
		got = append(got, d.String())
	}
	want := []string{
		`recipes/core/pkgar/recipe.toml:7:1: warning: key "package_path" in [build] is the older cookbook's name for "cargopath": upstream ignores it now, so the default applies (rename it to cargopath)`,
		`recipes/wip/uses-vice/recipe.toml: warning: build.dependencies names "vice", which is no recipe in this tree (recipes/wip/vice/recipe.sh: recipe.sh recipes are not supported; convert to recipe.toml)`,
		`recipes/wip/vice/recipe.sh: warning: recipe.sh recipes are not supported; convert to recipe.toml (upstream does not load this directory either)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLegacyNameTakenByRecipe: a recipe.toml of the same name elsewhere is
// the recipe; the recipe.sh directory is not reported.
func TestLegacyNameTakenByRecipe(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "recipes/a/x/recipe.sh"), "")
	write(t, filepath.Join(dir, "recipes/b/x/recipe.toml"), "")
	tree, err := Load(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.Lookup("x"); err != nil || len(tree.Legacy) != 0 || len(tree.AllDiagnostics(false)) != 0 {
		t.Errorf("lookup %v, legacy %v, diagnostics %v", err, tree.Legacy, tree.AllDiagnostics(false))
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUnreadableRecipeFailsOnlyItself: a recipe.toml that cannot be read (a
// symlink loop, a dangling link, no permission) is a recipe with an error;
// the rest of the tree loads.
func TestUnreadableRecipeFailsOnlyItself(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "recipes/good/recipe.toml"), "[build]\ntemplate = \"none\"\n")
	loop := filepath.Join(dir, "recipes/loop/recipe.toml")
	os.MkdirAll(filepath.Dir(loop), 0o755)
	if err := os.Symlink("recipe.toml", loop); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "recipes/dangling/recipe.toml")
	os.MkdirAll(filepath.Dir(dangling), 0o755)
	os.Symlink("../nowhere/recipe.toml", dangling)
	want := map[string]string{
		"loop":     "recipes/loop/recipe.toml: error: cannot read recipe.toml: too many levels of symbolic links",
		"dangling": "recipes/dangling/recipe.toml: error: cannot read recipe.toml: no such file or directory",
	}
	if os.Geteuid() != 0 { // root reads anything
		write(t, filepath.Join(dir, "recipes/secret/recipe.toml"), "")
		os.Chmod(filepath.Join(dir, "recipes/secret/recipe.toml"), 0)
		want["secret"] = "recipes/secret/recipe.toml: error: cannot read recipe.toml: permission denied"
	}
	tree, err := Load(t.Context(), dir)
	if err != nil {
		t.Fatalf("the tree does not load: %v", err)
	}
	if r := tree.Recipes["good"]; r == nil || r.HasErrors() {
		t.Errorf("good: %v", r)
	}
	for name, msg := range want {
		r := tree.Recipes[name]
		if r == nil || !r.HasErrors() || r.Diagnostics[0].String() != msg {
			t.Errorf("%s: %v, want %q", name, r, msg)
		}
	}
}

func TestUnreadableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any directory")
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "recipes/good/recipe.toml"), "")
	write(t, filepath.Join(dir, "recipes/closed/x/recipe.toml"), "")
	os.Chmod(filepath.Join(dir, "recipes/closed"), 0)
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "recipes/closed"), 0o755) })
	tree, err := Load(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	d := tree.AllDiagnostics(false)
	if len(tree.Names) != 1 || len(d) != 1 || d[0].Severity != Error || d[0].Path != "recipes/closed" {
		t.Errorf("names %v, diagnostics %v", tree.Names, d)
	}
}

// TestSymlinkedRecipeDirectory: a link to a directory is not followed, as
// upstream's walk does not follow it, and a warning says so.
func TestSymlinkedRecipeDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "elsewhere/linked/recipe.toml"), "")
	write(t, filepath.Join(dir, "recipes/good/recipe.toml"), "")
	if err := os.Symlink("../elsewhere/linked", filepath.Join(dir, "recipes/linked")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("self", filepath.Join(dir, "recipes/self")) // a loop: no directory, no warning
	tree, err := Load(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	d := tree.AllDiagnostics(false)
	if len(tree.Names) != 1 || len(d) != 1 ||
		d[0].String() != "recipes/linked: warning: is a symbolic link to a directory, which is not followed (nor by upstream): recipes under it are not loaded" {
		t.Errorf("names %v, diagnostics %v", tree.Names, d)
	}
}

// TestControlCharactersEscaped: a recipe directory named with an escape
// sequence is printed with the sequence escaped, never raw.
func TestControlCharactersEscaped(t *testing.T) {
	dir := t.TempDir()
	name := "evil\x1b[2J\x07\xff"
	write(t, filepath.Join(dir, "recipes", name, "recipe.toml"), "[build]\ntemplate = \"none\"\ndependencies = [\"x\\u001b[31m\"]\n")
	tree, err := Load(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	ds := tree.AllDiagnostics(false)
	if len(ds) == 0 {
		t.Fatal("no diagnostics")
	}
	for _, d := range ds {
		s := d.String()
		if strings.ContainsAny(s, "\x1b\x07") || strings.Contains(s, "\xff") || !strings.Contains(s, `recipes/evil\x1b[2J\a\xff/recipe.toml`) {
			t.Errorf("%q", s)
		}
	}
	if _, err := tree.Lookup("no\x1bpe"); err == nil || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("%q", err)
	}
	if got := termtext.Escape("plain \"text\" \\ é"); got != "plain \"text\" \\ é" {
		t.Errorf("Escape changed printable text: %q", got)
	}
	if got := termtext.Escape("a\nb\tc\u0085"); got != `a\nb\tc\u0085` {
		t.Errorf("Escape = %q", got)
	}
}

// TestSyntaxErrorAtNewline: an error found at the newline ending a line is
// on that line, not the next.
func TestSyntaxErrorAtNewline(t *testing.T) {
	for _, tc := range []struct {
		text      string
		line, col int
	}{
		{"a = 1\n[b\nc = 1\n", 2, 3},
		{"[build]\ntemplate = \"x\nb=1\n", 2, 14},
		{"a = \n", 1, 5},
		{"a = \"é\" b\n", 1, 8}, // characters, not bytes
	} {
		r := Parse("x", "/x", "recipes/x/recipe.toml", []byte(tc.text))
		if len(r.Diagnostics) != 1 || r.Diagnostics[0].Line != tc.line || r.Diagnostics[0].Column != tc.col {
			t.Errorf("%q: %v, want %d:%d", tc.text, r.Diagnostics, tc.line, tc.col)
		}
	}
}

// TestSpecialRecipeFile: a recipe.toml that is a FIFO (or a device) is a
// recipe with an error; the load neither blocks on it nor reads forever.
func TestSpecialRecipeFile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "recipes/good/recipe.toml"), "[build]\ntemplate = \"none\"\n")
	fifo := filepath.Join(dir, "recipes/fifo/recipe.toml")
	os.MkdirAll(filepath.Dir(fifo), 0o755)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(dir, "recipes/dev/recipe.toml")
	os.MkdirAll(filepath.Dir(dev), 0o755)
	if err := os.Symlink("/dev/zero", dev); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]LoadOption{nil, {WithParseCache(filepath.Join(t.TempDir(), "c"))}} {
		tree, err := Load(t.Context(), dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"fifo", "dev"} {
			r := tree.Recipes[name]
			if r == nil || !r.HasErrors() || r.Diagnostics[0].String() != "recipes/"+name+"/recipe.toml: error: cannot read recipe.toml: not a regular file" {
				t.Errorf("%s: %v", name, r)
			}
		}
		if r := tree.Recipes["good"]; r == nil || r.HasErrors() {
			t.Errorf("good: %v", r)
		}
	}
}

// TestHugeRecipeFile: a recipe.toml far larger than any recipe (sparse,
// so it costs no disk) is a recipe with an error, read no further than the
// limit, with and without the parse cache.
func TestHugeRecipeFile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "recipes/good/recipe.toml"), "[build]\ntemplate = \"none\"\n")
	huge := filepath.Join(dir, "recipes/huge/recipe.toml")
	write(t, huge, "[build]\ntemplate = \"none\"\n")
	if err := os.Truncate(huge, 64<<20); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]LoadOption{nil, {WithParseCache(filepath.Join(t.TempDir(), "c"))}} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tree, err := Load(t.Context(), dir, opts...)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
			t.Errorf("loading allocated %d bytes", got)
		}
		r := tree.Recipes["huge"]
		if r == nil || !r.HasErrors() || !strings.Contains(r.Diagnostics[0].String(), "cannot read recipe.toml: larger than") {
			t.Errorf("huge: %v", r)
		}
		if r := tree.Recipes["good"]; r == nil || r.HasErrors() {
			t.Errorf("good: %v", r)
		}
	}
}

// TestCheckReportText: errors, then warnings when asked, as
// FILE[:LINE[:COLUMN]]: severity: message with the tree's text escaped,
// then cycles and the counts.
func TestCheckReportText(t *testing.T) {
	rep := &CheckReport{Recipes: 3, Loaded: 2,
		Errors: []CheckDiagnostic{{Recipe: "a", Path: "recipes/a\x1b[2J/recipe.toml", Line: 3, Column: 7, Message: "bad\nvalue"},
			{Recipe: "b", Path: "recipes/b/recipe.toml", Message: "no line"}},
		Warnings:   []CheckDiagnostic{{Recipe: "c", Path: "recipes/c/recipe.toml", Line: 2, Message: "odd"}},
		Unresolved: []string{"x"}, Cycles: [][]string{{"a", "b", "a"}}}
	var b strings.Builder
	if err := rep.WriteText(&b, true); err != nil {
		t.Fatal(err)
	}
	want := `recipes/a\x1b[2J/recipe.toml:3:7: error: bad\nvalue
recipes/b/recipe.toml: error: no line
recipes/c/recipe.toml:2: warning: odd
error: dependency cycle: a → b → a
3 recipes, 2 load, 2 error(s), 1 warning(s), 1 unresolved dependency name(s), 1 cycle(s)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	rep.WriteText(&b, false)
	if strings.Contains(b.String(), "odd") || !strings.Contains(b.String(), "(warnings not shown") {
		t.Errorf("without warnings:\n%s", b.String())
	}
}
