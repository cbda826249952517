package cookbook

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestSchemaCorners parses each testdata/schema/*.toml and compares the
// diagnostics and the resolved recipe with its .golden file. The cases are the
// corners of spec/cookbook.md §2.8: what upstream refuses, what it silently
// accepts, and the untagged [source] precedence.
func TestSchemaCorners(t *testing.T) {
	files, err := filepath.Glob("testdata/schema/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schema cases: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".toml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r := Parse(name, "/recipes/"+name, "recipes/"+name+"/recipe.toml", data)
			var b strings.Builder
			for _, d := range r.Diagnostics {
				b.WriteString(d.String() + "\n")
			}
			js, _ := json.MarshalIndent(r, "", "  ")
			b.Write(js)
			b.WriteString("\n")
			path := strings.TrimSuffix(f, ".toml") + ".golden"
			if *update {
				os.WriteFile(path, []byte(b.String()), 0o644)
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update creates it)", err)
			}
			if b.String() != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
			}
		})
	}
}

func TestParsePackageName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"zlib", "zlib", true},
		{"host:gperf", "host:gperf", true},
		{"target:openssl3", "target:openssl3", true},
		{"llvm21.dev", "llvm21.dev", true},
		{".runtime", ".runtime", true},
		{"host:llvm21.dev", "host:llvm21.dev", true},
		{"", "", false},
		{"a/b", "", false},
		{"a.b.c", "", false},
		{"a:b", "", false},
		{"host:a:b", "", false},
		{"nul\x00", "", false},
	} {
		p, err := ParsePackageName(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParsePackageName(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && p.String() != tc.want {
			t.Errorf("ParsePackageName(%q) = %q, want %q", tc.in, p, tc.want)
		}
	}
}

func TestHostMapping(t *testing.T) {
	parse := func(name, text string) *Recipe {
		return Parse(name, "/r/"+name, "recipes/"+name+"/recipe.toml", []byte(text))
	}
	tree := newTree("/r", []*Recipe{
		parse("py", `[build]
template = "custom"
script = "x"
dependencies = ["target:zlib", "libffi", "host:gperf"]
dev-dependencies = ["host:py", "host:cmake"]
[package]
dependencies = ["terminfo"]`),
		parse("zlib", ""), parse("libffi", ""), parse("gperf", ""), parse("cmake", ""), parse("terminfo", ""),
	})
	edges := func(n Node) string {
		var s []string
		for _, e := range tree.Deps(n) {
			s = append(s, e.Kind.String()+":"+e.To.String())
		}
		return strings.Join(s, " ")
	}
	if got, want := edges(Node{Name: "py"}), "build:zlib build:libffi build:host:gperf dev:host:py dev:host:cmake package:terminfo"; got != want {
		t.Errorf("target node:\n got %s\nwant %s", got, want)
	}
	// host: drops target: entries and the self-dependency, maps plain names to host:,
	// and leaves package dependencies alone.
	if got, want := edges(Node{Name: "py", Host: true}), "build:host:libffi build:host:gperf dev:host:cmake package:terminfo"; got != want {
		t.Errorf("host node:\n got %s\nwant %s", got, want)
	}
}

func TestDuplicatesAndCycles(t *testing.T) {
	parse := func(name, path, text string) *Recipe {
		return Parse(name, "/r/"+name, path, []byte(text))
	}
	tree := newTree("/r", []*Recipe{
		parse("a", "recipes/x/a/recipe.toml", "[build]\ntemplate=\"none\"\ndependencies=[\"b\"]"),
		parse("b", "recipes/x/b/recipe.toml", "[build]\ntemplate=\"none\"\ndependencies=[\"c\"]"),
		parse("c", "recipes/x/c/recipe.toml", "[build]\ntemplate=\"none\"\ndependencies=[\"a\", \"missing\"]"),
		parse("a", "recipes/y/a/recipe.toml", ""),
	})
	var msgs []string
	for _, d := range tree.AllDiagnostics(false) {
		msgs = append(msgs, d.String())
	}
	all := strings.Join(msgs, "\n")
	if !strings.Contains(all, `recipe "a" is defined twice: recipes/x/a/recipe.toml and recipes/y/a/recipe.toml`) {
		t.Errorf("no duplicate error in:\n%s", all)
	}
	if !strings.Contains(all, `build.dependencies names "missing", which is no recipe`) {
		t.Errorf("no unresolved warning in:\n%s", all)
	}
	g := tree.NewGraph(nil, AllEdges)
	cycles := g.Cycles()
	if len(cycles) != 1 {
		t.Fatalf("cycles = %v", cycles)
	}
	err := &CycleError{cycles}
	if err.Error() != "dependency cycle: a → b → c → a" {
		t.Errorf("cycle error = %q", err)
	}
	if _, err := g.Order(); err == nil {
		t.Error("Order succeeded on a cyclic graph")
	}
}

func TestReadOnlyTree(t *testing.T) {
	dir := t.TempDir()
	rdir := filepath.Join(dir, "recipes", "core", "hello")
	os.MkdirAll(rdir, 0o755)
	os.WriteFile(filepath.Join(rdir, "recipe.toml"), []byte("[build]\ntemplate = \"none\"\n"), 0o444)
	// state directories and hidden directories are not searched
	for _, d := range []string{"source", "target", ".git"} {
		os.MkdirAll(filepath.Join(rdir, d, "x"), 0o755)
		os.WriteFile(filepath.Join(rdir, d, "x", "recipe.toml"), []byte("bad ="), 0o444)
	}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if info.IsDir() {
			os.Chmod(p, 0o555)
		}
		return nil
	})
	t.Cleanup(func() {
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	tree, err := Load(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Names) != 1 || tree.Names[0] != "hello" || len(tree.AllDiagnostics(false)) != 0 {
		t.Fatalf("names %v, diagnostics %v", tree.Names, tree.AllDiagnostics(false))
	}
}

// TestCompareNodes checks that compareNodes orders nodes as their strings.
func TestCompareNodes(t *testing.T) {
	names := []string{"", "a", "h", "ho", "hos", "host", "host:", "host:a", "hosta", "hostz", "i", "z", "host:host:x", "g"}
	for _, a := range names {
		for _, b := range names {
			for _, ha := range []bool{false, true} {
				for _, hb := range []bool{false, true} {
					x, y := Node{a, ha}, Node{b, hb}
					if got, want := compareNodes(x, y), strings.Compare(x.String(), y.String()); got != want {
						t.Errorf("compareNodes(%q, %q) = %d, want %d", x, y, got, want)
					}
				}
			}
		}
	}
}
