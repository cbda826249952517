package cookbook

import (
	"fmt"
	"sort"
	"strings"
)

// Node is a recipe built for one side: the target, or the build machine
// (Host) for host: dependencies.
type Node struct {
	Name string
	Host bool
}

func (n Node) String() string {
	if n.Host {
		return "host:" + n.Name
	}
	return n.Name
}

// ParseNode reads "name" or "host:name" ("target:name" is the target node).
func ParseNode(s string) (Node, error) {
	p, err := ParsePackageName(s)
	if err != nil {
		return Node{}, err
	}
	if p.Suffix != "" {
		return Node{}, fmt.Errorf("%q names an optional package; name its recipe %q", s, p.Name)
	}
	return Node{Name: p.Name, Host: p.Prefix == HostPrefix}, nil
}

// EdgeKind says which list a dependency came from.
type EdgeKind uint8

const (
	BuildEdge   EdgeKind = 1 << iota // build.dependencies
	DevEdge                          // build.dev-dependencies
	PackageEdge                      // package.dependencies (runtime)

	// AllEdges selects every kind.
	AllEdges = BuildEdge | DevEdge | PackageEdge
)

func (k EdgeKind) String() string {
	var s []string
	if k&BuildEdge != 0 {
		s = append(s, "build")
	}
	if k&DevEdge != 0 {
		s = append(s, "dev")
	}
	if k&PackageEdge != 0 {
		s = append(s, "package")
	}
	return strings.Join(s, "+")
}

// Edge is one dependency of a node.
type Edge struct {
	To   Node
	Kind EdgeKind
	Dep  PackageName // the entry as written, suffix included
}

// Deps returns n's dependencies with upstream's host mapping applied
// (spec/cookbook.md §6.3): for a host node, build and dev entries host:x stay
// (except x itself), target:x are dropped and plain x become host:x. Package
// dependencies are never rewritten. Entries naming no recipe are left out.
func (t *Tree) Deps(n Node) []Edge {
	t.depsMu.Lock()
	edges, ok := t.deps[n]
	t.depsMu.Unlock()
	if ok {
		return edges
	}
	edges = t.deps1(n)
	t.depsMu.Lock()
	if t.deps == nil {
		t.deps = map[Node][]Edge{}
	}
	t.deps[n] = edges
	t.depsMu.Unlock()
	return edges
}

func (t *Tree) deps1(n Node) []Edge {
	r, ok := t.Recipes[n.Name]
	if !ok {
		return nil
	}
	var out []Edge
	type key struct {
		to   Node
		kind EdgeKind
	}
	seen := map[key]bool{}
	add := func(kind EdgeKind, deps []PackageName, mapHost bool) {
		for _, d := range deps {
			to := Node{Name: d.Name, Host: d.Prefix == HostPrefix}
			if mapHost && n.Host {
				switch d.Prefix {
				case HostPrefix:
					if d.Name == n.Name {
						continue
					}
				case TargetPrefix:
					continue
				default:
					to.Host = true
				}
			}
			if _, ok := t.Recipes[to.Name]; !ok || seen[key{to, kind}] {
				continue
			}
			seen[key{to, kind}] = true
			out = append(out, Edge{To: to, Kind: kind, Dep: d})
		}
	}
	add(BuildEdge, r.Build.Dependencies, true)
	add(DevEdge, r.Build.DevDependencies, true)
	add(PackageEdge, r.Package.Dependencies, false)
	return out
}

// Graph is the dependency graph over the nodes reachable from a set of roots
// along the chosen edge kinds.
type Graph struct {
	Kinds EdgeKind
	Nodes []Node // sorted by String()
	succ  map[Node][]Edge

	order  []Node // cached by Order
	cyclic bool
}

// NewGraph builds the graph reachable from roots along kinds. With no roots,
// every recipe of the tree is a root (as a target node).
func (t *Tree) NewGraph(roots []Node, kinds EdgeKind) *Graph {
	g := &Graph{Kinds: kinds, succ: map[Node][]Edge{}}
	if roots == nil {
		for _, name := range t.Names {
			roots = append(roots, Node{Name: name})
		}
	}
	stack := append([]Node(nil), roots...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, seen := g.succ[n]; seen {
			continue
		}
		var edges []Edge
		for _, e := range t.Deps(n) {
			if e.Kind&kinds == 0 {
				continue
			}
			edges = append(edges, e)
			if _, seen := g.succ[e.To]; !seen {
				stack = append(stack, e.To)
			}
		}
		g.succ[n] = edges
		g.Nodes = append(g.Nodes, n)
	}
	sort.Slice(g.Nodes, func(i, j int) bool { return g.Nodes[i].String() < g.Nodes[j].String() })
	return g
}

// Edges returns n's outgoing edges (its dependencies) in recipe order.
func (g *Graph) Edges(n Node) []Edge { return g.succ[n] }

// Has reports whether n is in the graph.
func (g *Graph) Has(n Node) bool { _, ok := g.succ[n]; return ok }

