package cookbook

import (
	"fmt"
	"strings"
)

// PackageName is a dependency reference as upstream's pkg::PackageName parses
// it: an optional "host:" or "target:" prefix, a recipe name and an optional
// ".suffix" naming one optional package of that recipe.
type PackageName struct {
	Prefix Prefix
	Name   string // the recipe name; "" only for ".suffix" sibling references
	Suffix string // optional-package name, "" for the main package
}

// Prefix is a PackageName's host:/target: qualifier.
type Prefix uint8

const (
	NoPrefix     Prefix = iota
	HostPrefix          // "host:": the recipe built for the build machine
	TargetPrefix        // "target:": for the target, dropped when the dependent is built as host:
)

// ParsePackageName parses s with upstream's rules: non-empty, no '/' or NUL,
// at most one '.', at most one ':' and only as a host: or target: prefix.
func ParsePackageName(s string) (PackageName, error) {
	var p PackageName
	if s == "" {
		return p, fmt.Errorf("package name %q invalid: empty", s)
	}
	if strings.ContainsAny(s, "/\x00") {
		return p, fmt.Errorf("package name %q invalid: contains '/' or NUL", s)
	}
	if strings.Count(s, ".") > 1 {
		return p, fmt.Errorf("package name %q invalid: more than one '.'", s)
	}
	rest := s
	switch {
	case strings.HasPrefix(rest, "host:"):
		p.Prefix, rest = HostPrefix, rest[len("host:"):]
	case strings.HasPrefix(rest, "target:"):
		p.Prefix, rest = TargetPrefix, rest[len("target:"):]
	}
	if strings.Contains(rest, ":") {
		return p, fmt.Errorf("package name %q invalid: ':' is allowed only in a host: or target: prefix", s)
	}
	p.Name, p.Suffix, _ = strings.Cut(rest, ".")
	if p.Name == "" && p.Suffix == "" {
		return p, fmt.Errorf("package name %q invalid: empty", s)
	}
	return p, nil
}

// String gives the name back in upstream's spelling.
func (p PackageName) String() string {
	var b strings.Builder
	switch p.Prefix {
	case HostPrefix:
		b.WriteString("host:")
	case TargetPrefix:
		b.WriteString("target:")
	}
	b.WriteString(p.Name)
	if p.Suffix != "" {
		b.WriteByte('.')
		b.WriteString(p.Suffix)
	}
	return b.String()
}

// ValidRecipeName reports whether a directory name can name a recipe: a valid
// package name with no prefix and no suffix.
func ValidRecipeName(s string) bool {
	p, err := ParsePackageName(s)
	return err == nil && p.Prefix == NoPrefix && p.Suffix == "" && p.Name == s
}

// MarshalText writes the name in upstream's spelling (for JSON and TOML).
func (p PackageName) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText parses a name with ParsePackageName.
func (p *PackageName) UnmarshalText(b []byte) error {
	n, err := ParsePackageName(string(b))
	*p = n
	return err
}
