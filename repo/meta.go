// Package repo turns a recipe's staged trees into signed packages with their metadata, detects runtime dependencies from staged ELF files, and publishes built packages into the work directory's repository.
package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/internal/fsutil"
)

// Package is a package's metadata: a stage.toml, and in a repository
// <name>.toml. Empty strings and zero sizes are left out when written, as
// upstream's pkg::Package does; depends is always written.
type Package struct {
	Name             string   `toml:"name"`
	Version          string   `toml:"version,omitempty"`
	Target           string   `toml:"target"`
	Blake3           string   `toml:"blake3,omitempty"` // hex of the pkgar header's entry-table hash
	SourceIdentifier string   `toml:"source_identifier,omitempty"`
	CommitIdentifier string   `toml:"commit_identifier,omitempty"`
	TimeIdentifier   string   `toml:"time_identifier,omitempty"`
	StorageSize      uint64   `toml:"storage_size,omitzero"`
	NetworkSize      uint64   `toml:"network_size,omitzero"`
	Depends          []string `toml:"depends"`
}

// Marshal returns p as TOML.
func (p *Package) Marshal() ([]byte, error) {
	q := *p
	if q.Depends == nil {
		q.Depends = []string{}
	}
	return encode(&q)
}

// ReadPackage reads a stage.toml or a repository <name>.toml.
func ReadPackage(path string) (*Package, error) {
	var p Package
	if err := decodeFile(path, &p); err != nil {
		return nil, err
	}
	if p.Name == "" {
		return nil, fmt.Errorf("%s: no package name", path)
	}
	return &p, nil
}

// WritePackage writes p to path (temp then rename).
func WritePackage(path string, p *Package) error {
	data, err := p.Marshal()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, data, 0o644)
}

// autoDepsFile is auto_deps.toml.
type autoDepsFile struct {
	Packages []string `toml:"packages"`
}

// ReadAutoDeps reads an auto_deps.toml.
func ReadAutoDeps(path string) ([]string, error) {
	var f autoDepsFile
	if err := decodeFile(path, &f); err != nil {
		return nil, err
	}
	return f.Packages, nil
}

// WriteAutoDeps writes an auto_deps.toml (temp then rename).
func WriteAutoDeps(path string, pkgs []string) error {
	f := autoDepsFile{Packages: pkgs}
	if f.Packages == nil {
		f.Packages = []string{}
	}
	data, err := encode(&f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, data, 0o644)
}

// Repository is a repository index, repo.toml.
type Repository struct {
	// BuildID identifies the build that published the repository (the
	// installer shows it in os-release).
	BuildID string `toml:"build_id,omitempty"`
	// Packages maps each published package to its blake3 (or its version
	// when it has no archive).
	Packages map[string]string `toml:"packages"`
	// OutdatedPackages lists packages that were asked for but not built,
	// with the source identity they had when they first went missing.
	OutdatedPackages map[string]fetch.Info `toml:"outdated_packages"`
}

// ReadRepository reads a repo.toml.
func ReadRepository(path string) (*Repository, error) {
	var r Repository
	if err := decodeFile(path, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Marshal returns r as TOML.
func (r *Repository) Marshal() ([]byte, error) {
	q := *r
	if q.Packages == nil {
		q.Packages = map[string]string{}
	}
	if q.OutdatedPackages == nil {
		q.OutdatedPackages = map[string]fetch.Info{}
	}
	return encode(&q)
}

func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// decodeFile decodes the TOML file at path into v. Unknown keys are
// ignored, as upstream's serde structs ignore them.
func decodeFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if _, err := toml.Decode(string(data), v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// PackageName splits a package name: "host:foo.bar" → host "host", recipe
// "foo", optional package "bar". Names with a "/" or NUL, empty names and
// more than one "." are refused, as upstream does.
func PackageName(name string) (prefix, recipe, opt string, err error) {
	rest := name
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		prefix, rest = rest[:i], rest[i+1:]
		if prefix != "host" && prefix != "target" {
			return "", "", "", fmt.Errorf("package name %q: unknown prefix %q", name, prefix)
		}
	}
	if rest == "" || strings.ContainsAny(rest, "/\x00:") || strings.Count(rest, ".") > 1 {
		return "", "", "", fmt.Errorf("package name %q is not valid", name)
	}
	recipe, opt, _ = strings.Cut(rest, ".")
	if recipe == "" {
		return "", "", "", fmt.Errorf("package name %q has no recipe part", name)
	}
	return prefix, recipe, opt, nil
}

func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
