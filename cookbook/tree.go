package cookbook

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/redox-cook/cook/internal/termtext"
)

// Tree is a loaded recipe tree: every recipes/**/recipe.toml under Root.
type Tree struct {
	Root    string             // absolute cookbook root (the directory holding recipes/)
	Recipes map[string]*Recipe // by name
	Names   []string           // sorted recipe names

	// Diagnostics are about the tree rather than one file's schema:
	// duplicate names, directories that cannot name a recipe or cannot be
	// read, symlinked directories (not followed), recipe.sh-only
	// directories, dependencies naming no recipe, suffixes naming no
	// optional package.
	Diagnostics []Diagnostic

	// Legacy maps the name of each directory holding a recipe.sh but no
	// recipe.toml (the older cookbook's recipe format) to that file's path
	// relative to Root. Such a directory is no recipe; Lookup says why.
	Legacy map[string]string

	depsMu sync.Mutex
	deps   map[Node][]Edge // Deps, computed once per node
}

// skipDir reports directories discovery never enters: hidden ones and the
// per-recipe state directories upstream's .gitignore lists.
func skipDir(name string) bool {
	switch name {
	case "source", "source.tmp", "target":
		return true
	}
	return len(name) > 0 && name[0] == '.'
}

// loadGCPercent is the GC target Load runs with.
const loadGCPercent = 400

// Load discovers and parses every recipe under root/recipes, in parallel. Its
// error is for I/O failures only; recipe problems are Diagnostics.
func Load(ctx context.Context, root string, opts ...LoadOption) (*Tree, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	recipesDir := filepath.Join(root, "recipes")
	if st, err := os.Stat(recipesDir); err != nil {
		return nil, fmt.Errorf("load recipes: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("load recipes: %s is not a directory", recipesDir)
	}

	// Parsing thousands of small files makes many short-lived maps; a
	// higher GC target while loading saves a third of the time, for a few
	// tens of MiB. A GOGC already above it (or off) is left alone.
	if old := debug.SetGCPercent(loadGCPercent); old < 0 || old > loadGCPercent {
		debug.SetGCPercent(old)
	} else {
		defer debug.SetGCPercent(old)
	}
	var cache *parseCache
	if o.cache != "" {
		cache = openParseCache(o.cache)
	}
	res, err := walk(ctx, root, recipesDir, cache)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		cache.save()
	}
	return assemble(root, res), nil
}

// LoadOption adjusts Load.
type LoadOption func(*loadOptions)

type loadOptions struct {
	cache string
}

// WithParseCache makes Load keep the recipes it parses, and their
// diagnostics, in the file at path (see parseCache), and take from it
// those whose recipe.toml has not changed since, rather than read and
// parse them again. The tree is the same with or without it. A missing or
// damaged cache file is rebuilt; one that cannot be written costs only
// the time it would have saved.
func WithParseCache(path string) LoadOption {
	return func(o *loadOptions) { o.cache = path }
}

// found is what walk collects: the recipes, and diagnostics about the tree
// (unreadable or symlinked directories, recipe.sh-only directories).
type found struct {
	recipes []*Recipe
	diags   []Diagnostic
	legacy  map[string]string // recipe.sh-only directory name → recipe.sh path
}

// walk reads the directories under dir concurrently (directory reads and
// file reads are system-call bound, so more workers than CPUs hide their
// latency) and loads every recipe.toml as soon as it is found: from the
// parse cache when one is given and the file has not changed, else read
// and parsed. Only a failure to read dir itself is an error: an unreadable
// subdirectory is a diagnostic, and an unreadable recipe.toml (a symlink
// loop, no permission) a recipe with an error, so that it fails only what
// needs it.
func walk(ctx context.Context, root, dir string, cache *parseCache) (*found, error) {
	w := &walker{ctx: ctx, root: root, top: dir, cache: cache,
		res: &found{legacy: map[string]string{}}, queue: make(chan string, 1024)}
	return w.run(max(8, 2*runtime.GOMAXPROCS(0)))
}

