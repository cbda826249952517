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
	nodes, edges := g.sorted()
	index := make(map[string]int, len(nodes))
	for i, n := range nodes {
		index[n.ID] = i
	}
	type link struct{ from, to int } // dependent → dependency
	pairs := map[link][]int{}        // edges per pair of nodes
	var order []link
	for i, e := range edges {
		l := link{index[e.From], index[e.To]}
		if l.from == l.to {
			continue
		}
		if _, ok := pairs[l]; !ok {
			order = append(order, l)
		}
		pairs[l] = append(pairs[l], i)
	}
	// Break cycles: a depth-first walk from the roots (then everything
	// else, by ID) reverses the edges that lead back into the walk.
	succ := make([][]int, len(nodes))
	for _, l := range order {
		succ[l.from] = append(succ[l.from], l.to)
	}
	reversed := map[link]bool{}
	state := make([]uint8, len(nodes))
	var starts []int
	for i, n := range nodes {
		if n.Root {
			starts = append(starts, i)
		}
	}
	for i := range nodes {
		starts = append(starts, i)
	}
	type frame struct{ v, next int }
	for _, s := range starts {
		if state[s] != 0 {
			continue
		}
		stack := []frame{{s, 0}}
		state[s] = 1
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
					reversed[link{f.v, w}] = true
				}
				continue
			}
			state[f.v] = 2
			stack = stack[:len(stack)-1]
		}
	}
	// the acyclic graph the layers are computed on
	down := make([][]int, len(nodes))
	up := make([][]int, len(nodes))
	dag := map[link]bool{}
	for _, l := range order {
		d := l
		if reversed[l] {
			d = link{l.to, l.from}
		}
		if dag[d] {
			continue
		}
		dag[d] = true
		down[d.from] = append(down[d.from], d.to)
		up[d.to] = append(up[d.to], d.from)
	}
	pinned := make([]bool, len(nodes))
	for i, n := range nodes {
		pinned[i] = n.Root
	}
	layer := longestPath(len(nodes), down, up, pinned)
	nl := 0
	for _, l := range layer {
		nl = max(nl, l+1)
	}

	// vertices: the nodes, then bend points
	vs := make([]vertex, len(nodes))
	for i, n := range nodes {
		vs[i] = vertex{node: i, layer: layer[i], w: labelWidth(n.ID)}
	}
	chains := map[link][]int{} // the vertices an edge passes, top to bottom
	for _, l := range order {
		d := l
		if reversed[l] {
			d = link{l.to, l.from}
		}
		if _, ok := chains[d]; ok {
			continue
		}
		chain := []int{d.from}
		for k := layer[d.from] + 1; k < layer[d.to]; k++ {
			vs = append(vs, vertex{node: -1, layer: k, w: 0})
			chain = append(chain, len(vs)-1)
		}
		chain = append(chain, d.to)
		for k := 0; k+1 < len(chain); k++ {
			a, b := chain[k], chain[k+1]
			vs[a].down = append(vs[a].down, b)
			vs[b].up = append(vs[b].up, a)
		}
		chains[d] = chain
	}
	layers := make([][]int, nl)
	// initial order: depth-first from the roots, so related nodes start close
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
	for _, s := range starts {
		visit(s)
	}
	for v := range vs {
		visit(v)
	}
	setPos(vs, layers)

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
	layers = best
	setPos(vs, layers)
	placeX(vs, layers)

	// to the canvas
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
	out := &Layout{Width: maxX - minX + 2*margin, Height: 2*margin + float64(max(nl, 1)-1)*layerGap + nodeHeight, Crossings: bestC}
	yOf := func(l int) float64 { return margin + float64(l)*layerGap + nodeHeight/2 }
	for i, n := range nodes {
		out.Nodes = append(out.Nodes, Placed{Node: n, X: vs[i].x + shift, Y: yOf(vs[i].layer), W: vs[i].w, H: nodeHeight, Layer: vs[i].layer})
	}
	for _, l := range order {
		d, rev := l, reversed[l]
		if rev {
			d = link{l.to, l.from}
		}
		chain := chains[d]
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
		ids := pairs[l]
		for k, ei := range ids {
			e := edges[ei]
			out.Edges = append(out.Edges, Routed{Edge: e, Points: pts, Host: nodes[index[e.To]].Host, Reversed: rev,
				Offset: (float64(k) - float64(len(ids)-1)/2) * 4})
		}
	}
	spreadPorts(out)
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
