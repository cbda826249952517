package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/repo"
	"github.com/redox-cook/cook/workdir"
)

// Packages is where an image's packages come from.
type Packages interface {
	// Package returns a package's metadata; an error wrapping
	// ErrMissingPackage when the repository has no such package.
	Package(name string) (*repo.Package, error)
	// Open opens a package's archive, its head verified against the
	// repository's key.
	Open(name string) (*pkgar.File, error)
	// PublicKey is the key the packages are signed with.
	PublicKey() pkgar.PublicKey
	// BuildID is the repository's build_id ("" when unknown).
	BuildID() string
}

// ErrMissingPackage is wrapped by errors about packages the repository
// does not have.
var ErrMissingPackage = errors.New("package not in the repository")

// MissingPackageError names a package the repository lacks and who asked for it.
type MissingPackageError struct {
	Name string
	By   string // the package that depends on it, "" when the config names it
	Repo string
}

func (e *MissingPackageError) Error() string {
	by := "the filesystem config"
	if e.By != "" {
		by = "package " + e.By
	}
	return fmt.Sprintf("package %s (needed by %s) is not in the repository %s: build it with `cook build %s`", e.Name, by, e.Repo, recipeOf(e.Name))
}

func (e *MissingPackageError) Unwrap() error { return ErrMissingPackage }

// recipeOf maps a package name to its recipe (drops an optional-package suffix).
func recipeOf(name string) string {
	if _, r, _, err := repo.PackageName(name); err == nil && r != "" {
		return r
	}
	return name
}

// RepoDir is a published repository, <work>/repo/<target>, as package repo
// writes it.
type RepoDir struct {
	Dir string
	Key pkgar.PublicKey
	idx *repo.Repository
}

// OpenRepo opens the repository in dir, trusting the public key file keyFile.
func OpenRepo(dir, keyFile string) (*RepoDir, error) {
	key, err := pkgar.LoadPublicKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("repository key: %w", err)
	}
	r := &RepoDir{Dir: dir, Key: key}
	idx, err := repo.ReadRepository(filepath.Join(dir, "repo.toml"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("repository %s: %w", dir, err)
	}
	r.idx = idx
	return r, nil
}

// Package implements Packages.
func (r *RepoDir) Package(name string) (*repo.Package, error) {
	if err := workdir.CheckName(name); err != nil {
		return nil, fmt.Errorf("package %w", err)
	}
	p, err := repo.ReadPackage(filepath.Join(r.Dir, name+".toml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &MissingPackageError{Name: name, Repo: r.Dir}
	}
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", name, err)
	}
	return p, nil
}

// Open implements Packages.
func (r *RepoDir) Open(name string) (*pkgar.File, error) {
	if err := workdir.CheckName(name); err != nil {
		return nil, fmt.Errorf("package %w", err)
	}
	p := filepath.Join(r.Dir, name+".pkgar")
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, &MissingPackageError{Name: name, Repo: r.Dir}
	}
	f, err := pkgar.Open(p, r.Key)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", name, err)
	}
	return f, nil
}

// PublicKey implements Packages.
func (r *RepoDir) PublicKey() pkgar.PublicKey { return r.Key }

// BuildID implements Packages.
func (r *RepoDir) BuildID() string {
	if r.idx == nil {
		return ""
	}
	return r.idx.BuildID
}

// resolved is one package to install.
type resolved struct {
	Name   string
	Meta   *repo.Package
	Manual bool // named by the config
}

// resolvePackages expands names over their runtime dependencies as
// upstream's library does (sorted, depth-limited), skipping packages the
// config ignores. The result is sorted by name.
func resolvePackages(src Packages, cfg *Config, names []string) ([]resolved, error) {
	seen := map[string]*resolved{}
	var errs []error
	var visit func(name, by string, depth int)
	visit = func(name, by string, depth int) {
		if cfg.Ignored(name) {
			return
		}
		if _, ok := seen[name]; ok {
			return
		}
		if depth > 100 {
			errs = append(errs, fmt.Errorf("package %s: dependencies nested deeper than 100", name))
			return
		}
		m, err := src.Package(name)
		if err != nil {
			var me *MissingPackageError
			if errors.As(err, &me) {
				me.By = by
			}
			errs = append(errs, err)
			return
		}
		seen[name] = &resolved{Name: name, Meta: m}
		deps := append([]string(nil), m.Depends...)
		sort.Strings(deps)
		for _, d := range deps {
			if prefix, _, _, err := repo.PackageName(d); err != nil || prefix != "" {
				continue // host: and target: tools are not installed
			}
			visit(d, name, depth+1)
		}
	}
	for _, n := range names {
		visit(n, "", 0)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	manual := map[string]bool{}
	for _, n := range names {
		manual[n] = true
	}
	out := make([]resolved, 0, len(seen))
	for _, r := range seen {
		r.Manual = manual[r.Name]
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
