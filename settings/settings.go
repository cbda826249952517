// Package settings reads cook.toml, cook's own configuration file: defaults for
// the global flags, mirror rules and per-feature sections that later stages
// read (cargo source replacement, network opt-ins, the shared cache).
package settings

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Settings is the content of cook.toml. Every field is optional.
type Settings struct {
	// Path is the file the settings were read from ("" for defaults).
	Path string `toml:"-"`

	Target  string `toml:"target"`
	Work    string `toml:"work"`
	Jobs    int    `toml:"jobs"`
	Offline bool   `toml:"offline"`

	// Mirrors maps a URL prefix to its replacement prefix.
	Mirrors map[string]string `toml:"mirrors"`

	Cargo     Cargo     `toml:"cargo"`
	Network   Network   `toml:"network"`
	Cache     Cache     `toml:"cache"`
	Toolchain Toolchain `toml:"toolchain"`
}

// Cargo configures how cargo dependencies are fetched.
type Cargo struct {
	// Registry replaces crates.io: a local directory registry (for example
	// /usr/share/cargo/registry) or a registry index URL.
	Registry string `toml:"registry"`
	// Vendor is a `cargo vendor`-style directory holding every crate the
	// builds need: crates.io and the git sources of each recipe's
	// Cargo.lock are replaced with it, and nothing is downloaded.
	Vendor string `toml:"vendor"`
}

// Toolchain chooses the host programs of a bootstrapped Redox toolchain
// (cook toolchain bootstrap); empty fields take the defaults.
type Toolchain struct {
	Rustc    string `toml:"rustc"`
	Cargo    string `toml:"cargo"`
	Cbindgen string `toml:"cbindgen"`
}

// Network lists recipes allowed to use the network while they build. Such
// builds are reported as not hermetic.
type Network struct {
	Allow []string `toml:"allow"`
}

// Cache configures the shared action cache.
type Cache struct {
	Remote   string `toml:"remote"`
	ReadOnly bool   `toml:"read_only"`
}

// Load reads path. Errors name the file and, for syntax and type errors, the line.
func Load(path string) (*Settings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse reads settings from data; path is used in messages.
func Parse(path string, data []byte) (*Settings, error) {
	s := &Settings{Path: path}
	md, err := toml.Decode(string(data), s)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d:%d: %s", path, pe.Position.Line, pe.Position.Col, pe.Message)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("%s: unknown key(s): %s", path, strings.Join(keys, ", "))
	}
	for from, to := range s.Mirrors {
		if err := CheckMirror(from, to); err != nil {
			return nil, fmt.Errorf("%s: [mirrors]: %w", path, err)
		}
	}
	return s, nil
}

// CheckMirror validates one mirror rule.
func CheckMirror(from, to string) error {
	if from == "" {
		return errors.New("mirror rule with an empty prefix")
	}
	for _, p := range []string{"http://", "https://", "file://"} {
		if strings.HasPrefix(to, p) {
			return nil
		}
	}
	return fmt.Errorf("mirror %q → %q: the target must start with http://, https:// or file://", from, to)
}

// ParseMirror parses a --mirror FROM=TO flag value.
func ParseMirror(s string) (from, to string, err error) {
	from, to, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("--mirror %q: want FROM=TO", s)
	}
	return from, to, CheckMirror(from, to)
}
