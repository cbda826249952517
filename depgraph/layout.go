package depgraph

import (
	"math"
	"sort"
	"unicode/utf8"
)

// Layout geometry, in SVG user units.
const (
	nodeHeight = 24.0
	layerGap   = 64.0 // from one layer's top to the next one's
	nodeSep    = 14.0 // between neighbours in a layer
	dummySep   = 8.0  // around a bend point of a long edge
	charWidth  = 7.0  // of the 12px label font, on average
	nodePad    = 18.0
	margin     = 16.0
	sweeps     = 16 // barycentre passes (half down, half up)
)

// Layout is where everything of a graph is drawn.
type Layout struct {
	Width, Height float64
	Nodes         []Placed // in Graph order (sorted by ID)
	Edges         []Routed
	Crossings     int // edge crossings between adjacent layers
}

// Placed is a node's box: its centre and size, and its layer.
type Placed struct {
	Node
	X, Y, W, H float64
	Layer      int
}

// Routed is an edge's route: from the bottom of its dependent through the
// bend points of the layers it crosses to the top of its dependency.
type Routed struct {
	Edge
	Points   [][2]float64
	Host     bool // into a host: node
	Reversed bool // drawn against the layers, to break a cycle
	Offset   float64
}

// vertex is a real node or a bend point of an edge spanning several layers.
type vertex struct {
	node  int // index in nodes, or -1 for a bend point
	layer int
	w     float64
	x     float64
	pos   int   // index in its layer
	up    []int // neighbours in the layer above
	down  []int // neighbours in the layer below
}

// Lay out g: layers by longest path from the roots (a dependency is always
// below every dependent), edges spanning layers broken by bend points, the
// order within each layer by repeated barycentre sweeps keeping the order
// with the fewest crossings, and x positions that pull each node towards
// the mean of its neighbours without overlaps (isotonic regression per
// layer, in alternating sweeps).
func Lay(g Graph) *Layout {
	s := newLayering(g)
	s.breakCycles()
	s.assignLayers()
	s.addBendPoints()
	s.orderLayers()
	placeX(s.vs, s.layers)
	out := s.toCanvas()
	spreadPorts(out)
	return out
}

// link is a pair of distinct nodes, dependent → dependency.
type link struct{ from, to int }

// layering carries a graph through Lay's steps.
type layering struct {
	nodes []Node
	edges []Edge
	index map[string]int // node ID → index in nodes
	order []link         // the distinct pairs, in edge order
	pairs map[link][]int // the edges of each pair
	// starts are where depth-first walks begin: the roots, then every node.
	starts    []int
	reversed  map[link]bool  // the pairs drawn against the layers
	layer     []int          // of each node
	vs        []vertex       // the nodes, then bend points
	chains    map[link][]int // the vertices a drawn pair passes, top to bottom
	layers    [][]int        // the vertices of each layer, in order
	crossings int
}

func newLayering(g Graph) *layering {
	nodes, edges := g.sorted()
	s := &layering{nodes: nodes, edges: edges, index: make(map[string]int, len(nodes)), pairs: map[link][]int{}}
	for i, n := range nodes {
		s.index[n.ID] = i
	}
	for i, e := range edges {
		l := link{s.index[e.From], s.index[e.To]}
		if l.from == l.to {
			continue
		}
		if _, ok := s.pairs[l]; !ok {
			s.order = append(s.order, l)
		}
		s.pairs[l] = append(s.pairs[l], i)
	}
	for i, n := range nodes {
		if n.Root {
			s.starts = append(s.starts, i)
		}
	}
	for i := range nodes {
		s.starts = append(s.starts, i)
	}
	return s
}

// drawn is l as the layers see it: turned round if it closes a cycle.
func (s *layering) drawn(l link) link {
	if s.reversed[l] {
		return link{l.to, l.from}
	}
	return l
}

// breakCycles reverses the edges that lead back into a depth-first walk
// from the roots (then everything else, by ID).
func (s *layering) breakCycles() {
	succ := make([][]int, len(s.nodes))
	for _, l := range s.order {
		succ[l.from] = append(succ[l.from], l.to)
	}
	s.reversed = map[link]bool{}
	state := make([]uint8, len(s.nodes)) // 0 unseen, 1 on the walk, 2 done
	type frame struct{ v, next int }
	for _, start := range s.starts {
		if state[start] != 0 {
			continue
		}
		stack := []frame{{start, 0}}
		state[start] = 1
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next < len(succ[f.v]) {
				w := succ[f.v][f.next]
				f.next++
				switch state[w] {
				case 0:
					state[w] = 1
					stack = append(stack, frame{w, 0})
				case 1:
					s.reversed[link{f.v, w}] = true
				}
				continue
			}
			state[f.v] = 2
			stack = stack[:len(stack)-1]
		}
	}
}

