package depgraph

import (
	"fmt"
	"io"
	"sort"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/internal/termtext"
)

// TreeNode is a dependency tree as JSON shows it.
type TreeNode struct {
	Name string     `json:"name"`
	Kind string     `json:"kind,omitempty"` // build, dev or package: the edge from the parent
	Dep  string     `json:"dep,omitempty"`  // the dependency entry as written, when it differs from name
	Seen bool       `json:"seen,omitempty"` // already shown above; its dependencies are not repeated
	Deps []TreeNode `json:"deps,omitempty"`
}

// Tree is root's dependency tree in g; a node already shown is marked Seen
// and not expanded again.
func Tree(g *cookbook.Graph, root cookbook.Node) TreeNode {
	return tree(g, cookbook.Edge{To: root}, map[cookbook.Node]bool{})
}

func tree(g *cookbook.Graph, e cookbook.Edge, seen map[cookbook.Node]bool) TreeNode {
	t := TreeNode{Name: e.To.String()}
	if e.Kind != 0 {
		t.Kind = e.Kind.String()
		if d := e.Dep.String(); d != t.Name {
			t.Dep = d
		}
	}
	if seen[e.To] {
		t.Seen = len(g.Edges(e.To)) > 0
		return t
	}
	seen[e.To] = true
	for _, d := range g.Edges(e.To) {
		t.Deps = append(t.Deps, tree(g, d, seen))
	}
	return t
}

// WriteText writes root's dependency tree with box-drawing branches, each
// edge marked with its kind; a node already shown is marked (*) and not
// expanded again. Names are escaped for a terminal.
func WriteText(w io.Writer, g *cookbook.Graph, root cookbook.Node) error {
	if _, err := fmt.Fprintln(w, termtext.Escape(root.String())); err != nil {
		return err
	}
	seen := map[cookbook.Node]bool{root: true}
	var walk func(n cookbook.Node, prefix string) error
	walk = func(n cookbook.Node, prefix string) error {
		edges := g.Edges(n)
		for i, e := range edges {
			branch, next := "├── ", "│   "
			if i == len(edges)-1 {
				branch, next = "└── ", "    "
			}
			mark := ""
			expand := !seen[e.To]
			if !expand && len(g.Edges(e.To)) > 0 {
				mark = " (*)"
			}
			if _, err := fmt.Fprintf(w, "%s%s[%s] %s%s\n", prefix, branch, e.Kind, termtext.Escape(edgeLabel(e)), mark); err != nil {
				return err
			}
			if expand {
				seen[e.To] = true
				if err := walk(e.To, prefix+next); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(root, "")
}

// edgeLabel names an edge's node, adding the entry as the recipe wrote it
// when that differs in more than a target: prefix (a host: mapping, or a
// .suffix naming one optional package).
func edgeLabel(e cookbook.Edge) string {
	s := e.To.String()
	written := e.Dep.String()
	mapped := written != s && e.Dep.Prefix != cookbook.TargetPrefix
	if mapped || e.Dep.Suffix != "" {
		s += " (" + written + ")"
	}
	return s
}

// Dep is one answer of Query: a recipe node and, for direct dependencies
// (or dependents), the edge's kind and the entry as written.
type Dep struct {
	Recipe string `json:"recipe"`
	Kind   string `json:"kind,omitempty"`
	Dep    string `json:"dep,omitempty"`
}

// Query lists target's dependencies in tree along edges of mask: direct
// ones with their edge, or with transitive everything below it in build
// order; with reverse, the recipes that depend on it instead (transitive:
// sorted by name). The graph returned holds those nodes, target and the
// edges between them (direct: only target's own), for drawing.
func Query(tree *cookbook.Tree, target cookbook.Node, mask cookbook.EdgeKind, reverse, transitive bool) ([]Dep, Graph, error) {
	out := []Dep{}
	roots := []cookbook.Node{target}
	if reverse {
		roots = nil // every node: host nodes are reached only through host: edges
	}
	g := tree.NewGraph(roots, mask)
	switch {
	case !reverse && transitive:
		order, err := g.Order()
		if err != nil {
			return nil, Graph{}, err
		}
		for _, n := range order {
			if n != target {
				out = append(out, Dep{Recipe: n.String()})
			}
		}
	case !reverse:
		for _, e := range g.Edges(target) {
			out = append(out, Dep{Recipe: e.To.String(), Kind: e.Kind.String(), Dep: e.Dep.String()})
		}
	case !transitive:
		for _, e := range g.Dependents(target) {
			out = append(out, Dep{Recipe: e.To.String(), Kind: e.Kind.String(), Dep: e.Dep.String()})
		}
	default:
		seen := map[cookbook.Node]bool{target: true}
		queue := []cookbook.Node{target}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, e := range g.Dependents(n) {
				if !seen[e.To] {
					seen[e.To] = true
					queue = append(queue, e.To)
					out = append(out, Dep{Recipe: e.To.String()})
				}
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Recipe < out[j].Recipe })
	}
	in := map[string]bool{target.String(): true}
	for _, d := range out {
		in[d.Recipe] = true
	}
	drawn := New(g, []cookbook.Node{target}).Only(func(e Edge) bool {
		switch {
		case !in[e.From] || !in[e.To]:
			return false
		case transitive:
			return true
		case reverse:
			return e.To == target.String()
		}
		return e.From == target.String()
	})
	return out, drawn, nil
}
