// Package script generates the bash scripts cook runs for recipes, compatible
// with upstream's: the build prescript (environment, flag arrays and the
// cookbook_* functions), the shared prescript also available to source
// scripts (DYNAMIC_INIT, autotools_recursive_regenerate, GNU_CONFIG_GET),
// the text each template inserts, and the postscript that tidies the stage.
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
const Version = "cook-script-1"

// BuildPrescript is upstream's BUILD_PRESCRIPT equivalent.
func BuildPrescript() string { return buildPrescript }

// BuildPostscript is upstream's BUILD_POSTSCRIPT equivalent.
func BuildPostscript() string { return buildPostscript }

// Build returns the full build script of r: prescript, shared prescript,
// the template's text, postscript — each joined by a newline as upstream
// joins them. Template none has no script ("").
func Build(r *cookbook.Recipe) string {
	body := Template(r)
	if r.Build.Template == cookbook.TemplateNone || r.Build.Template == cookbook.TemplateRemote {
		return ""
	}
	return buildPrescript + "\n" + SharedPrescript() + "\n" + body + "\n" + buildPostscript
}

// Template returns the text a recipe's template inserts between prelude and
// postlude (spec/cookbook.md §5.8).
func Template(r *cookbook.Recipe) string {
	b := r.Build
	var s strings.Builder
	switch b.Template {
	case cookbook.TemplateCargo:
		s.WriteString("DYNAMIC_INIT\n")
		if b.ClearLocked {
			s.WriteString("COOKBOOK_CARGO_FLAGS=()\n")
		}
		flags(&s, "COOKBOOK_CARGO_FLAGS", b.CargoFlags)
		path := b.CargoPath
		if path == "" {
			path = "."
		}
		prefix := fmt.Sprintf("COOKBOOK_CARGO_PATH=%s ", path)
		var calls []string
		if len(b.CargoPackages) > 0 {
			fn := "cookbook_cargo_packages"
			if b.CargoPackagesPrefixed {
				fn = "cookbook_cargo_packages_prefixed"
			}
			calls = append(calls, fn+" "+strings.Join(b.CargoPackages, " "))
		}
		if len(b.CargoExamples) > 0 {
			calls = append(calls, "cookbook_cargo_examples "+strings.Join(b.CargoExamples, " "))
		}
		if len(calls) == 0 {
			calls = []string{"cookbook_cargo"}
		}
		calls[0] = prefix + calls[0]
		s.WriteString(strings.Join(calls, "\n"))
		s.WriteString("\n")
	case cookbook.TemplateConfigure:
		s.WriteString("DYNAMIC_INIT\n")
		flags(&s, "COOKBOOK_CONFIGURE_FLAGS", b.ConfigureFlags)
		s.WriteString("cookbook_configure\n")
	case cookbook.TemplateCMake:
		s.WriteString("DYNAMIC_INIT\n")
		flags(&s, "COOKBOOK_CMAKE_FLAGS", b.CMakeFlags)
		s.WriteString("cookbook_cmake\n")
	case cookbook.TemplateMeson:
		s.WriteString("DYNAMIC_INIT\n")
		flags(&s, "COOKBOOK_MESON_FLAGS", b.MesonFlags)
		s.WriteString("cookbook_meson\n")
	case cookbook.TemplatePython:
		s.WriteString("DYNAMIC_INIT\n")
		if b.LegacySetup {
			s.WriteString("COOKBOOK_PYTHON_LEGACY_SETUP=1\n")
		}
		if b.PyProjectPath != "" {
			fmt.Fprintf(&s, "COOKBOOK_PYTHON_PYPROJECT_PATH=%s\n", b.PyProjectPath)
		}
		flags(&s, "COOKBOOK_PYTHON_PIP_FLAGS", b.PipFlags)
		s.WriteString("cookbook_python\n")
	case cookbook.TemplateCustom:
		s.WriteString(b.Script)
	}
	return s.String()
}

// flags renders NAME+=( "flag" ... ): each flag in double quotes without
// escaping, so $VAR, ${...} and backticks in a recipe's flags expand, as
// upstream's recipes rely on. The block is written even for no flags.
func flags(s *strings.Builder, name string, list []string) {
	fmt.Fprintf(s, "%s+=(\n", name)
	for _, f := range list {
		fmt.Fprintf(s, "  \"%s\"\n", f)
	}
	s.WriteString(")\n")
}
