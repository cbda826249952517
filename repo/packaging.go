package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/workdir"
)

// Optional is an [[optional-packages]] entry of a recipe.
type Optional struct {
	Name    string   // the package is <recipe>.<Name>, staged in stage.<Name>/
	Depends []string // its dependencies; ".x" means the sibling <recipe>.x
}

// Packaging describes a built recipe to package. The staged trees are read
// from, and everything is written to, the work directory's paths for the
// recipe and target (workdir.Dir.Stage, Pkgar, StageToml, AutoDeps).
type Packaging struct {
	Work   workdir.Dir
	Recipe string // recipe name, "host:" prefixed for host builds
	Target string // target triple the stage was built for
	// Version is the guessed version ("TODO" if unknown); Meta packages
	// have none.
	Version string
	// Depends are the recipe's [package] dependencies.
	Depends  []string
	Optional []Optional
	// Meta marks a recipe without a build (template none): it gets only a
	// stage.toml listing Depends, no archive and no auto_deps.toml.
	Meta bool
	// Source is the recipe's source identity (nil when it has none).
	Source *fetch.Info
	// Key signs the packages (see pkgar.EnsureKeys).
	Key *pkgar.SecretKey
	// Compress writes LZMA2 packages (upstream's COOKBOOK_COMPRESSED).
	Compress bool
	// AutoDeps, when non-nil, is used as the runtime dependencies as is
	// (for example a remote package's depends); otherwise they are
	// detected from the staged ELF files with Providers, Direct and
	// StaticRuntime (see AutoDepsInput).
	AutoDeps      []string
	Providers     []Provider
	Direct        []string
	StaticRuntime map[string][]string
}

// Result lists what PackageRecipe wrote.
type Result struct {
	// Packages are the metadata written, optional packages first and the
	// main package last.
	Packages []*Package
	// Archives are the package files, in the same order ("" for a meta
	// package).
	Archives []string
	// AutoDeps is the detection result (nil when Build.AutoDeps was given
	// or for a meta package).
	AutoDeps *AutoDepsResult
}

// PackageRecipe packages a built recipe as the cookbook's last build step:
// it detects runtime dependencies and writes auto_deps.toml, then for each
// optional package and finally the main package a signed archive
// (stage[.<opt>].pkgar) and its metadata (stage[.<opt>].toml). Every file is
// written under a temporary name and renamed into place.
func PackageRecipe(ctx context.Context, b Packaging) (*Result, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	w, T := b.Work, b.Target
	name := strings.TrimPrefix(b.Recipe, "host:")
	res := &Result{}
	if b.Meta {
		p := &Package{Name: name, Target: T, Depends: dedupe(b.Depends)}
		fillSource(p, b.Source)
		if err := WritePackage(w.StageToml(b.Recipe, T, ""), p); err != nil {
			return nil, err
		}
		res.Packages = []*Package{p}
		res.Archives = []string{""}
		return res, nil
	}

	auto := b.AutoDeps
	if auto == nil {
		stages := []string{w.Stage(b.Recipe, T, "")}
		for _, o := range b.Optional {
			stages = append(stages, w.Stage(b.Recipe, T, o.Name))
		}
		ad, err := AutoDeps(ctx, AutoDepsInput{
			Stages: stages, Providers: b.Providers, Key: b.Key.Public(),
			Direct: b.Direct, StaticRuntime: b.StaticRuntime,
		})
		if err != nil {
			return nil, fmt.Errorf("%s: runtime dependencies: %w", b.Recipe, err)
		}
		res.AutoDeps = ad
		auto = ad.Packages
	}
	if err := WriteAutoDeps(w.AutoDeps(b.Recipe, T), auto); err != nil {
		return nil, err
	}

	var opts []pkgar.CreateOption
	if b.Compress {
		opts = append(opts, pkgar.WithPackaging(pkgar.LZMA2))
	}
	one := func(opt string, depends []string) error {
		stage := w.Stage(b.Recipe, T, opt)
		archive := w.Pkgar(b.Recipe, T, opt)
		info, err := pkgar.Create(ctx, archive, stage, b.Key, opts...)
		if err != nil {
			return fmt.Errorf("%s: %w", b.Recipe, err)
		}
		p := &Package{
			Name:        name,
			Version:     b.Version,
			Target:      T,
			Blake3:      info.Header.Blake3.String(),
			StorageSize: uint64(info.StorageSize),
			NetworkSize: uint64(info.Size),
			Depends:     depends,
		}
		if opt != "" {
			p.Name = name + "." + opt
		}
		fillSource(p, b.Source)
		if err := WritePackage(w.StageToml(b.Recipe, T, opt), p); err != nil {
			return err
		}
		res.Packages = append(res.Packages, p)
		res.Archives = append(res.Archives, archive)
		return nil
	}
	for _, o := range b.Optional {
		var deps []string
		for _, d := range o.Depends {
			if strings.HasPrefix(d, ".") {
				d = name + d
			}
			deps = append(deps, d)
		}
		deps = append(deps, name)
		if err := one(o.Name, dedupe(deps)); err != nil {
			return nil, err
		}
	}
	if err := one("", dedupe(append(slices.Clone(b.Depends), auto...))); err != nil {
		return nil, err
	}
	return res, nil
}

