// Package depgraph draws recipe dependency graphs as a text tree, as graphviz dot text, or as SVG laid out here in Go (see Lay), so no external program is needed.
package depgraph

import (
	"sort"

	"github.com/redox-cook/cook/cookbook"
)

// Edge kinds.
const (
	Build   = "build"
	Dev     = "dev"
	Package = "package"
)

// Graph is what is drawn: nodes and the dependency edges between them.
type Graph struct {
	Nodes []Node
	Edges []Edge
}

// Node is one recipe node.
type Node struct {
	ID   string // "name", or "host:name" for a node built for the build machine
	Host bool
	Root bool // named on the command line
}

// Edge says From depends on To.
type Edge struct {
	From, To string
	Kind     string // build, dev or package
	Dep      string // the entry as the recipe wrote it
}

// New is the whole of g: every node, roots marked, and every edge.
func New(g *cookbook.Graph, roots []cookbook.Node) Graph {
	isRoot := map[cookbook.Node]bool{}
	for _, r := range roots {
		isRoot[r] = true
	}
	var out Graph
	for _, n := range g.Nodes {
		out.Nodes = append(out.Nodes, Node{ID: n.String(), Host: n.Host, Root: isRoot[n]})
		for _, e := range g.Edges(n) {
			out.Edges = append(out.Edges, Edge{From: n.String(), To: e.To.String(), Kind: e.Kind.String(), Dep: e.Dep.String()})
		}
	}
	return out
}

// Only keeps the edges keep accepts, and the nodes they touch and the roots.
func (g Graph) Only(keep func(Edge) bool) Graph {
	var out Graph
	used := map[string]bool{}
	for _, e := range g.Edges {
		if keep(e) {
			out.Edges = append(out.Edges, e)
			used[e.From], used[e.To] = true, true
		}
	}
	for _, n := range g.Nodes {
		if used[n.ID] || n.Root {
			out.Nodes = append(out.Nodes, n)
		}
	}
	return out
}

// sorted returns g's nodes by ID and its edges by (From, To, Kind), with
// edges naming an unknown node and repeated edges left out.
func (g Graph) sorted() ([]Node, []Edge) {
	nodes := append([]Node(nil), g.Nodes...)
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	known := map[string]bool{}
	var uniq []Node
	for _, n := range nodes {
		if !known[n.ID] {
			known[n.ID] = true
			uniq = append(uniq, n)
		}
	}
	type key struct{ from, to, kind string }
	seen := map[key]bool{}
	var edges []Edge
	for _, e := range g.Edges {
		k := key{e.From, e.To, e.Kind}
		if !known[e.From] || !known[e.To] || seen[k] {
			continue
		}
		seen[k] = true
		edges = append(edges, e)
	}
	sort.SliceStable(edges, func(i, j int) bool {
		a, b := edges[i], edges[j]
		if a.From != b.From {
			return a.From < b.From
		}
		if a.To != b.To {
			return a.To < b.To
		}
		return kindRank(a.Kind) < kindRank(b.Kind)
	})
	return uniq, edges
}

func kindRank(k string) int {
	switch k {
	case Build:
		return 0
	case Dev:
		return 1
	case Package:
		return 2
	}
	return 3
}
