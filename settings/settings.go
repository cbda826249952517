// Package settings reads cook.toml, cook's own configuration file, and resolves each global option from the command line, the environment, cook.toml and the defaults.
package settings

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/redox-cook/cook/internal/fsutil"
)

// Settings is the content of cook.toml: defaults for the global flags,
// mirror rules and per-feature sections that later stages read (cargo source
// replacement, network opt-ins, the shared cache). Every field is optional.
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
	Limits    Limits    `toml:"limits"`
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

// Limits bounds what untrusted inputs may take.
type Limits struct {
	// SourceSize is the most one source may take: bytes received for a
	// download, bytes an archive unpacks to (0: the fetch stage's
	// default, 16 GiB).
	SourceSize Size `toml:"source_size"`
}

// Size is a number of bytes, written in cook.toml as an integer or as a
// string with a unit: "16GiB", "500 MiB", "2 GB" (KiB, MiB, GiB, TiB are
// powers of 1024; kB, KB, MB, GB, TB powers of 1000).
type Size int64

var sizeUnits = map[string]float64{
	"": 1, "B": 1,
	"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40,
	"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}

// ParseSize reads a size: bytes, or a number with a unit (K, M, G, T and
// KiB, MiB, GiB, TiB are powers of 1024; kB, KB, MB, GB, TB of 1000).
func ParseSize(v string) (Size, error) {
	num := strings.TrimRight(strings.TrimSpace(v), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
	unit := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), num))
	mult, ok := sizeUnits[unit]
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !ok || err != nil || f < 0 || f*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size (want bytes, or a number with K, M, G, T, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", v)
	}
	return Size(f * mult), nil
}

// String is the size in binary units: "512 B", "1.5 GiB".
func (s Size) String() string {
	n := int64(s)
	switch {
	case n >= 1<<40:
		return fmt.Sprintf("%.1f TiB", float64(n)/(1<<40))
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// UnmarshalTOML reads an integer or a string with a unit.
func (s *Size) UnmarshalTOML(v any) error {
	var n Size
	switch v := v.(type) {
	case int64:
		n = Size(v)
	case string:
		var err error
		if n, err = ParseSize(v); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%v is not a size (want bytes, or a string such as \"16GiB\")", v)
	}
	if n < 1 {
		return fmt.Errorf("%d bytes is not a usable size", n)
	}
	*s = n
	return nil
}

// maxSize bounds cook.toml: a few lines in practice.
const maxSize = 1 << 20

// Load reads path, a regular file of at most 1 MiB. Errors name the file and, for syntax and type errors, the line.
func Load(path string) (*Settings, error) {
	data, _, err := fsutil.ReadRegular(path, maxSize)
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
