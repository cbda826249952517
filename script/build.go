// Package script generates the bash scripts cook runs for recipes, compatible with upstream's: a recipe's build script, the text a source script runs as, and the helper commands on a build's PATH.
package script

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/redox-cook/cook/cookbook"
)

//go:embed prescript.sh
var buildPrescript string

//go:embed postscript.sh
var buildPostscript string

// Version changes whenever the generated scripts change in a way that can
// change a build's output; it is part of every action key.
const Version = "cook-script-2"

// BuildPrescript is upstream's BUILD_PRESCRIPT (environment, flag arrays and
// the cookbook_* functions), line for line but for the differences listed
// in docs/recipe-format.md ("The build script").
func BuildPrescript() string { return buildPrescript }

// BuildPostscript is upstream's BUILD_POSTSCRIPT, unchanged: it tidies the
// stage.
func BuildPostscript() string { return buildPostscript }

// Generate returns the full build script of r: prescript, shared prescript,
// the template's text, postscript — each joined by a newline as upstream
// joins them. Template none has no script ("").
func Generate(r *cookbook.Recipe) string {
	body := Template(r)
	if r.Build.Template == cookbook.TemplateNone || r.Build.Template == cookbook.TemplateRemote {
		return ""
	}
	return buildPrescript + "\n" + SharedPrescript() + "\n" + body + "\n" + buildPostscript
}

// Template returns the text a recipe's template inserts between prelude and
// postlude (spec/cookbook.md §5.8), byte for byte as upstream's cook_build.rs
// formats it: a cargo recipe's flag block is followed by an empty line, the
// other templates end without a newline (the joining newline follows), and
// an empty flag list still gives a block with one empty line.
func Template(r *cookbook.Recipe) string {
	b := r.Build
	var s strings.Builder
	switch b.Template {
	case cookbook.TemplateCargo:
		s.WriteString("DYNAMIC_INIT\n")
		if b.ClearLocked {
			s.WriteString("COOKBOOK_CARGO_FLAGS=()\n")
		}
		s.WriteString(flags("COOKBOOK_CARGO_FLAGS", b.CargoFlags))
		path := b.CargoPath
		if path == "" {
			path = "."
		}
		fmt.Fprintf(&s, "\nCOOKBOOK_CARGO_PATH=%s ", path)
		if len(b.CargoPackages) == 0 && len(b.CargoExamples) == 0 {
			s.WriteString("cookbook_cargo\n")
			break
		}
		if len(b.CargoPackages) > 0 {
			fn := "cookbook_cargo_packages"
			if b.CargoPackagesPrefixed {
				fn = "cookbook_cargo_packages_prefixed"
			}
			s.WriteString(fn + " " + strings.Join(b.CargoPackages, " ") + "\n")
		}
		if len(b.CargoExamples) > 0 {
			s.WriteString("cookbook_cargo_examples " + strings.Join(b.CargoExamples, " ") + "\n")
		}
	case cookbook.TemplateConfigure:
		s.WriteString("DYNAMIC_INIT\n" + flags("COOKBOOK_CONFIGURE_FLAGS", b.ConfigureFlags) + "cookbook_configure")
	case cookbook.TemplateCMake:
		s.WriteString("DYNAMIC_INIT\n" + flags("COOKBOOK_CMAKE_FLAGS", b.CMakeFlags) + "cookbook_cmake")
	case cookbook.TemplateMeson:
		s.WriteString("DYNAMIC_INIT\n" + flags("COOKBOOK_MESON_FLAGS", b.MesonFlags) + "cookbook_meson")
	case cookbook.TemplatePython:
		s.WriteString("DYNAMIC_INIT\n")
		if b.LegacySetup {
			s.WriteString("COOKBOOK_PYTHON_LEGACY_SETUP=1\n")
		}
		if b.PyProjectPath != "" {
			fmt.Fprintf(&s, "COOKBOOK_PYTHON_PYPROJECT_PATH=%s\n", b.PyProjectPath)
		}
		s.WriteString(flags("COOKBOOK_PYTHON_PIP_FLAGS", b.PipFlags) + "cookbook_python")
	case cookbook.TemplateCustom:
		s.WriteString(b.Script)
	}
	return s.String()
}

// flags renders upstream's flags_fn: NAME+=( then one `  "flag"` line per
// flag, then ). Each flag is in double quotes without escaping, so $VAR,
// ${...} and backticks in a recipe's flags expand, as upstream's recipes rely
// on. The block is written even for no flags (with one empty line).
func flags(name string, list []string) string {
	lines := make([]string, len(list))
	for i, f := range list {
		lines[i] = "  \"" + f + "\""
	}
	return name + "+=(\n" + strings.Join(lines, "\n") + "\n)\n"
}
