package depgraph

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/internal/golden"
)

// sample has every edge kind, a host: node, parallel edges, a cycle and
// names that need escaping in dot and in SVG.
func sample() Graph {
	return Graph{
		Nodes: []Node{
			{ID: "app", Root: true}, {ID: "lib"}, {ID: "base"}, {ID: "host:tool", Host: true}, {ID: "docs"},
			{ID: `we"ird\`}, {ID: "<x>&amp;"}, {ID: "zlib"},
		},
		Edges: []Edge{
			{From: "app", To: "lib", Kind: Build, Dep: "lib"},
			{From: "app", To: "host:tool", Kind: Dev, Dep: "host:tool"},
			{From: "app", To: "docs", Kind: Package, Dep: "docs"},
			{From: "app", To: `we"ird\`, Kind: Build, Dep: `we"ird\`},
			{From: "lib", To: "base", Kind: Build, Dep: "base.dev"},
			{From: "lib", To: "base", Kind: Package, Dep: "base"},
			{From: "lib", To: "zlib", Kind: Build, Dep: "zlib"},
			{From: "base", To: "zlib", Kind: Build, Dep: "zlib"},
			{From: "docs", To: "app", Kind: Package, Dep: "app"}, // a runtime cycle
			{From: `we"ird\`, To: "<x>&amp;", Kind: Dev, Dep: "<x>&amp;"},
			{From: "host:tool", To: "zlib", Kind: Build, Dep: "zlib"},
			{From: "app", To: "nowhere", Kind: Build}, // unknown node: ignored
		},
	}
}

func wellFormed(t *testing.T, doc []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}

// runDot renders dot text with graphviz, when it is installed.
func runDot(t *testing.T, text []byte) []byte {
	t.Helper()
	bin, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("graphviz is not installed (apt-get install graphviz)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-Tsvg")
	cmd.Stdin = bytes.NewReader(text)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil || errs.Len() > 0 {
		t.Fatalf("dot -Tsvg: %v\n%s\n%s", err, errs.String(), text)
	}
	return out.Bytes()
}

func TestDot(t *testing.T) {
	var b bytes.Buffer
	if err := WriteDot(&b, sample()); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/sample.dot", b.Bytes())
	svg := runDot(t, b.Bytes())
	wellFormed(t, svg)
	// graphviz drew every node, with the names as written
	for _, name := range []string{"app", "host:tool", `we&quot;ird\`, "&lt;x&gt;&amp;amp;"} {
		if !bytes.Contains(svg, []byte(">"+name+"</text>")) {
			t.Errorf("graphviz's drawing has no label %s", name)
		}
	}
	if n := bytes.Count(svg, []byte(`class="edge`)); n != 11 {
		t.Errorf("graphviz drew %d edges, want 11", n)
	}
}

func TestSVG(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSVG(&b, sample()); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/sample.svg", b.Bytes())
	wellFormed(t, b.Bytes())
	if n := len(regexp.MustCompile(`<g class="node[ "]`).FindAll(b.Bytes(), -1)); n != 8 {
		t.Errorf("%d nodes drawn, want 8", n)
	}
	if n := bytes.Count(b.Bytes(), []byte(`<path class="edge`)); n != 11 {
		t.Errorf("%d edges drawn, want 11", n)
	}
	for _, want := range []string{`class="edge dev" d=`, `stroke-dasharray="2 3" marker-end="url(#arrow-package)"`, `marker-end="url(#arrow-host)"`, `<g class="node root">`, `<g class="node host">`, "&lt;x&gt;&amp;amp;", `we&#34;ird\`} {
		if !bytes.Contains(b.Bytes(), []byte(want)) {
			t.Errorf("SVG lacks %s", want)
		}
	}
}

// checkLayout asserts what every layout must hold: finite coordinates on
// the canvas, no two nodes of a layer overlapping, every edge going down
// (up only when reversed to break a cycle) from its dependent to its
// dependency.
func checkLayout(t *testing.T, g Graph, l *Layout) {
	t.Helper()
	byID := map[string]Placed{}
	byLayer := map[int][]Placed{}
	for _, n := range l.Nodes {
		for _, v := range []float64{n.X, n.Y, n.W, n.H} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s at %v", n.ID, n)
			}
		}
		if n.X-n.W/2 < 0 || n.X+n.W/2 > l.Width+0.01 || n.Y-n.H/2 < 0 || n.Y+n.H/2 > l.Height+0.01 {
			t.Errorf("%s lies outside the %vx%v canvas: %+v", n.ID, l.Width, l.Height, n)
		}
		byID[n.ID] = n
		byLayer[n.Layer] = append(byLayer[n.Layer], n)
	}
	for layer, ns := range byLayer {
		for i := range ns {
			for j := i + 1; j < len(ns); j++ {
				a, b := ns[i], ns[j]
				if math.Abs(a.X-b.X) < (a.W+b.W)/2 {
					t.Errorf("layer %d: %s and %s overlap", layer, a.ID, b.ID)
				}
			}
		}
	}
	for _, e := range l.Edges {
		from, to := byID[e.From], byID[e.To]
		if (to.Layer > from.Layer) == e.Reversed {
			t.Errorf("edge %s -> %s (reversed %v) goes from layer %d to %d", e.From, e.To, e.Reversed, from.Layer, to.Layer)
		}
		first, last := e.Points[0], e.Points[len(e.Points)-1]
		if math.Abs(first[1]-from.Y) != from.H/2 || math.Abs(last[1]-to.Y) != to.H/2 || math.Abs(first[0]-from.X) > from.W/2 || math.Abs(last[0]-to.X) > to.W/2 {
			t.Errorf("edge %s -> %s does not run from %s's edge to %s's: %v", e.From, e.To, e.From, e.To, e.Points)
		}
	}
}

func TestLayout(t *testing.T) {
	g := sample()
	l := Lay(g)
	checkLayout(t, g, l)
	if len(l.Nodes) != 8 || len(l.Edges) != 11 {
		t.Errorf("%d nodes and %d edges laid out", len(l.Nodes), len(l.Edges))
	}
	reversed := 0
	for _, e := range l.Edges {
		if e.Reversed {
			reversed++
		}
	}
	if reversed != 1 {
		t.Errorf("%d edges reversed, want the one closing the cycle", reversed)
	}
}

// TestBarycentre: c has parents on both sides, d only on the left; the
// depth-first start puts c first and crosses A→d with B→c, and the
// barycentre sweep swaps them.
func TestBarycentre(t *testing.T) {
	g := Graph{
		Nodes: []Node{{ID: "A", Root: true}, {ID: "B", Root: true}, {ID: "c"}, {ID: "d"}},
		Edges: []Edge{{From: "A", To: "c", Kind: Build}, {From: "A", To: "d", Kind: Build}, {From: "B", To: "c", Kind: Build}},
	}
	l := Lay(g)
	checkLayout(t, g, l)
	x := map[string]float64{}
	for _, n := range l.Nodes {
		x[n.ID] = n.X
	}
	if l.Crossings != 0 || !(x["A"] < x["B"] && x["d"] < x["c"]) {
		t.Errorf("%d crossings; x %v", l.Crossings, x)
	}
}

// TestRandomLayouts lays out random graphs, cycles included.
func TestRandomLayouts(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	kinds := []string{Build, Dev, Package}
	for k := range 40 {
		var g Graph
		n := 2 + rng.Intn(40)
		for i := range n {
			g.Nodes = append(g.Nodes, Node{ID: fmt.Sprintf("n%02d", i), Host: rng.Intn(5) == 0, Root: i == 0})
		}
		for range rng.Intn(3 * n) {
			a, b := rng.Intn(n), rng.Intn(n)
			if k%2 == 0 && a > b { // every other graph acyclic
				a, b = b, a
			}
			g.Edges = append(g.Edges, Edge{From: g.Nodes[a].ID, To: g.Nodes[b].ID, Kind: kinds[rng.Intn(3)]})
		}
		l := Lay(g)
		checkLayout(t, g, l)
		var b bytes.Buffer
		if err := WriteSVG(&b, g); err != nil {
			t.Fatal(err)
		}
		wellFormed(t, b.Bytes())
		if k%2 == 0 {
			for _, e := range l.Edges {
				if e.Reversed {
					t.Errorf("graph %d is acyclic but %s -> %s was reversed", k, e.From, e.To)
				}
			}
		}
	}
}

// TestFromCookbook: a graph from recipes keeps kinds, host: nodes and roots.
func TestFromCookbook(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, "recipes", name, "recipe.toml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app", "[build]\ntemplate = \"custom\"\ndependencies = [\"lib\"]\ndev-dependencies = [\"host:gen\"]\n[package]\ndependencies = [\"lib\"]\n")
	write("lib", "[build]\ntemplate = \"custom\"\n")
	write("gen", "[build]\ntemplate = \"custom\"\n")
	tree, err := cookbook.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	root := cookbook.Node{Name: "app"}
	g := New(tree.NewGraph([]cookbook.Node{root}, cookbook.AllEdges), []cookbook.Node{root})
	var b bytes.Buffer
	if err := WriteDot(&b, g); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"app" [penwidth=2`, `"host:gen" [fillcolor="#fff1e0"`,
		`"app" -> "host:gen" [style=dashed, color="#c05f00", class="dev"]`,
		`"app" -> "lib" [style=solid, color="#3d4752", class="build"]`,
		`"app" -> "lib" [style=dotted, color="#159e8f", class="package"]`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("dot lacks %s:\n%s", want, b.String())
		}
	}
	only := g.Only(func(e Edge) bool { return e.Kind == Package })
	if len(only.Edges) != 1 || len(only.Nodes) != 2 {
		t.Errorf("Only(package): %+v", only)
	}
}

// BenchmarkLay lays out a random graph the size of a large part of the
// upstream corpus: 1,000 nodes, 3,000 edges.
func BenchmarkLay(b *testing.B) {
	rng := rand.New(rand.NewSource(2))
	var g Graph
	for i := range 1000 {
		g.Nodes = append(g.Nodes, Node{ID: fmt.Sprintf("recipe-%04d", i), Root: i < 5})
	}
	for range 3000 {
		a, c := rng.Intn(1000), rng.Intn(1000)
		if a > c {
			a, c = c, a
		}
		g.Edges = append(g.Edges, Edge{From: g.Nodes[a].ID, To: g.Nodes[c].ID, Kind: Build})
	}
	for b.Loop() {
		Lay(g)
	}
}
