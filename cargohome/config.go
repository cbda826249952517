package cargohome

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/redox-cook/cook/internal/fsutil"
)

// VendorName names the directory source that replaces the others.
const VendorName = "cook-vendor"

// RegistryName names the source that replaces crates.io with a registry.
const RegistryName = "cook"

// Config is what cook writes to a cargo home's config.toml: the source
// replacement that points crates.io, alternative registries and every git
// source a recipe's Cargo.lock names at one local directory source (see
// Union for when that directory must be the union of several: a `cargo
// vendor` directory and the standard library's own vendored crates, which
// -Zbuild-std resolves through the same replacement).
type Config struct {
	// Vendor is a directory source ("cargo vendor" layout) that replaces
	// crates.io and every source in Sources: nothing is downloaded.
	Vendor string
	// Registry, when Vendor is empty, replaces crates.io: a local directory
	// registry (such as Debian's /usr/share/cargo/registry) or an index URL.
	Registry string
	// Sources are the sources the recipe's Cargo.lock files name; with a
	// Vendor each git and non-crates.io registry source is replaced too.
	Sources []Source
	// Offline sets net.offline (implied by Vendor).
	Offline bool
}

// ErrConflict is returned for settings that cannot be combined.
var ErrConflict = errors.New("conflicting cargo settings")

// Render returns the config.toml text: deterministic for equal configs.
func (c Config) Render() ([]byte, error) {
	if c.Vendor != "" && c.Registry != "" {
		return nil, fmt.Errorf("%w: a vendor directory (%s) and a registry (%s) both replace crates.io; set one", ErrConflict, c.Vendor, c.Registry)
	}
	var b bytes.Buffer
	b.WriteString("# written by cook: source replacement for this build (docs/toolchains.md)\n")
	if c.Offline || c.Vendor != "" {
		b.WriteString("\n[net]\noffline = true\n")
	}
	switch {
	case c.Vendor != "":
		fmt.Fprintf(&b, "\n[source.crates-io]\nreplace-with = %s\n", quote(VendorName))
		for _, s := range c.Sources {
			if s.IsCratesIO() {
				continue
			}
			fmt.Fprintf(&b, "\n[source.%s]\n", quote(s.ID()))
			switch s.Kind {
			case "git":
				fmt.Fprintf(&b, "git = %s\n", quote(s.URL))
				if s.RefKind != "" {
					fmt.Fprintf(&b, "%s = %s\n", s.RefKind, quote(s.Ref))
				}
			case "registry":
				fmt.Fprintf(&b, "registry = %s\n", quote(s.URL))
			case "sparse":
				fmt.Fprintf(&b, "registry = %s\n", quote("sparse+"+s.URL))
			}
			fmt.Fprintf(&b, "replace-with = %s\n", quote(VendorName))
		}
		fmt.Fprintf(&b, "\n[source.%s]\ndirectory = %s\n", quote(VendorName), quote(c.Vendor))
	case c.Registry != "":
		fmt.Fprintf(&b, "\n[source.crates-io]\nreplace-with = %s\n\n[source.%s]\n", quote(RegistryName), quote(RegistryName))
		if strings.Contains(c.Registry, "://") {
			fmt.Fprintf(&b, "registry = %s\n", quote(c.Registry))
		} else {
			fmt.Fprintf(&b, "directory = %s\n", quote(c.Registry))
		}
	}
	return b.Bytes(), nil
}

// quote is a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Write makes home (creating it) hold c as config.toml, replacing the file
// atomically and only when its text changes.
func Write(home string, c Config) error {
	text, err := c.Render()
	if err != nil {
		return err
	}
	p := filepath.Join(home, "config.toml")
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, text) {
		return nil
	}
	if err := fsutil.WriteFileAtomic(p, text, 0o644); err != nil {
		return fmt.Errorf("cargo home: %w", err)
	}
	return nil
}
