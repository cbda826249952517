package cookbook

import (
	"fmt"
	"strings"
)

// Field is one line of a recipe's summary: a key and its value.
type Field struct{ Key, Value string }

// Summary lists what r says, in the order of its file, leaving out what it
// leaves empty: source, build, package and optional packages.
func (r *Recipe) Summary() []Field {
	var out []Field
	kv := func(k, v string) {
		if v != "" {
			out = append(out, Field{k, v})
		}
	}
	list := func(k string, v []string) { kv(k, strings.Join(v, " ")) }
	names := func(ps []PackageName) []string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = p.String()
		}
		return s
	}
	lines := func(s string) int { return strings.Count(strings.TrimRight(s, "\n"), "\n") + 1 }
	kv("recipe", r.Name)
	kv("file", r.Path)
	if s := r.Source; s != nil {
		kv("source", string(s.Kind))
		kv("  same_as", s.SameAs)
		kv("  path", s.Path)
		kv("  git", s.Git)
		kv("  upstream", s.Upstream)
		kv("  branch", s.Branch)
		kv("  rev", s.Rev)
		if s.ShallowClone {
			kv("  shallow_clone", "true")
		}
		kv("  tar", s.Tar)
		kv("  blake3", s.Blake3)
		list("  patches", s.Patches)
		if s.Script != "" {
			kv("  script", fmt.Sprintf("%d line(s)", lines(s.Script)))
		}
	} else {
		kv("source", "none (uses whatever is in source/)")
	}
	b := r.Build
	kv("template", string(b.Template))
	list("dependencies", names(b.Dependencies))
	list("dev-dependencies", names(b.DevDependencies))
	kv("cargopath", b.CargoPath)
	list("cargoflags", b.CargoFlags)
	list("cargopackages", b.CargoPackages)
	list("cargoexamples", b.CargoExamples)
	list("configureflags", b.ConfigureFlags)
	list("cmakeflags", b.CMakeFlags)
	list("mesonflags", b.MesonFlags)
	kv("pyprojectpath", b.PyProjectPath)
	list("pipflags", b.PipFlags)
	if b.Script != "" {
		kv("script", fmt.Sprintf("%d line(s); see cook print-script %s", lines(b.Script), r.Name))
	}
	list("package deps", names(r.Package.Dependencies))
	kv("version", r.Package.Version)
	kv("description", r.Package.Description)
	for _, o := range r.OptionalPackages {
		kv("optional package", fmt.Sprintf("%s.%s: files %s; dependencies %s", r.Name, o.Name, strings.Join(o.Files, " "), strings.Join(names(o.Dependencies), " ")))
	}
	return out
}
