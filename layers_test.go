package cook_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// layers are cook's packages from the top down, as docs/architecture.md
// draws them: a package may import only packages of lower layers.
var layers = [][]string{
	{"cmd/cook"},
	{"pipeline"},
	{"builder"},
	{"image"},
	{"repo"},
	{"fetch", "settings"},
	{"script", "depgraph", "toolchain", "workdir"},
	{"pkgar", "redoxfs", "initfs", "vm", "report"},
	{"cookbook", "triple", "cache", "sandbox", "sysroot", "cargohome", "config", "demo"},
	{"internal/fsutil", "internal/live", "internal/termtext", "internal/efitest", "internal/redoxtest", "internal/golden"},
}

const module = "github.com/redox-cook/cook/"

// TestLayers: no package's non-test code imports a package of its own
// layer or above, and every package has a layer.
func TestLayers(t *testing.T) {
	layer := map[string]int{}
	for i, l := range layers {
		for _, p := range l {
			layer[p] = i
		}
	}
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if !strings.HasSuffix(path, ".go") || dir == "." || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		own, ok := layer[dir]
		if !ok {
			t.Errorf("%s: package %s has no layer (add it to layers_test.go and docs/architecture.md)", path, dir)
			return nil
		}
		seen[dir] = true
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module) {
				continue
			}
			p = strings.TrimPrefix(p, module)
			if l, ok := layer[p]; ok && l <= own {
				t.Errorf("%s: %s imports %s, which is not below it", path, dir, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range layer {
		if _, err := os.Stat(p); err != nil || !seen[p] {
			t.Errorf("layers name %s, which is not a package here", p)
		}
	}
}