// walker is one walk: a queue of directories and the workers reading them.
type walker struct {
	ctx       context.Context
	root, top string
	cache     *parseCache // nil: parse every file

	mu      sync.Mutex // guards res
	res     *found
	queue   chan string
	pending sync.WaitGroup // directories queued or being read
	errOnce sync.Once
	err     error
}

// run reads the tree with the given number of workers.
func (w *walker) run(workers int) (*found, error) {
	w.pending.Add(1)
	w.queue <- w.top
	done := make(chan struct{})
	go func() { w.pending.Wait(); close(done) }()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case d := <-w.queue:
					w.visit(d)
				case <-done:
					return
				}
			}
		}()
	}
	wg.Wait()
	return w.res, w.err
}

func (w *walker) fail(err error) { w.errOnce.Do(func() { w.err = err }) }

// rel is p relative to the cookbook root, slash-separated.
func (w *walker) rel(p string) string {
	r, err := filepath.Rel(w.root, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

func (w *walker) diag(d Diagnostic) {
	w.mu.Lock()
	w.res.diags = append(w.res.diags, d)
	w.mu.Unlock()
}

// visit reads the directory d: queues its subdirectories, loads its
// recipe.toml and notes what else it holds.
func (w *walker) visit(d string) {
	defer w.pending.Done()
	if err := w.ctx.Err(); err != nil {
		w.fail(err)
		return
	}
	entries, err := readDir(d)
	if err != nil {
		if d == w.top {
			w.fail(fmt.Errorf("load recipes: %w", err))
			return
		}
		w.diag(Diagnostic{Severity: Error, Path: w.rel(d),
			Message: fmt.Sprintf("cannot read directory: %v; recipes under it are not loaded", unwrapPath(err))})
		if len(entries) == 0 {
			return
		}
	}
	others, hasTOML, hasSh := classify(entries)
	if hasSh && !hasTOML && d != w.top {
		w.mu.Lock()
		w.res.legacy[filepath.Base(d)] = w.rel(filepath.Join(d, "recipe.sh"))
		w.mu.Unlock()
	}
	for _, e := range entries {
		p := filepath.Join(d, e.name)
		switch {
		case e.isDir():
			if !skipDir(e.name) {
				w.enter(p)
			}
		case e.name == "recipe.toml":
			w.recipe(d, p, others)
		case e.typ == fs.ModeSymlink && !skipDir(e.name):
			w.symlink(p)
		}
	}
}

// classify lists what a directory holds besides recipe.toml (leaving out
// hidden entries and upstream's per-recipe state), and whether it holds a
// recipe.toml and a recipe.sh.
func classify(entries []dirent) (others []string, hasTOML, hasSh bool) {
	for _, e := range entries {
		switch n := e.name; {
		case n == "recipe.toml":
			hasTOML = true
		case n == "recipe.sh":
			hasSh = true
			others = append(others, n)
		case !skipDir(n) && n != "source.tar" && n != "source.tar.tmp":
			others = append(others, n)
		}
	}
	return others, hasTOML, hasSh
}

// enter queues the directory p, or reads it on this goroutine when the
// queue is full.
func (w *walker) enter(p string) {
	w.pending.Add(1)
	select {
	case w.queue <- p:
	default:
		w.visit(p)
	}
}

// recipe loads the recipe.toml at p, in the recipe directory d.
func (w *walker) recipe(d, p string, others []string) {
	name, rel := filepath.Base(d), w.rel(p)
	var r *Recipe
	if w.cache != nil {
		r = w.cache.recipe(name, d, rel, p)
	} else {
		r = readRecipe(name, d, rel, p)
	}
	r.Others = others
	w.mu.Lock()
	w.res.recipes = append(w.res.recipes, r)
	w.mu.Unlock()
}

// readRecipe reads and parses the recipe.toml at p.
func readRecipe(name, dir, rel, p string) *Recipe {
	data, _, err := readFile(p, maxRecipeSize)
	if err != nil {
		return unreadable(name, dir, rel, err)
	}
	return Parse(name, dir, rel, data)
}

// symlink warns about p when it links to a directory. Upstream's walk does
// not follow directory links, and neither does cook: following them could
// loop or load a recipe twice. Say so rather than skip them silently.
func (w *walker) symlink(p string) {
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		w.diag(Diagnostic{Severity: Warning, Path: w.rel(p),
			Message: "is a symbolic link to a directory, which is not followed (nor by upstream): recipes under it are not loaded"})
	}
}

// unreadable is the recipe of a recipe.toml that cannot be read: it has
// the error, so that only what needs it fails.
func unreadable(name, dir, rel string, err error) *Recipe {
	return &Recipe{Name: name, Dir: dir, Path: rel, Build: Build{Template: TemplateNone},
		Diagnostics: []Diagnostic{{Severity: Error, Recipe: name, Path: rel,
			Message: fmt.Sprintf("cannot read recipe.toml: %v", unwrapPath(err))}}}
}

// unwrapPath drops the path an *fs.PathError repeats (the diagnostic names
// the file already).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// newTree builds a Tree from already parsed recipes (used by tests).
func newTree(root string, recipes []*Recipe) *Tree {
	return assemble(root, &found{recipes: recipes})
}

// assemble builds a Tree from what walk found.
func assemble(root string, f *found) *Tree {
	recipes := f.recipes
	slices.SortFunc(recipes, func(a, b *Recipe) int { return strings.Compare(a.Path, b.Path) })
	t := &Tree{Root: root, Recipes: make(map[string]*Recipe, len(recipes))}
	for _, r := range recipes {
		if !ValidRecipeName(r.Name) {
			t.Diagnostics = append(t.Diagnostics, Diagnostic{Severity: Warning, Path: r.Path,
				Message: fmt.Sprintf("directory name %q cannot name a recipe (no '.', ':' or '/' allowed); upstream skips it", r.Name)})
			continue
		}
		if prev, ok := t.Recipes[r.Name]; ok {
			t.Diagnostics = append(t.Diagnostics, Diagnostic{Severity: Error, Recipe: r.Name, Path: r.Path,
				Message: fmt.Sprintf("recipe %q is defined twice: %s and %s", r.Name, prev.Path, r.Path)})
			continue
		}
		t.Recipes[r.Name] = r
		t.Names = append(t.Names, r.Name)
	}
	sort.Strings(t.Names)
	t.Legacy = map[string]string{}
	for name, sh := range f.legacy {
		if _, ok := t.Recipes[name]; !ok { // a recipe.toml of that name elsewhere wins
			t.Legacy[name] = sh
			t.Diagnostics = append(t.Diagnostics, Diagnostic{Severity: Warning, Path: sh,
				Message: "recipe.sh recipes are not supported; convert to recipe.toml (upstream does not load this directory either)"})
		}
	}
	t.Diagnostics = append(t.Diagnostics, f.diags...)
	t.checkReferences()
	return t
}

// checkReferences warns about dependencies naming no recipe and suffixes
// naming no optional package of their recipe.
func (t *Tree) checkReferences() {
	for _, name := range t.Names {
		r := t.Recipes[name]
		for _, ref := range r.references() {
			dep, ok := t.Recipes[ref.dep.Name]
			switch {
			case !ok:
				msg := Dangling{List: ref.list, Dep: ref.dep, Legacy: t.Legacy[ref.dep.Name]}.message()
				t.Diagnostics = append(t.Diagnostics, Diagnostic{Severity: Warning, Recipe: name, Path: r.Path, Message: msg})
			case ref.dep.Suffix != "" && !dep.hasOptional(ref.dep.Suffix):
				t.Diagnostics = append(t.Diagnostics, Diagnostic{Severity: Warning, Recipe: name, Path: r.Path,
					Message: fmt.Sprintf("%s names %q, but recipe %q has no optional package %q", ref.list, ref.dep, dep.Name, ref.dep.Suffix)})
			}
		}
	}
}

type reference struct {
	list string
	dep  PackageName
}

// references lists every dependency entry of r with the list it is in.
func (r *Recipe) references() []reference {
	var out []reference
	add := func(list string, deps []PackageName) {
		for _, d := range deps {
			out = append(out, reference{list, d})
		}
	}
	add("build.dependencies", r.Build.Dependencies)
	add("build.dev-dependencies", r.Build.DevDependencies)
	add("package.dependencies", r.Package.Dependencies)
	for _, o := range r.OptionalPackages {
		add("optional-packages.dependencies", o.Dependencies)
	}
	return out
}

func (r *Recipe) hasOptional(name string) bool {
	for _, o := range r.OptionalPackages {
		if o.Name == name {
			return true
		}
	}
	return false
}

// Dangling is a dependency that names no recipe of the tree.
type Dangling struct {
	Recipe string      // the recipe that names it
	Path   string      // that recipe's file, relative to the cookbook root
	List   string      // the key it is listed under: build.dependencies, ...
	Dep    PackageName // the name
	Legacy string      // a recipe.sh-only directory of that name, if there is one
}

func (d Dangling) message() string {
	msg := fmt.Sprintf("%s names %q, which is no recipe in this tree", d.List, d.Dep)
	if d.Legacy != "" {
		msg += fmt.Sprintf(" (%s: recipe.sh recipes are not supported; convert to recipe.toml)", d.Legacy)
	}
	return msg
}

// String says where the name is: "recipes/x/recipe.toml: build.dependencies
// names "y", which is no recipe in this tree".
func (d Dangling) String() string { return d.Path + ": " + d.message() }

// DanglingIn lists, in recipe order, the dependencies of the recipes
// include accepts (nil: every recipe) that name no recipe.
func (t *Tree) DanglingIn(include func(name string) bool) []Dangling {
	var out []Dangling
	for _, name := range t.Names {
		if include != nil && !include(name) {
			continue
		}
		r := t.Recipes[name]
		for _, ref := range r.references() {
			if _, ok := t.Recipes[ref.dep.Name]; !ok {
				out = append(out, Dangling{Recipe: name, Path: r.Path, List: ref.list, Dep: ref.dep, Legacy: t.Legacy[ref.dep.Name]})
			}
		}
	}
	return out
}

// Unresolved returns the sorted distinct dependency names that name no
// recipe, over the recipes for which include returns true (all when nil).
func (t *Tree) Unresolved(include func(name string) bool) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, name := range t.Names {
		if include != nil && !include(name) {
			continue
		}
		for _, ref := range t.Recipes[name].references() {
			n := ref.dep.Name
			if _, ok := t.Recipes[n]; !ok && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Diagnostics returns every diagnostic of the tree and its recipes, sorted by
// path and line. With strict, warnings are reported as errors.
func (t *Tree) AllDiagnostics(strict bool) []Diagnostic {
	out := append([]Diagnostic(nil), t.Diagnostics...)
	for _, name := range t.Names {
		out = append(out, t.Recipes[name].Diagnostics...)
	}
	if strict {
		for i := range out {
			out[i].Severity = Error
		}
	}
	slices.SortStableFunc(out, func(a, b Diagnostic) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	return out
}

// ErrLegacyRecipe is what Lookup returns (wrapped) for the name of a
// directory holding only a recipe.sh, the older cookbook's format.
var ErrLegacyRecipe = errors.New("recipe.sh recipes are not supported; convert to recipe.toml")

// Lookup returns the recipe called name.
func (t *Tree) Lookup(name string) (*Recipe, error) {
	if r, ok := t.Recipes[name]; ok {
		return r, nil
	}
	if sh, ok := t.Legacy[name]; ok {
		return nil, fmt.Errorf("recipe %q is %s: %w", name, termtext.Escape(sh), ErrLegacyRecipe)
	}
	return nil, fmt.Errorf("no recipe named %q under %s", name, termtext.Escape(filepath.Join(t.Root, "recipes")))
}