func (b *Packaging) check() error {
	var errs []error
	if b.Work.Root == "" {
		errs = append(errs, errors.New("no work directory"))
	}
	if _, _, _, err := PackageName(b.Recipe); err != nil || strings.Contains(b.Recipe, ".") {
		errs = append(errs, fmt.Errorf("recipe name %q is not valid", b.Recipe))
	}
	if b.Target == "" {
		errs = append(errs, errors.New("no target"))
	}
	if b.Key == nil && !b.Meta {
		errs = append(errs, errors.New("no signing key"))
	}
	for _, o := range b.Optional {
		if o.Name == "" || strings.ContainsAny(o.Name, "./:\x00") {
			errs = append(errs, fmt.Errorf("optional package name %q is not valid", o.Name))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("packaging %s: %w", b.Recipe, errors.Join(errs...))
	}
	if !b.Meta {
		if st, err := os.Stat(b.Work.Stage(b.Recipe, b.Target, "")); err != nil || !st.IsDir() {
			return fmt.Errorf("packaging %s: no stage directory %s", b.Recipe, b.Work.Stage(b.Recipe, b.Target, ""))
		}
	}
	return nil
}

// fillSource records the source identity in a package's metadata.
func fillSource(p *Package, s *fetch.Info) {
	if s == nil {
		return
	}
	p.SourceIdentifier = s.SourceIdentifier
	p.CommitIdentifier = s.CommitIdentifier
	p.TimeIdentifier = s.TimeIdentifier
}

// dedupe removes repeated names, keeping the first of each.
func dedupe(names []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Outputs lists the files PackageRecipe writes for a recipe: auto_deps.toml,
// then stage.<opt>.pkgar and stage.<opt>.toml for each optional package, then
// stage.pkgar and stage.toml (only stage.toml for a meta package). The
// build stage can treat a recipe as packaged when all of them exist.
func Outputs(work workdir.Dir, recipe, target string, optional []string, meta bool) []string {
	if meta {
		return []string{work.StageToml(recipe, target, "")}
	}
	out := []string{work.AutoDeps(recipe, target)}
	for _, o := range append(slices.Clone(optional), "") {
		out = append(out, work.Pkgar(recipe, target, o), work.StageToml(recipe, target, o))
	}
	return out
}

// Packaged reports whether every file Outputs lists exists.
func Packaged(work workdir.Dir, recipe, target string, optional []string, meta bool) bool {
	for _, p := range Outputs(work, recipe, target, optional, meta) {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}