// assignLayers gives every node its layer by longest path in the acyclic
// graph, the roots pinned to the top, and makes the (empty) layers.
func (s *layering) assignLayers() {
	down := make([][]int, len(s.nodes))
	up := make([][]int, len(s.nodes))
	dag := map[link]bool{}
	for _, l := range s.order {
		d := s.drawn(l)
		if dag[d] {
			continue
		}
		dag[d] = true
		down[d.from] = append(down[d.from], d.to)
		up[d.to] = append(up[d.to], d.from)
	}
	pinned := make([]bool, len(s.nodes))
	for i, n := range s.nodes {
		pinned[i] = n.Root
	}
	s.layer = longestPath(len(s.nodes), down, up, pinned)
	nl := 0
	for _, l := range s.layer {
		nl = max(nl, l+1)
	}
	s.layers = make([][]int, nl)
}

// addBendPoints makes a vertex of every node and of every layer a drawn
// pair crosses, and links them into chains.
func (s *layering) addBendPoints() {
	s.vs = make([]vertex, len(s.nodes))
	for i, n := range s.nodes {
		s.vs[i] = vertex{node: i, layer: s.layer[i], w: labelWidth(n.ID)}
	}
	s.chains = map[link][]int{}
	for _, l := range s.order {
		d := s.drawn(l)
		if _, ok := s.chains[d]; ok {
			continue
		}
		chain := []int{d.from}
		for k := s.layer[d.from] + 1; k < s.layer[d.to]; k++ {
			s.vs = append(s.vs, vertex{node: -1, layer: k, w: 0})
			chain = append(chain, len(s.vs)-1)
		}
		chain = append(chain, d.to)
		for k := 0; k+1 < len(chain); k++ {
			a, b := chain[k], chain[k+1]
			s.vs[a].down = append(s.vs[a].down, b)
			s.vs[b].up = append(s.vs[b].up, a)
		}
		s.chains[d] = chain
	}
}

// orderLayers orders each layer: depth-first from the roots first, so
// related nodes start close, then barycentre sweeps down and up, keeping
// the order with the fewest crossings.
func (s *layering) orderLayers() {
	vs, layers := s.vs, s.layers
	seen := make([]bool, len(vs))
	var visit func(v int)
	visit = func(v int) {
		if seen[v] {
			return
		}
		seen[v] = true
		layers[vs[v].layer] = append(layers[vs[v].layer], v)
		for _, w := range vs[v].down {
			visit(w)
		}
	}
	for _, start := range s.starts {
		visit(start)
	}
	for v := range vs {
		visit(v)
	}
	setPos(vs, layers)

	nl := len(layers)
	best := cloneLayers(layers)
	bestC := crossings(vs, layers)
	for it := 0; it < sweeps && bestC > 0; it++ {
		if it%2 == 0 {
			for k := 1; k < nl; k++ {
				sortByBarycentre(vs, layers[k], func(v *vertex) []int { return v.up })
				setPos(vs, layers[k:k+1])
			}
		} else {
			for k := nl - 2; k >= 0; k-- {
				sortByBarycentre(vs, layers[k], func(v *vertex) []int { return v.down })
				setPos(vs, layers[k:k+1])
			}
		}
		if c := crossings(vs, layers); c < bestC {
			best, bestC = cloneLayers(layers), c
		}
	}
	s.layers, s.crossings = best, bestC
	setPos(vs, s.layers)
}

// toCanvas shifts the placed vertices into the margins and routes every
// edge along its pair's chain, parallel edges offset apart.
func (s *layering) toCanvas() *Layout {
	vs := s.vs
	minX := math.Inf(1)
	maxX := math.Inf(-1)
	for _, v := range vs {
		minX = min(minX, v.x-v.w/2)
		maxX = max(maxX, v.x+v.w/2)
	}
	if len(vs) == 0 {
		minX, maxX = 0, 0
	}
	shift := margin - minX
	nl := len(s.layers)
	out := &Layout{Width: maxX - minX + 2*margin, Height: 2*margin + float64(max(nl, 1)-1)*layerGap + nodeHeight, Crossings: s.crossings}
	yOf := func(l int) float64 { return margin + float64(l)*layerGap + nodeHeight/2 }
	for i, n := range s.nodes {
		out.Nodes = append(out.Nodes, Placed{Node: n, X: vs[i].x + shift, Y: yOf(vs[i].layer), W: vs[i].w, H: nodeHeight, Layer: vs[i].layer})
	}
	for _, l := range s.order {
		rev := s.reversed[l]
		chain := s.chains[s.drawn(l)]
		pts := make([][2]float64, 0, len(chain))
		for k, v := range chain {
			y := yOf(vs[v].layer)
			switch {
			case k == 0:
				y += nodeHeight / 2
			case k == len(chain)-1:
				y -= nodeHeight / 2
			}
			pts = append(pts, [2]float64{vs[v].x + shift, y})
		}
		if rev { // drawn from the dependent to the dependency all the same
			for a, b := 0, len(pts)-1; a < b; a, b = a+1, b-1 {
				pts[a], pts[b] = pts[b], pts[a]
			}
		}
		ids := s.pairs[l]
		for k, ei := range ids {
			e := s.edges[ei]
			out.Edges = append(out.Edges, Routed{Edge: e, Points: pts, Host: s.nodes[s.index[e.To]].Host, Reversed: rev,
				Offset: (float64(k) - float64(len(ids)-1)/2) * 4})
		}
	}
	return out
}

