package cookbook

import (
	"fmt"
	"slices"
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
	seen := func(to Node, kind EdgeKind) bool { // lists are short: a scan is cheaper than a map
		for _, e := range out {
			if e.To == to && e.Kind == kind {
				return true
			}
		}
		return false
	}
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
			if _, ok := t.Recipes[to.Name]; !ok || seen(to, kind) {
				continue
			}
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

	index map[Node]int32 // position in Nodes
	succ  [][]Edge       // by position: the node's edges
	to    [][]int32      // by position: the positions of the edges' ends

	order  []Node // cached by Order
	cyclic bool
}

// compareNodes orders nodes as their String()s sort, without building them.
func compareNodes(a, b Node) int {
	if a.Host == b.Host {
		return strings.Compare(a.Name, b.Name)
	}
	// one is "host:"+Name; the other a plain name
	h, p, sign := a, b, 1
	if b.Host {
		h, p, sign = b, a, -1
	}
	const prefix = "host:"
	n := min(len(p.Name), len(prefix))
	if c := strings.Compare(prefix[:n], p.Name[:n]); c != 0 {
		return sign * c
	}
	if len(p.Name) < len(prefix) {
		return sign // the plain name is a shorter prefix of "host:": it sorts first
	}
	return sign * strings.Compare(h.Name, p.Name[len(prefix):])
}

// NewGraph builds the graph reachable from roots along kinds. With no roots,
// every recipe of the tree is a root (as a target node).
func (t *Tree) NewGraph(roots []Node, kinds EdgeKind) *Graph {
	g := &Graph{Kinds: kinds}
	if roots == nil {
		roots = make([]Node, len(t.Names))
		for i, name := range t.Names {
			roots[i] = Node{Name: name}
		}
	}
	edges := map[Node][]Edge{}
	stack := append([]Node(nil), roots...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, seen := edges[n]; seen {
			continue
		}
		var out []Edge
		for _, e := range t.Deps(n) {
			if e.Kind&kinds == 0 {
				continue
			}
			out = append(out, e)
			if _, seen := edges[e.To]; !seen {
				stack = append(stack, e.To)
			}
		}
		if out == nil {
			out = []Edge{}
		}
		edges[n] = out
		g.Nodes = append(g.Nodes, n)
	}
	slices.SortFunc(g.Nodes, compareNodes)
	g.index = make(map[Node]int32, len(g.Nodes))
	for i, n := range g.Nodes {
		g.index[n] = int32(i)
	}
	g.succ = make([][]Edge, len(g.Nodes))
	g.to = make([][]int32, len(g.Nodes))
	ends := make([]int32, 0, len(g.Nodes))
	for i, n := range g.Nodes {
		g.succ[i] = edges[n]
		start := len(ends)
		for _, e := range g.succ[i] {
			ends = append(ends, g.index[e.To])
		}
		g.to[i] = ends[start:len(ends):len(ends)]
	}
	return g
}

// Edges returns n's outgoing edges (its dependencies) in recipe order.
func (g *Graph) Edges(n Node) []Edge {
	i, ok := g.index[n]
	if !ok || len(g.succ[i]) == 0 {
		return nil
	}
	return g.succ[i]
}

// Has reports whether n is in the graph.
func (g *Graph) Has(n Node) bool { _, ok := g.index[n]; return ok }

// Cycles returns every cycle (strongly connected component with more than
// one node, or a self-loop) as a closed path a → … → a.
func (g *Graph) Cycles() [][]Node {
	n := len(g.Nodes)
	index := make([]int32, n) // 0: not visited yet, else order of visit + 1
	low := make([]int32, n)
	on := make([]bool, n)
	var stack []int32
	var out [][]Node
	next := int32(1)
	var strong func(v int32)
	strong = func(v int32) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		on[v] = true
		for _, w := range g.to[v] {
			if index[w] == 0 {
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
			comp = append(comp, g.Nodes[w])
			if w == v {
				break
			}
		}
		if len(comp) > 1 || g.selfLoop(v) {
			out = append(out, g.cyclePath(comp))
		}
	}
	for v := range int32(n) {
		if index[v] == 0 {
			strong(v)
		}
	}
	return out
}

func (g *Graph) selfLoop(v int32) bool {
	return slices.Contains(g.to[v], v)
}

// cyclePath finds a closed walk through a strongly connected component,
// starting at its smallest node.
func (g *Graph) cyclePath(comp []Node) []Node {
	in := map[Node]bool{}
	for _, n := range comp {
		in[n] = true
	}
	slices.SortFunc(comp, compareNodes)
	start := comp[0]
	// breadth-first search from start back to start inside the component
	prev := map[Node]Node{}
	queue := []Node{start}
	seen := map[Node]bool{}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, e := range g.Edges(v) {
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
	color := make([]uint8, len(g.Nodes))
	out := make([]Node, 0, len(g.Nodes))
	var visit func(v int32) bool
	visit = func(v int32) bool {
		switch color[v] {
		case grey:
			return false
		case black:
			return true
		}
		color[v] = grey
		for _, w := range g.to[v] {
			if !visit(w) {
				return false
			}
		}
		color[v] = black
		out = append(out, g.Nodes[v])
		return true
	}
	for v := range int32(len(g.Nodes)) {
		if !visit(v) {
			g.cyclic = true
			return nil, &CycleError{g.Cycles()}
		}
	}
	g.order = out
	return out, nil
}

// depths is, by position, the number of edges on the longest dependency
// chain starting at each node (nil when the graph has a cycle).
func (g *Graph) depths() []int32 {
	order, err := g.Order()
	if err != nil {
		return nil
	}
	depth := make([]int32, len(g.Nodes))
	for _, n := range order {
		v := g.index[n]
		d := int32(0)
		for _, w := range g.to[v] {
			d = max(d, depth[w]+1)
		}
		depth[v] = d
	}
	return depth
}

// Depths returns, for every node, the number of edges on the longest
// dependency chain starting at it. The graph must be acyclic.
func (g *Graph) Depths() map[Node]int {
	depth := g.depths()
	out := make(map[Node]int, len(depth))
	for v, d := range depth {
		out[g.Nodes[v]] = int(d)
	}
	return out
}

// LongestChain returns one longest dependency chain, dependent first.
func (g *Graph) LongestChain() []Node {
	depth := g.depths()
	if depth == nil && len(g.Nodes) > 0 {
		return g.Nodes[:1:1] // a cycle: no depths, every node is at 0
	}
	best, bestD := int32(-1), int32(-1)
	for v, d := range depth {
		if d > bestD {
			best, bestD = int32(v), d
		}
	}
	if bestD < 0 {
		return nil
	}
	chain := []Node{g.Nodes[best]}
	for v := best; depth[v] > 0; {
		for _, w := range g.to[v] {
			if depth[w] == depth[v]-1 {
				v = w
				break
			}
		}
		chain = append(chain, g.Nodes[v])
	}
	return chain
}

// Dependents returns the nodes that depend on n directly, sorted.
func (g *Graph) Dependents(n Node) []Edge {
	var out []Edge
	for i, m := range g.Nodes {
		for _, e := range g.succ[i] {
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
