// Package cargohome prepares what cargo reads from its home directory for an offline build: a config.toml whose source replacement points the sources a Cargo.lock names at one local directory, and that directory.
package cargohome

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/redox-cook/cook/internal/fsutil"
)

// CratesIO is how Cargo.lock names the crates.io registry.
const CratesIO = "registry+https://github.com/rust-lang/crates.io-index"

// Source is one non-path package source a Cargo.lock names, as cargo
// identifies it for source replacement.
type Source struct {
	// Kind is "git", "registry" (a git index) or "sparse" (a sparse index).
	Kind string
	// URL is the repository or index URL, decoded, without query or fragment.
	URL string
	// RefKind is "branch", "tag", "rev" or "" (the default branch); git only.
	RefKind string
	// Ref is the branch, tag or revision the manifest asked for; git only.
	Ref string
}

// ID is the source as cargo spells it (without a lock's #commit): the name
// of its [source."..."] table.
func (s Source) ID() string {
	id := s.Kind + "+" + s.URL
	if s.RefKind != "" {
		id += "?" + s.RefKind + "=" + url.QueryEscape(s.Ref)
	}
	return id
}

// IsCratesIO reports the crates.io registry, which the [source.crates-io]
// entry replaces.
func (s Source) IsCratesIO() bool {
	return s.Kind == "registry" && s.URL == "https://github.com/rust-lang/crates.io-index" ||
		s.Kind == "sparse" && strings.TrimSuffix(s.URL, "/") == "https://index.crates.io"
}

// ErrBadLock marks a Cargo.lock cook cannot read.
var ErrBadLock = errors.New("bad Cargo.lock")

type lockFile struct {
	Package []struct {
		Name    string `toml:"name"`
		Version string `toml:"version"`
		Source  string `toml:"source"`
	} `toml:"package"`
}

// ParseLock returns the sources of the packages data (a Cargo.lock) names,
// sorted by ID and unique; path sources (no source key) are left out. path
// is used in messages.
func ParseLock(path string, data []byte) ([]Source, error) {
	var lf lockFile
	if _, err := toml.Decode(string(data), &lf); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w: %s:%d: %s", ErrBadLock, path, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrBadLock, path, err)
	}
	seen := map[string]bool{}
	var out []Source
	for i, p := range lf.Package {
		if p.Source == "" {
			continue
		}
		s, err := parseSource(p.Source)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: package %d (%s %s): %v", ErrBadLock, path, i+1, p.Name, p.Version, err)
		}
		if !seen[s.ID()] {
			seen[s.ID()] = true
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out, nil
}

// parseSource reads one lock source: "git+URL?branch=B#commit",
// "registry+URL", "sparse+URL".
func parseSource(src string) (Source, error) {
	kind, rest, ok := strings.Cut(src, "+")
	if !ok {
		return Source{}, fmt.Errorf("source %q: want KIND+URL", src)
	}
	switch kind {
	case "git", "registry", "sparse":
	default:
		return Source{}, fmt.Errorf("source %q: unknown kind %q", src, kind)
	}
	if kind == "git" {
		rest, _, _ = strings.Cut(rest, "#") // the locked commit
	}
	u, query, _ := strings.Cut(rest, "?")
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme == "" || parsed.Host == "" && parsed.Scheme != "file" {
		return Source{}, fmt.Errorf("source %q: %q is not an absolute URL", src, u)
	}
	s := Source{Kind: kind, URL: u}
	if query == "" {
		return s, nil
	}
	if kind != "git" {
		return Source{}, fmt.Errorf("source %q: a registry source has no query", src)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return Source{}, fmt.Errorf("source %q: %v", src, err)
	}
	for _, k := range []string{"branch", "tag", "rev"} {
		if v, ok := q[k]; ok {
			if s.RefKind != "" || len(v) != 1 || v[0] == "" {
				return Source{}, fmt.Errorf("source %q: want one of branch=, tag= or rev=", src)
			}
			s.RefKind, s.Ref = k, v[0]
		}
	}
	if s.RefKind == "" || len(q) != 1 {
		return Source{}, fmt.Errorf("source %q: unknown query %q", src, query)
	}
	return s, nil
}

// lockDepth bounds how deep FindLocks looks below a source directory.
const lockDepth = 4

// FindLocks lists the Cargo.lock files in dir and its subdirectories (a
// few levels deep, skipping .git, target and hidden directories), sorted.
func FindLocks(ctx context.Context, dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // an unreadable subdirectory holds no lock cook can use
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p == dir {
				return nil
			}
			name := d.Name()
			if strings.HasPrefix(name, ".") || name == "target" || name == "node_modules" ||
				strings.Count(strings.TrimPrefix(p, dir), string(filepath.Separator)) > lockDepth {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "Cargo.lock" && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// maxLockSize bounds a Cargo.lock: the largest real ones are a few hundred KiB.
const maxLockSize = 64 << 20

// LockSources reads every lock in paths and returns the union of their
// sources, sorted by ID.
func LockSources(paths []string) ([]Source, error) {
	seen := map[string]bool{}
	var out []Source
	for _, p := range paths {
		data, _, err := fsutil.ReadRegular(p, maxLockSize)
		if err != nil {
			return nil, err
		}
		srcs, err := ParseLock(p, data)
		if err != nil {
			return nil, err
		}
		for _, s := range srcs {
			if !seen[s.ID()] {
				seen[s.ID()] = true
				out = append(out, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out, nil
}
