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
func Load(ctx context.Context, root string) (*Tree, error) {
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
	res, err := walk(ctx, root, recipesDir)
	if err != nil {
		return nil, err
	}
	return assemble(root, res), nil
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
// latency) and parses every recipe.toml as soon as it is found. Only a
// failure to read dir itself is an error: an unreadable subdirectory is a
// diagnostic, and an unreadable recipe.toml (a symlink loop, no permission)
// a recipe with an error, so that it fails only what needs it.
func walk(ctx context.Context, root, dir string) (*found, error) {
	workers := max(8, 2*runtime.GOMAXPROCS(0))
	var (
		mu      sync.Mutex
		res     = &found{legacy: map[string]string{}}
		pending sync.WaitGroup
		errOnce sync.Once
		walkErr error
	)
	fail := func(err error) { errOnce.Do(func() { walkErr = err }) }
	rel := func(p string) string {
		r, err := filepath.Rel(root, p)
		if err != nil {
			return p
		}
		return filepath.ToSlash(r)
	}
	diag := func(d Diagnostic) {
		mu.Lock()
		res.diags = append(res.diags, d)
		mu.Unlock()
	}
	queue := make(chan string, 1024)
	var visit func(d string)
	visit = func(d string) {
		defer pending.Done()
		if ctx.Err() != nil {
			fail(ctx.Err())
			return
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			if d == dir {
				fail(fmt.Errorf("load recipes: %w", err))
				return
			}
			diag(Diagnostic{Severity: Error, Path: rel(d),
				Message: fmt.Sprintf("cannot read directory: %v; recipes under it are not loaded", unwrapPath(err))})
			if len(entries) == 0 {
				return
			}
		}
		var others []string
		hasTOML, hasSh := false, false
		for _, e := range entries {
			switch n := e.Name(); {
			case n == "recipe.toml":
				hasTOML = true
			case n == "recipe.sh":
				hasSh = true
				others = append(others, n)
			case !skipDir(n) && n != "source.tar" && n != "source.tar.tmp":
				others = append(others, n)
			}
		}
		if hasSh && !hasTOML && d != dir {
			mu.Lock()
			res.legacy[filepath.Base(d)] = rel(filepath.Join(d, "recipe.sh"))
			mu.Unlock()
		}
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			switch {
			case e.IsDir():
				if skipDir(e.Name()) {
					continue
				}
				pending.Add(1)
				select {
				case queue <- p:
				default:
					visit(p) // queue full: walk it on this goroutine
				}
			case e.Name() == "recipe.toml":
				name, relPath := filepath.Base(d), rel(p)
				var r *Recipe
				if data, err := os.ReadFile(p); err != nil {
					r = unreadable(name, d, relPath, err)
				} else {
					r = Parse(name, d, relPath, data)
				}
				r.Others = others
				mu.Lock()
				res.recipes = append(res.recipes, r)
				mu.Unlock()
			case e.Type()&fs.ModeSymlink != 0 && !skipDir(e.Name()):
				// Upstream's walk does not follow directory links, and
				// neither does cook: following them could loop or load a
				// recipe twice. Say so rather than skip them silently.
				if st, err := os.Stat(p); err == nil && st.IsDir() {
					diag(Diagnostic{Severity: Warning, Path: rel(p),
						Message: "is a symbolic link to a directory, which is not followed (nor by upstream): recipes under it are not loaded"})
				}
			}
		}
	}
	pending.Add(1)
	queue <- dir
	done := make(chan struct{})
	go func() { pending.Wait(); close(done) }()
	var workersWG sync.WaitGroup
	for range workers {
		workersWG.Add(1)
		go func() {
			defer workersWG.Done()
			for {
				select {
				case d := <-queue:
					visit(d)
				case <-done:
					return
				}
			}
		}()
	}
	workersWG.Wait()
	return res, walkErr
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
	sort.Slice(recipes, func(i, j int) bool { return recipes[i].Path < recipes[j].Path })
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
		return nil, fmt.Errorf("recipe %q is %s: %w", name, Escape(sh), ErrLegacyRecipe)
	}
	return nil, fmt.Errorf("no recipe named %q under %s", name, Escape(filepath.Join(t.Root, "recipes")))
}
