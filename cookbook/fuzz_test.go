package cookbook

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse parses arbitrary bytes as a recipe.toml: the parser reports
// what is wrong as diagnostics and must never panic or hang. The seed
// corpus (testdata/fuzz/FuzzParse) holds real recipes; the schema test
// cases are added too.
func FuzzParse(f *testing.F) {
	cases, _ := filepath.Glob(filepath.Join("testdata", "schema", "*.toml"))
	for _, p := range cases {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Parse("fuzz", "/cookbook/recipes/fuzz", "recipes/fuzz/recipe.toml", data)
		if r == nil {
			t.Fatal("Parse returned nil")
		}
		for _, d := range r.Diagnostics {
			_ = d.String()
		}
		r.HasErrors()
		r.references()
	})
}
