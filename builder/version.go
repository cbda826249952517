package builder

import (
	"os"
	"path/filepath"
	"regexp"

	"github.com/BurntSushi/toml"

	"github.com/redox-cook/cook/cookbook"
)

var versionRE = regexp.MustCompile(`\d+(\.\d+){1,2}`)

// GuessVersion returns the package version the way upstream guesses it
// (spec/cookbook.md §2.7): "" for template none, [package].version, the first
// x.y[.z] in the tar URL, the git rev or the git branch, the version in the
// source's Cargo.toml ([package] or [workspace.package]), else "TODO".
func GuessVersion(r *cookbook.Recipe, sourceDir string) string {
	if r.Build.Template == cookbook.TemplateNone {
		return ""
	}
	if r.Package.Version != "" {
		return r.Package.Version
	}
	if s := r.Source; s != nil {
		for _, v := range []string{s.Tar, s.Rev, s.Branch} {
			if m := versionRE.FindString(v); m != "" {
				return m
			}
		}
	}
	var manifest struct {
		Package   struct{ Version any }
		Workspace struct{ Package struct{ Version any } }
	}
	if _, err := toml.DecodeFile(filepath.Join(sourceDir, "Cargo.toml"), &manifest); err == nil {
		for _, v := range []any{manifest.Package.Version, manifest.Workspace.Package.Version} {
			if s, ok := v.(string); ok && s != "" {
				return s
			}
		}
	} else if !os.IsNotExist(err) {
		return "TODO"
	}
	return "TODO"
}