// Cycles returns every cycle (strongly connected component with more than
// one node, or a self-loop) as a closed path a → … → a.
func (g *Graph) Cycles() [][]Node {
	index := map[Node]int{}
	low := map[Node]int{}
	on := map[Node]bool{}
	var stack []Node
	var out [][]Node
	next := 0
	var strong func(v Node)
	strong = func(v Node) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		on[v] = true
		for _, e := range g.succ[v] {
			w := e.To
			if _, ok := index[w]; !ok {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if on[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		var comp []Node
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			on[w] = false
			comp = append(comp, w)
			if w == v {
				break
			}
		}
		if len(comp) > 1 || g.selfLoop(v) {
			out = append(out, g.cyclePath(comp))
		}
	}
	for _, n := range g.Nodes {
		if _, ok := index[n]; !ok {
			strong(n)
		}
	}
	return out
}

func (g *Graph) selfLoop(v Node) bool {
	for _, e := range g.succ[v] {
		if e.To == v {
			return true
		}
	}
	return false
}

// cyclePath finds a closed walk through a strongly connected component,
// starting at its smallest node.
func (g *Graph) cyclePath(comp []Node) []Node {
	in := map[Node]bool{}
	for _, n := range comp {
		in[n] = true
	}
	sort.Slice(comp, func(i, j int) bool { return comp[i].String() < comp[j].String() })
	start := comp[0]
	// breadth-first search from start back to start inside the component
	prev := map[Node]Node{}
	queue := []Node{start}
	seen := map[Node]bool{}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, e := range g.succ[v] {
			w := e.To
			if !in[w] {
				continue
			}
			if w == start {
				path := []Node{start}
				for u := v; u != start; u = prev[u] {
					path = append(path, u)
				}
				// path is start, v, ..., reversed after the first element
				rev := []Node{start}
				for i := len(path) - 1; i >= 1; i-- {
					rev = append(rev, path[i])
				}
				return append(rev, start)
			}
			if !seen[w] {
				seen[w] = true
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	return append(comp, start)
}

// CycleError reports dependency cycles.
type CycleError struct{ Cycles [][]Node }

func (e *CycleError) Error() string {
	var parts []string
	for _, c := range e.Cycles {
		s := make([]string, len(c))
		for i, n := range c {
			s[i] = n.String()
		}
		parts = append(parts, strings.Join(s, " → "))
	}
	return "dependency cycle: " + strings.Join(parts, "; ")
}

// Order returns the nodes with every dependency before its dependents, ties
// broken by name, or a *CycleError.
func (g *Graph) Order() ([]Node, error) {
	if g.order != nil || g.cyclic {
		if g.cyclic {
			return nil, &CycleError{g.Cycles()}
		}
		return g.order, nil
	}
	const (
		white = iota
		grey
		black
	)
	color := make(map[Node]uint8, len(g.Nodes))
	out := make([]Node, 0, len(g.Nodes))
	var visit func(n Node) bool
	visit = func(n Node) bool {
		switch color[n] {
		case grey:
			return false
		case black:
			return true
		}
		color[n] = grey
		for _, e := range g.succ[n] {
			if !visit(e.To) {
				return false
			}
		}
		color[n] = black
		out = append(out, n)
		return true
	}
	for _, n := range g.Nodes {
		if !visit(n) {
			g.cyclic = true
			return nil, &CycleError{g.Cycles()}
		}
	}
	g.order = out
	return out, nil
}

// Depths returns, for every node, the number of edges on the longest
// dependency chain starting at it. The graph must be acyclic.
func (g *Graph) Depths() map[Node]int {
	depth := make(map[Node]int, len(g.Nodes))
	order, err := g.Order()
	if err != nil {
		return depth
	}
	for _, n := range order {
		d := 0
		for _, e := range g.succ[n] {
			d = max(d, depth[e.To]+1)
		}
		depth[n] = d
	}
	return depth
}

// LongestChain returns one longest dependency chain, dependent first.
func (g *Graph) LongestChain() []Node {
	depth := g.Depths()
	var best Node
	bestD := -1
	for _, n := range g.Nodes {
		if depth[n] > bestD {
			best, bestD = n, depth[n]
		}
	}
	if bestD < 0 {
		return nil
	}
	chain := []Node{best}
	for n := best; depth[n] > 0; {
		for _, e := range g.succ[n] {
			if depth[e.To] == depth[n]-1 {
				n = e.To
				break
			}
		}
		chain = append(chain, n)
	}
	return chain
}

// Dependents returns the nodes that depend on n directly, sorted.
func (g *Graph) Dependents(n Node) []Edge {
	var out []Edge
	for _, m := range g.Nodes {
		for _, e := range g.succ[m] {
			if e.To == n {
				out = append(out, Edge{To: m, Kind: e.Kind, Dep: e.Dep})
			}
		}
	}
	return out
}

// ParseEdgeKinds reads edge kinds by name: build, dev, package.
func ParseEdgeKinds(names []string) (EdgeKind, error) {
	var k EdgeKind
	for _, n := range names {
		switch n {
		case "build":
			k |= BuildEdge
		case "dev":
			k |= DevEdge
		case "package":
			k |= PackageEdge
		default:
			return 0, fmt.Errorf("unknown kind %q (want build, dev or package)", n)
		}
	}
	return k, nil
}
