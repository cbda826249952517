package repo

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/redox-cook/cook/pkgar"
)

// elfDirs are the stage directories searched for ELF files whose DT_NEEDED
// entries make runtime dependencies (as upstream's cookbook does).
var elfDirs = []string{"usr/bin", "usr/games", "usr/lib", "usr/libexec"}

// alwaysInstalled are libraries upstream reports as part of every system;
// a build dependency that ships them still counts as providing them.
var alwaysInstalled = map[string]bool{"libc.so.6": true, "libgcc_s.so.1": true, "libstdc++.so.6": true}

// NeededLibraries returns the sorted, distinct DT_NEEDED sonames of the
// regular ELF files under usr/bin, usr/games, usr/lib and usr/libexec of
// each stage directory. Files that are not ELF, or not dynamically linked,
// are skipped; symlinks are not followed.
func NeededLibraries(ctx context.Context, stageDirs ...string) ([]string, error) {
	seen := map[string]bool{}
	for _, stage := range stageDirs {
		for _, d := range elfDirs {
			root := filepath.Join(stage, filepath.FromSlash(d))
			err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
				if err != nil {
					if p == root && notExist(err) {
						return fs.SkipDir
					}
					return err
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				if !de.Type().IsRegular() {
					return nil
				}
				libs, err := neededOf(p)
				if err != nil {
					return err
				}
				for _, l := range libs {
					seen[l] = true
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("scanning %s for ELF files: %w", root, err)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for l := range seen {
		out = append(out, l)
	}
	slices.Sort(out)
	return out, nil
}

// neededOf returns the DT_NEEDED entries of the ELF file at p, or nothing
// if p is not an ELF file or cannot be parsed as one.
func neededOf(p string) ([]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || !bytes.Equal(magic[:], []byte(elf.ELFMAG)) {
		return nil, nil
	}
	ef, err := elf.NewFile(&budgetReaderAt{r: f, left: maxELFRead})
	if err != nil {
		return nil, nil // malformed ELF: skipped, like any non-ELF file
	}
	libs, err := ef.ImportedLibraries()
	if err != nil {
		return nil, nil
	}
	return libs, nil
}

// maxELFRead bounds what neededOf reads of one file: the headers, the
// section names, .dynamic and .dynstr, a few KiB to a few MiB in real
// binaries. A built file's section header could say a TiB, which
// debug/elf would read (a sparse file costs its maker nothing).
const maxELFRead = 64 << 20

// budgetReaderAt fails reads once left bytes have been read.
type budgetReaderAt struct {
	r    io.ReaderAt
	left int64
}

var errELFTooLarge = errors.New("ELF metadata larger than any real binary's")

func (b *budgetReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if int64(len(p)) > b.left {
		return 0, errELFTooLarge
	}
	b.left -= int64(len(p))
	return b.r.ReadAt(p, off)
}

// Provider is a package that may provide shared libraries: a build
// dependency, given by its package archive (whose verified entry table is
// read) or, if Pkgar is empty, by its stage directory.
type Provider struct {
	Name  string // package name, as it goes into depends
	Pkgar string // path of its .pkgar (or .pkgar_head)
	Stage string // path of its stage directory, when there is no Pkgar
}

// provides reports which of libs p ships as lib/<soname> or
// usr/lib/<soname>.
func (p Provider) provides(libs []string, key pkgar.PublicKey) ([]string, error) {
	var have func(string) bool
	switch {
	case p.Pkgar != "":
		f, err := pkgar.Open(p.Pkgar, key)
		if err != nil {
			return nil, fmt.Errorf("dependency %s: %w", p.Name, err)
		}
		defer f.Close()
		files := map[string]bool{}
		for _, e := range f.Entries {
			if rest, ok := strings.CutPrefix(e.Path, "lib/"); ok {
				files[rest] = true
			} else if rest, ok := strings.CutPrefix(e.Path, "usr/lib/"); ok {
				files[rest] = true
			}
		}
		have = func(l string) bool { return files[l] }
	case p.Stage != "":
		have = func(l string) bool {
			for _, d := range []string{"lib", "usr/lib"} {
				fi, err := os.Lstat(filepath.Join(p.Stage, d, l))
				if err == nil && !fi.IsDir() {
					return true
				}
			}
			return false
		}
	default:
		return nil, fmt.Errorf("dependency %s: neither a package archive nor a stage directory given", p.Name)
	}
	var out []string
	for _, l := range libs {
		if !strings.Contains(l, "/") && have(l) {
			out = append(out, l)
		}
	}
	return out, nil
}

// AutoDepsInput is what runtime dependency detection needs.
type AutoDepsInput struct {
	// Stages are the recipe's stage directories (main and optional).
	Stages []string
	// Providers are all target build dependencies: the transitive closure
	// of build dependencies plus direct dev-dependencies.
	Providers []Provider
	// Key verifies the providers' package archives.
	Key pkgar.PublicKey
	// Direct are the recipe's direct build dependencies.
	Direct []string
	// StaticRuntime gives, for a direct build dependency, its runtime
	// package closure (its [package] dependencies, recursively). A direct
	// dependency that provides none of the needed libraries is taken to be
	// linked statically, and its runtime closure is added instead.
	StaticRuntime map[string][]string
}

// AutoDepsResult is the outcome of AutoDeps.
type AutoDepsResult struct {
	Packages []string            // sorted, distinct: auto_deps.toml's packages
	Needed   []string            // every DT_NEEDED soname found
	Provided map[string][]string // package → sonames it provides
	Missing  []string            // needed sonames no provider ships (libc.so.6 and friends are normal here)
}

// AutoDeps computes a recipe's automatic runtime dependencies (upstream
// cookbook §4.6): the providers that ship a needed library, plus the
// runtime closure of each direct build dependency that ships none.
func AutoDeps(ctx context.Context, in AutoDepsInput) (*AutoDepsResult, error) {
	needed, err := NeededLibraries(ctx, in.Stages...)
	if err != nil {
		return nil, err
	}
	res := &AutoDepsResult{Needed: needed, Provided: map[string][]string{}}
	set := map[string]bool{}
	found := map[string]bool{}
	if len(needed) > 0 {
		for _, p := range in.Providers {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			libs, err := p.provides(needed, in.Key)
			if err != nil {
				return nil, err
			}
			if len(libs) > 0 {
				res.Provided[p.Name] = libs
				set[p.Name] = true
				for _, l := range libs {
					found[l] = true
				}
			}
		}
	}
	for _, l := range needed {
		if !found[l] {
			res.Missing = append(res.Missing, l)
		}
	}
	for _, d := range in.Direct {
		if !set[d] {
			for _, r := range in.StaticRuntime[d] {
				set[r] = true
			}
		}
	}
	for p := range set {
		res.Packages = append(res.Packages, p)
	}
	slices.Sort(res.Packages)
	if res.Packages == nil {
		res.Packages = []string{}
	}
	return res, nil
}