// spreadPorts spreads the ends of the edges meeting one side of a node
// along it, ordered by where each edge goes, so arrows do not pile up.
func spreadPorts(l *Layout) {
	type end struct {
		edge, pt int
		other    float64
	}
	byID := make(map[string]int, len(l.Nodes))
	for i, n := range l.Nodes {
		byID[n.ID] = i
	}
	sides := map[[2]int][]end{} // (node, 0 top / 1 bottom)
	for i, e := range l.Edges {
		last := len(e.Points) - 1
		if last < 1 {
			continue
		}
		for _, k := range []struct {
			id         string
			pt, toward int
		}{{e.From, 0, 1}, {e.To, last, last - 1}} {
			n := l.Nodes[byID[k.id]]
			side := 0
			if e.Points[k.pt][1] > n.Y {
				side = 1
			}
			key := [2]int{byID[k.id], side}
			sides[key] = append(sides[key], end{i, k.pt, e.Points[k.toward][0]})
		}
	}
	for key, ends := range sides {
		n := l.Nodes[key[0]]
		sort.SliceStable(ends, func(i, j int) bool { return ends[i].other < ends[j].other })
		span := min(n.W*0.7, float64(len(ends)-1)*8)
		for k, e := range ends {
			x := n.X
			if len(ends) > 1 {
				x = n.X - span/2 + span*float64(k)/float64(len(ends)-1)
			}
			// routes are shared by parallel edges: give this one its own copy
			pts := append([][2]float64(nil), l.Edges[e.edge].Points...)
			pts[e.pt][0] = x
			l.Edges[e.edge].Points = pts
		}
	}
}

func labelWidth(s string) float64 {
	return float64(utf8.RuneCountInString(s))*charWidth + nodePad
}

// longestPath gives every node the length of the longest path to it from a
// node nothing depends on; such a node, unless pinned (a root), is then
// moved down next to its highest dependency, so its edges stay short.
func longestPath(n int, down, up [][]int, pinned []bool) []int {
	indeg := make([]int, n)
	for v := range n {
		indeg[v] = len(up[v])
	}
	var queue, topo []int
	for v := range n {
		if indeg[v] == 0 {
			queue = append(queue, v)
		}
	}
	layer := make([]int, n)
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		topo = append(topo, v)
		for _, w := range down[v] {
			layer[w] = max(layer[w], layer[v]+1)
			if indeg[w]--; indeg[w] == 0 {
				queue = append(queue, w)
			}
		}
	}
	for i := len(topo) - 1; i >= 0; i-- {
		v := topo[i]
		if len(up[v]) > 0 || len(down[v]) == 0 || pinned[v] {
			continue
		}
		lowest := math.MaxInt
		for _, w := range down[v] {
			lowest = min(lowest, layer[w])
		}
		layer[v] = max(layer[v], lowest-1)
	}
	return layer
}

func setPos(vs []vertex, layers [][]int) {
	for _, l := range layers {
		for i, v := range l {
			vs[v].pos = i
		}
	}
}

func cloneLayers(layers [][]int) [][]int {
	out := make([][]int, len(layers))
	for i, l := range layers {
		out[i] = append([]int(nil), l...)
	}
	return out
}

// sortByBarycentre orders a layer by the mean position of each vertex's
// neighbours in the fixed layer; one without neighbours keeps its place.
func sortByBarycentre(vs []vertex, layer []int, nbrs func(*vertex) []int) {
	key := make(map[int]float64, len(layer))
	for _, v := range layer {
		ns := nbrs(&vs[v])
		if len(ns) == 0 {
			key[v] = float64(vs[v].pos)
			continue
		}
		sum := 0.0
		for _, w := range ns {
			sum += float64(vs[w].pos)
		}
		key[v] = sum / float64(len(ns))
	}
	sort.SliceStable(layer, func(i, j int) bool { return key[layer[i]] < key[layer[j]] })
}

