// Package workdir names every path in cook's work directory, the one place where cook keeps state.
package workdir

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/redox-cook/cook/internal/fsutil"
)

// ErrOutside is wrapped by errors for paths that would leave their root.
var ErrOutside = errors.New("outside its root")

// ErrBadName is wrapped by errors for names that cannot name a directory.
var ErrBadName = errors.New("not a valid name")

// CheckName reports whether s can be used as one path element under a
// root: not empty, ".", ".." or longer than 255 bytes, and without '/',
// '\\', NUL or other control characters. Recipe, package and target names
// all become directory names in the work directory.
func CheckName(s string) error {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return fmt.Errorf("%w: %s", ErrBadName, strconv.Quote(s))
	}
	for _, c := range s {
		if c == '/' || c == '\\' || c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %s", ErrBadName, strconv.Quote(s))
		}
	}
	return nil
}

// Within checks that p stays inside root: lexically, and after resolving
// the symlinks of every part of p that exists.
func Within(root, p string) error {
	outside := fmt.Errorf("%s: %w %s", p, ErrOutside, root)
	root, p = filepath.Clean(root), filepath.Clean(p)
	if !inside(root, p) {
		return outside
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("%s: %w", root, err)
	}
	// the longest existing prefix of p, with its symlinks resolved
	probe, rest := p, ""
	for {
		real, err := filepath.EvalSymlinks(probe)
		if err == nil {
			if !inside(realRoot, filepath.Join(real, rest)) {
				return outside
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", probe, err)
		}
		parent := filepath.Dir(probe)
		if parent == probe {
			return outside
		}
		rest = filepath.Join(filepath.Base(probe), rest)
		probe = parent
	}
}

// inside reports whether p is root or below it (both clean).
func inside(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// Dir is a work directory, the one place where cook keeps state; recipe
// trees are never written to. Its methods name these paths:
//
//	<work>/recipes/<name>/source/                 fetched source (git checkout, extracted tar, copy)
//	<work>/recipes/<name>/source_info.toml        source identity
//	<work>/recipes/<name>/target/<T>/build/       build directory ($COOKBOOK_BUILD)
//	<work>/recipes/<name>/target/<T>/stage/       staged main package; stage.<opt>/ for optional packages
//	<work>/recipes/<name>/target/<T>/sysroot/     dependencies' stages ($COOKBOOK_SYSROOT)
//	<work>/recipes/<name>/target/<T>/toolchain/   host: dependencies' stages ($COOKBOOK_TOOLCHAIN)
//	<work>/recipes/<name>/target/<T>/stage.pkgar  stage.toml, stage.<opt>.pkgar, stage.<opt>.toml, auto_deps.toml
//	<work>/recipes/<name>/target/<T>/stage.tmp/   the stage while the script writes it
//	<work>/recipes/<name>/target/<T>/script/      build.sh, the generated script
//	<work>/recipes/<name>/target/<T>/home/        $HOME of the script; tmp/ its $TMPDIR
//	<work>/recipes/<name>/target/<T>/overlay/     the sandbox's overlay layers; root/ its mount point
//	<work>/repo/<T>/                              published repository (<pkg>.pkgar, <pkg>.toml, repo.toml)
//	<work>/keys/id_ed25519.toml                   signing key (and id_ed25519.pub.toml)
//	<work>/logs/<T>/<name>.log                    per-recipe build log
//	<work>/state/                                 action-key → output state
//	<work>/state/parse.cache                      parsed recipes by recipe file identity (cookbook.WithParseCache)
//	<work>/images/                                disk images
//	<work>/tmp/                                   scratch space on the same filesystem, for temp-then-rename
//	<work>/lock                                   the writer lock, holding its holder's pid (see Lock)
//
// <T> is the target triple the recipe was built for (the host triple for host: recipes).
type Dir struct {
	Root string // absolute
}

// New returns the work directory rooted at root.
func New(root string) Dir { return Dir{Root: root} }

// Recipes is <work>/recipes, a directory per recipe.
func (d Dir) Recipes() string { return filepath.Join(d.Root, "recipes") }

// Recipe is <work>/recipes/<name>.
func (d Dir) Recipe(name string) string { return filepath.Join(d.Recipes(), name) }

// Source is the fetched source tree of a recipe.
func (d Dir) Source(name string) string { return filepath.Join(d.Root, "recipes", name, "source") }

// SourceInfo is the file recording a recipe's source identity.
func (d Dir) SourceInfo(name string) string {
	return filepath.Join(d.Root, "recipes", name, "source_info.toml")
}

// Target is <work>/recipes/<name>/target/<triple>.
func (d Dir) Target(name, triple string) string {
	return filepath.Join(d.Root, "recipes", name, "target", triple)
}

// Build is the build directory of a recipe for a target.
func (d Dir) Build(name, triple string) string { return filepath.Join(d.Target(name, triple), "build") }

// Stage is the staged tree of a package: the main one when opt is "", else
// the optional package opt.
func (d Dir) Stage(name, triple, opt string) string {
	return filepath.Join(d.Root, "recipes", name, "target", triple, withOpt("stage", opt))
}

// Pkgar is the package archive of a recipe's main or optional package.
func (d Dir) Pkgar(name, triple, opt string) string {
	return filepath.Join(d.Root, "recipes", name, "target", triple, withOpt("stage", opt)+".pkgar")
}

// StageToml is the package metadata next to Pkgar.
func (d Dir) StageToml(name, triple, opt string) string {
	return filepath.Join(d.Root, "recipes", name, "target", triple, withOpt("stage", opt)+".toml")
}

// AutoDeps is the computed runtime dependency list of a recipe.
func (d Dir) AutoDeps(name, triple string) string {
	return filepath.Join(d.Target(name, triple), "auto_deps.toml")
}

// StageTmp is where the script writes the stage, renamed to Stage when
// the build succeeds.
func (d Dir) StageTmp(name, triple string) string {
	return filepath.Join(d.Target(name, triple), "stage.tmp")
}

// Script is the directory holding a build's generated build.sh.
func (d Dir) Script(name, triple string) string {
	return filepath.Join(d.Target(name, triple), "script")
}

// Home is the build script's $HOME.
func (d Dir) Home(name, triple string) string { return filepath.Join(d.Target(name, triple), "home") }

// BuildTmp is the build script's $TMPDIR (its /tmp in the sandbox).
func (d Dir) BuildTmp(name, triple string) string {
	return filepath.Join(d.Target(name, triple), "tmp")
}

// Overlay holds the sandbox's overlay layers for a build.
func (d Dir) Overlay(name, triple string) string {
	return filepath.Join(d.Target(name, triple), "overlay")
}

// SandboxRoot is the empty directory a build's sandbox mounts its new root on.
func (d Dir) SandboxRoot(name, triple string) string {
	return filepath.Join(d.Target(name, triple), "root")
}

// Sysroot is the sysroot assembled from a recipe's target dependencies.
func (d Dir) Sysroot(name, triple string) string {
	return filepath.Join(d.Target(name, triple), "sysroot")
}

// Toolchain is the directory assembled from a recipe's host: dependencies.
func (d Dir) Toolchain(name, triple string) string {
	return filepath.Join(d.Target(name, triple), "toolchain")
}

// Repo is the published repository for a target.
func (d Dir) Repo(triple string) string { return filepath.Join(d.Root, "repo", triple) }

// Keys is the directory of the signing key files.
func (d Dir) Keys() string { return filepath.Join(d.Root, "keys") }

// Log is the build log of a recipe.
func (d Dir) Log(name, triple string) string {
	return filepath.Join(d.Root, "logs", triple, name+".log")
}

// RecipePaths are where one recipe's state lives for one target, as cook
// info shows them.
type RecipePaths struct {
	Source    string `json:"source"`
	Build     string `json:"build"`
	Stage     string `json:"stage"`
	Sysroot   string `json:"sysroot"`
	Toolchain string `json:"toolchain"`
	Package   string `json:"package"`
	Log       string `json:"log"`
}

// Paths returns the RecipePaths of recipe name for triple.
func (d Dir) Paths(name, triple string) RecipePaths {
	return RecipePaths{Source: d.Source(name), Build: d.Build(name, triple), Stage: d.Stage(name, triple, ""),
		Sysroot: d.Sysroot(name, triple), Toolchain: d.Toolchain(name, triple), Package: d.Pkgar(name, triple, ""),
		Log: d.Log(name, triple)}
}

// Each calls fn with each path's label and value, in a fixed order.
func (p RecipePaths) Each(fn func(label, path string)) {
	for _, kv := range [][2]string{{"source", p.Source}, {"build", p.Build}, {"stage", p.Stage}, {"sysroot", p.Sysroot},
		{"toolchain", p.Toolchain}, {"package", p.Package}, {"log", p.Log}} {
		fn(kv[0], kv[1])
	}
}

// State is the directory of persisted build state.
func (d Dir) State() string { return filepath.Join(d.Root, "state") }

// ParseCache is the file keeping parsed recipes between loads of the
// recipe tree (cookbook.WithParseCache).
func (d Dir) ParseCache() string { return filepath.Join(d.State(), "parse.cache") }

// Images is where disk images are written by default.
func (d Dir) Images() string { return filepath.Join(d.Root, "images") }

// Reports is where build reports (cook build --timings) are written by default.
func (d Dir) Reports() string { return filepath.Join(d.Root, "reports") }

// Tmp is scratch space on the work directory's filesystem.
func (d Dir) Tmp() string { return filepath.Join(d.Root, "tmp") }

// Check reports whether p is a path cook may create or remove in the work
// directory: strictly below the root, also after resolving symlinks.
func (d Dir) Check(p string) error {
	if filepath.Clean(p) == filepath.Clean(d.Root) {
		return fmt.Errorf("%s: the work directory itself: %w", p, ErrOutside)
	}
	return Within(d.Root, p)
}

// RemoveAll removes the tree at p after checking it is inside the work
// directory; read-only directories in it (overlayfs work dirs, Go module
// caches) are made writable first.
func (d Dir) RemoveAll(p string) error {
	if err := d.Check(p); err != nil {
		return fmt.Errorf("refusing to remove: %w", err)
	}
	return RemoveAll(p)
}

// RemoveAll removes the tree at p, making read-only directories in it
// writable first (fsutil.RemoveAll).
func RemoveAll(p string) error { return fsutil.RemoveAll(p) }

func withOpt(base, opt string) string {
	if opt == "" {
		return base
	}
	return base + "." + opt
}
