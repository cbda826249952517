package builder

import (
	"path/filepath"
	"regexp"

	"github.com/BurntSushi/toml"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/internal/fsutil"
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
	// The source is a stranger's: its Cargo.toml may be a FIFO, a link to
	// a device or a huge sparse file; such a one gives no version.
	data, _, err := fsutil.ReadRegular(filepath.Join(sourceDir, "Cargo.toml"), maxManifestSize)
	if err != nil {
		return "TODO"
	}
	if _, err := toml.Decode(string(data), &manifest); err == nil {
		for _, v := range []any{manifest.Package.Version, manifest.Workspace.Package.Version} {
			if s, ok := v.(string); ok && s != "" {
				return s
			}
		}
	}
	return "TODO"
}

// maxManifestSize bounds the Cargo.toml GuessVersion reads (crates.io's
// largest manifests are some hundred KiB).
const maxManifestSize = 4 << 20