// crossings counts the edge crossings between every pair of adjacent
// layers: edges sorted by their upper end, crossings are the inversions of
// their lower ends.
func crossings(vs []vertex, layers [][]int) int {
	total := 0
	for k := 0; k+1 < len(layers); k++ {
		var ends [][2]int
		for _, v := range layers[k] {
			for _, w := range vs[v].down {
				ends = append(ends, [2]int{vs[v].pos, vs[w].pos})
			}
		}
		sort.Slice(ends, func(i, j int) bool {
			if ends[i][0] != ends[j][0] {
				return ends[i][0] < ends[j][0]
			}
			return ends[i][1] < ends[j][1]
		})
		lower := make([]int, len(ends))
		for i, e := range ends {
			lower[i] = e[1]
		}
		total += inversions(lower)
	}
	return total
}

// inversions counts pairs i < j with a[i] > a[j] (merge sort; a is sorted).
func inversions(a []int) int {
	if len(a) < 2 {
		return 0
	}
	mid := len(a) / 2
	left := append([]int(nil), a[:mid]...)
	right := append([]int(nil), a[mid:]...)
	n := inversions(left) + inversions(right)
	i, j, k := 0, 0, 0
	for i < len(left) && j < len(right) {
		if left[i] <= right[j] {
			a[k] = left[i]
			i++
		} else {
			a[k] = right[j]
			j++
			n += len(left) - i
		}
		k++
	}
	for ; i < len(left); i, k = i+1, k+1 {
		a[k] = left[i]
	}
	for ; j < len(right); j, k = j+1, k+1 {
		a[k] = right[j]
	}
	return n
}

// gap is the least distance between the centres of two neighbours.
func gap(a, b *vertex) float64 {
	sep := nodeSep
	if a.node < 0 || b.node < 0 {
		sep = dummySep
	}
	return a.w/2 + sep + b.w/2
}

// placeX packs each layer, then sweeps down and up a few times moving every
// vertex as near as the order allows to the mean x of its neighbours in the
// layer just placed (both layers in the last rounds).
func placeX(vs []vertex, layers [][]int) {
	for _, l := range layers {
		x := 0.0
		for i, v := range l {
			if i > 0 {
				x += gap(&vs[l[i-1]], &vs[v])
			}
			vs[v].x = x
		}
	}
	const rounds = 8
	for r := 0; r < rounds; r++ {
		both := r >= rounds-2
		if r%2 == 0 {
			for k := 1; k < len(layers); k++ {
				align(vs, layers[k], func(v *vertex) []int {
					if both {
						return append(append([]int(nil), v.up...), v.down...)
					}
					return v.up
				})
			}
		} else {
			for k := len(layers) - 2; k >= 0; k-- {
				align(vs, layers[k], func(v *vertex) []int {
					if both {
						return append(append([]int(nil), v.up...), v.down...)
					}
					return v.down
				})
			}
		}
	}
}

// align places one layer: the positions closest (least squares) to each
// vertex's wish — its neighbours' mean x — that keep the order and the
// gaps. Subtracting each vertex's cumulative gap turns the gaps into a
// plain ordering, solved by pooling adjacent violators.
func align(vs []vertex, layer []int, nbrs func(*vertex) []int) {
	n := len(layer)
	if n == 0 {
		return
	}
	off := make([]float64, n)
	want := make([]float64, n)
	weight := make([]float64, n)
	for i, v := range layer {
		if i > 0 {
			off[i] = off[i-1] + gap(&vs[layer[i-1]], &vs[v])
		}
		ns := nbrs(&vs[v])
		w := vs[v].x
		if len(ns) > 0 {
			sum := 0.0
			for _, u := range ns {
				sum += vs[u].x
			}
			w = sum / float64(len(ns))
		}
		want[i] = w - off[i]
		weight[i] = 1
		if vs[v].node < 0 {
			weight[i] = 2 // long edges straight
		}
		if len(ns) == 0 {
			weight[i] = 0.25
		}
	}
	// pool adjacent violators: blocks of equal value, non-decreasing
	type block struct {
		sum, w float64
		n      int
	}
	var blocks []block
	for i := range n {
		blocks = append(blocks, block{want[i] * weight[i], weight[i], 1})
		for len(blocks) > 1 {
			a, b := blocks[len(blocks)-2], blocks[len(blocks)-1]
			if a.sum/a.w <= b.sum/b.w {
				break
			}
			blocks = blocks[:len(blocks)-2]
			blocks = append(blocks, block{a.sum + b.sum, a.w + b.w, a.n + b.n})
		}
	}
	i := 0
	for _, b := range blocks {
		val := b.sum / b.w
		for range b.n {
			vs[layer[i]].x = val + off[i]
			i++
		}
	}
}
