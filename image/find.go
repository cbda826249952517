package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/redox-cook/cook/config"
	"github.com/redox-cook/cook/triple"
)

// FindConfig loads the filesystem config named by ref: a file when ref
// contains a slash or ends in .toml, else a config name looked up as
// upstream's make does, <arch>/<name>.toml then <name>.toml, in the
// cookbook's config/ directory when cookbook is an upstream tree that has
// one, else among the configs cook ships.
func FindConfig(ref string, target triple.Triple, cookbook string) (*Config, error) {
	if strings.Contains(ref, "/") || strings.HasSuffix(ref, ".toml") {
		return LoadConfig(ref)
	}
	arch := target.Arch() // the config directory upstream's make uses
	cands := []string{path.Join(arch, ref+".toml"), ref + ".toml"}
	if cookbook != "" {
		dir := filepath.Join(cookbook, "config")
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			for _, c := range cands {
				p := filepath.Join(dir, filepath.FromSlash(c))
				if _, err := os.Stat(p); err == nil {
					return LoadConfig(p)
				}
			}
			return nil, fmt.Errorf("no filesystem config %q in %s (tried %s); available: %s",
				ref, dir, strings.Join(cands, ", "), strings.Join(ConfigNames(os.DirFS(dir), arch), ", "))
		}
	}
	for _, c := range cands {
		if _, err := fs.Stat(config.FS, c); err == nil {
			cfg, err := LoadConfigFS(config.FS, c)
			if err != nil {
				return nil, err
			}
			cfg.Path = "cook:config/" + c
			return cfg, nil
		}
	}
	return nil, fmt.Errorf("no filesystem config %q among cook's own (%s); pass --cookbook DIR for an upstream tree's, or --config FILE",
		ref, strings.Join(ConfigNames(config.FS, arch), ", "))
}

// ConfigNames lists the config names fsys offers for arch: <arch>/*.toml
// and *.toml, sorted, without duplicates.
func ConfigNames(fsys fs.FS, arch string) []string {
	seen := map[string]bool{}
	for _, pat := range []string{path.Join(arch, "*.toml"), "*.toml"} {
		m, err := fs.Glob(fsys, pat)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		for _, p := range m {
			seen[strings.TrimSuffix(path.Base(p), ".toml")] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
