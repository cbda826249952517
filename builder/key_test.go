package builder

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/workdir"
)

// randomTree writes n recipes with random build, dev and package
// dependencies on earlier ones, some host:, some target:, some naming an
// optional package, and loads them.
func randomTree(t *testing.T, n int, seed uint64) *cookbook.Tree {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	root := t.TempDir()
	for i := range n {
		var lists [3][]string
		for k := range 3 {
			for range r.IntN(4) {
				if i == 0 {
					break
				}
				dep := fmt.Sprintf("r%02d", r.IntN(i))
				switch r.IntN(6) {
				case 0:
					dep = "host:" + dep
				case 1:
					dep = "target:" + dep
				case 2:
					dep += ".opt"
				}
				lists[k] = append(lists[k], fmt.Sprintf("%q", dep))
			}
		}
		text := fmt.Sprintf("[build]\ntemplate = \"custom\"\nscript = \"true\"\ndependencies = [%s]\ndev-dependencies = [%s]\n[package]\ndependencies = [%s]\n[[optional-packages]]\nname = \"opt\"\nfiles = [\"x\"]\n",
			strings.Join(lists[0], ", "), strings.Join(lists[1], ", "), strings.Join(lists[2], ", "))
		p := filepath.Join(root, "recipes", fmt.Sprintf("r%02d", i), "recipe.toml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tree, err := cookbook.Load(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// sysrootDepsReference is SysrootDeps as first written: a depth-first
// closure deduplicated with a map, sorted by name, target first.
func sysrootDepsReference(t *cookbook.Tree, n cookbook.Node) (sysrootDeps, tools []Dep) {
	var closure func(n cookbook.Node) []Dep
	closure = func(n cookbook.Node) []Dep {
		var c []Dep
		seen := map[Dep]bool{}
		for _, e := range t.Deps(n) {
			if e.Kind != cookbook.BuildEdge {
				continue
			}
			for _, d := range append([]Dep{{Node: e.To, Suffix: e.Dep.Suffix}}, closure(e.To)...) {
				if !seen[d] {
					seen[d] = true
					c = append(c, d)
				}
			}
		}
		return c
	}
	seen := map[Dep]bool{}
	var all []Dep
	for _, e := range t.Deps(n) {
		if e.Kind == cookbook.BuildEdge || e.Kind == cookbook.DevEdge {
			for _, d := range append([]Dep{{Node: e.To, Suffix: e.Dep.Suffix}}, closure(e.To)...) {
				if !seen[d] {
					seen[d] = true
					all = append(all, d)
				}
			}
		}
	}
	sort.Slice(all, func(i, j int) bool {
		return all[i].Name() < all[j].Name() || all[i].Name() == all[j].Name() && !all[i].Node.Host
	})
	for _, d := range all {
		if d.Node.Host && !n.Host {
			tools = append(tools, d)
		} else {
			sysrootDeps = append(sysrootDeps, d)
		}
	}
	return sysrootDeps, tools
}

// TestSysrootDepsAndInputKey compares SysrootDeps with the reference
// implementation, and inputKey with Inputs().Key(), on random trees, for
// target and host nodes.
func TestSysrootDepsAndInputKey(t *testing.T) {
	for seed := range uint64(4) {
		tree := randomTree(t, 40, seed)
		b := &Builder{Tree: tree, Work: workdir.New(t.TempDir()), Target: "x86_64-unknown-redox", NoSandbox: seed%2 == 0}
		for _, name := range tree.Names {
			for _, host := range []bool{false, true} {
				n := cookbook.Node{Name: name, Host: host}
				b.SetOutput(n, fmt.Sprintf("out-%s-%t", name, host))
			}
		}
		for _, name := range tree.Names {
			for _, host := range []bool{false, true} {
				n := cookbook.Node{Name: name, Host: host}
				gotS, gotT := b.SysrootDeps(n)
				wantS, wantT := sysrootDepsReference(tree, n)
				if !reflect.DeepEqual(gotS, wantS) || !reflect.DeepEqual(gotT, wantT) {
					t.Fatalf("seed %d, %s: SysrootDeps\n%v %v\nwant\n%v %v", seed, n, gotS, gotT, wantS, wantT)
				}
				in, err := b.Inputs(context.Background(), n)
				if err != nil {
					t.Fatal(err)
				}
				key, err := b.inputKey(context.Background(), n)
				if err != nil {
					t.Fatal(err)
				}
				if key != in.Key() {
					t.Fatalf("seed %d, %s: inputKey differs from Inputs().Key()", seed, n)
				}
			}
		}
	}
}
