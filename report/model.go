// Package report shows where a build's time went, from what `cook build --json` prints, as a self-contained HTML page or as Chrome trace-event JSON for Perfetto and chrome://tracing.
package report

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

// Node statuses, as build reports them.
const (
	Built        = "built"
	Cached       = "cached"
	RemoteCached = "remote-cached"
	Failed       = "failed"
	Skipped      = "skipped"
)

// Run phases, in the order a build goes through them.
const (
	FetchPhase = "fetch" // sources fetched and verified, -j at a time
	CheckPhase = "check" // what is up to date found in one pass
	BuildPhase = "build" // the scheduler runs the rest
)

// Build is one run of cook build: what `cook build --json` prints.
type Build struct {
	Target string    `json:"target,omitempty"`
	Jobs   int       `json:"jobs,omitempty"` // -j
	Start  time.Time `json:"start,omitzero"`
	// Seconds is the wall-clock time of the run, from Start.
	Seconds float64 `json:"seconds,omitempty"`
	// Phases are the run's steps: fetch, check and build.
	Phases  []Phase `json:"phases,omitempty"`
	Results []Node  `json:"results"`
}

// Node is what happened to one node of the graph.
type Node struct {
	Recipe   string  `json:"recipe"` // the node: "name" or "host:name"
	Target   string  `json:"target"`
	Status   string  `json:"status"`
	Seconds  float64 `json:"seconds"`
	Stage    string  `json:"stage"`
	Package  string  `json:"package"`
	Key      string  `json:"key"`
	Output   string  `json:"output"`
	Log      string  `json:"log"`
	Error    string  `json:"error"`
	Hermetic bool    `json:"hermetic"`
	// Start and End bound the node's job; both are zero for a node found
	// up to date before scheduling or never started.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Wait is how long, in seconds, the node was ready to start (its
	// dependencies done) with no free job slot.
	Wait float64 `json:"wait"`
	// Deps are the nodes it had to wait for: its build and dev dependencies
	// (and package ones with --with-package-deps).
	Deps []string `json:"deps,omitempty"`
	// Cause names the failed dependency of a skipped node.
	Cause string `json:"cause,omitempty"`
	// Phases are the timed steps of the node: fetch (before its job
	// starts), then sysroot, script and package, or restore.
	Phases []Phase `json:"phases,omitempty"`
}

// Phase is one timed step.
type Phase struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Ran reports whether the node's job started.
func (n *Node) Ran() bool { return !n.Start.IsZero() }

// Duration is how long the node's job ran.
func (n *Node) Duration() time.Duration {
	if !n.Ran() {
		return 0
	}
	return n.End.Sub(n.Start)
}

// Phase returns the node's phase called name, if it has one.
func (n *Node) Phase(name string) (Phase, bool) {
	for _, p := range n.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return Phase{}, false
}

// ErrInvalid is wrapped by every error Check finds in a build's data.
var ErrInvalid = errors.New("invalid build data")

// maxInput bounds what Read accepts: a build of every upstream recipe is a
// few MiB.
const maxInput = 256 << 20

// Read decodes and checks a saved `cook build --json` output; name is used
// in errors.
func Read(r io.Reader, name string) (*Build, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("%s: larger than %d MiB: %w", name, maxInput>>20, ErrInvalid)
	}
	var b Build
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&b); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, fmt.Errorf("%s:%d: %v: %w", name, lineAt(data, syn.Offset), err, ErrInvalid)
		case errors.As(err, &typ):
			return nil, fmt.Errorf("%s:%d: %v: %w", name, lineAt(data, typ.Offset), err, ErrInvalid)
		}
		return nil, fmt.Errorf("%s: %v: %w", name, err, ErrInvalid)
	}
	if b.Results == nil {
		return nil, fmt.Errorf("%s: no \"results\": not the output of cook build --json: %w", name, ErrInvalid)
	}
	if err := b.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &b, nil
}

func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// Check reports data that cannot describe a build: unnamed or repeated
// nodes, times running backwards, dependencies on nodes the build does not
// have, or a dependency cycle.
func (b *Build) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalid)
	}
	if b.Jobs < 0 {
		return bad("jobs %d is negative", b.Jobs)
	}
	if b.Seconds < 0 || b.Seconds != b.Seconds {
		return bad("seconds %v is not a duration", b.Seconds)
	}
	for _, p := range b.Phases {
		if p.End.Before(p.Start) {
			return bad("run phase %q ends before it starts", p.Name)
		}
	}
	seen := make(map[string]bool, len(b.Results))
	for i, n := range b.Results {
		if n.Recipe == "" {
			return bad("result %d names no recipe", i+1)
		}
		if seen[n.Recipe] {
			return bad("%s is listed twice", n.Recipe)
		}
		seen[n.Recipe] = true
		if n.Start.IsZero() != n.End.IsZero() {
			return bad("%s has a start or an end but not both", n.Recipe)
		}
		if n.End.Before(n.Start) {
			return bad("%s ends before it starts", n.Recipe)
		}
		if n.Wait < 0 || n.Wait != n.Wait {
			return bad("%s: wait %v is not a duration", n.Recipe, n.Wait)
		}
		for _, p := range n.Phases {
			if p.End.Before(p.Start) {
				return bad("%s: phase %q ends before it starts", n.Recipe, p.Name)
			}
		}
	}
	for _, n := range b.Results {
		for _, d := range n.Deps {
			if !seen[d] {
				return bad("%s depends on %s, which the build does not list", n.Recipe, d)
			}
		}
	}
	if _, err := b.order(); err != nil {
		return err
	}
	return nil
}

// order returns the indexes of Results with every node after its
// dependencies, ties kept in Results order, or an error for a cycle.
func (b *Build) order() ([]int, error) {
	index := make(map[string]int, len(b.Results))
	for i, n := range b.Results {
		index[n.Recipe] = i
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(b.Results))
	out := make([]int, 0, len(b.Results))
	// iterative DFS: a crafted file may hold a very deep chain
	type frame struct{ node, next int }
	for root := range b.Results {
		if color[root] != white {
			continue
		}
		stack := []frame{{root, 0}}
		color[root] = grey
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			deps := b.Results[top.node].Deps
			if top.next < len(deps) {
				d, ok := index[deps[top.next]]
				top.next++
				if !ok {
					continue
				}
				switch color[d] {
				case grey:
					return nil, fmt.Errorf("%s and %s depend on each other: %w", b.Results[top.node].Recipe, b.Results[d].Recipe, ErrInvalid)
				case white:
					color[d] = grey
					stack = append(stack, frame{d, 0})
				}
				continue
			}
			color[top.node] = black
			out = append(out, top.node)
			stack = stack[:len(stack)-1]
		}
	}
	return out, nil
}

// CriticalPath is the chain of dependencies whose jobs take longest end to
// end: no number of jobs makes the build phase shorter than its length. It
// is listed dependency first; nodes on it that took no time (found up to
// date, skipped) are left out.
func (b *Build) CriticalPath() ([]string, time.Duration) {
	order, err := b.order()
	if err != nil || len(order) == 0 {
		return nil, 0
	}
	index := make(map[string]int, len(b.Results))
	for i, n := range b.Results {
		index[n.Recipe] = i
	}
	dist := make([]time.Duration, len(b.Results))
	prev := make([]int, len(b.Results))
	for _, i := range order {
		prev[i] = -1
		var best time.Duration
		for _, d := range b.Results[i].Deps {
			j, ok := index[d]
			if !ok {
				continue
			}
			if dist[j] > best || dist[j] == best && prev[i] >= 0 && b.Results[j].Recipe < b.Results[prev[i]].Recipe {
				best, prev[i] = dist[j], j
			}
		}
		dist[i] = best + b.Results[i].Duration()
	}
	end := -1
	for _, i := range order {
		if end < 0 || dist[i] > dist[end] || dist[i] == dist[end] && b.Results[i].Recipe < b.Results[end].Recipe {
			end = i
		}
	}
	if dist[end] == 0 {
		return nil, 0
	}
	var path []string
	for i := end; i >= 0; i = prev[i] {
		if b.Results[i].Duration() > 0 {
			path = append(path, b.Results[i].Recipe)
		}
	}
	for l, r := 0, len(path)-1; l < r; l, r = l+1, r-1 {
		path[l], path[r] = path[r], path[l]
	}
	return path, dist[end]
}

// span is one interval placed on a job slot.
type span struct {
	name       string
	start, end time.Time
	node       int    // index in Results
	kind       string // "node" or "fetch"
}

// slots places every node's job and every fetch on a job slot: spans are
// taken in order of start (then end, then name) and each goes to the lowest
// slot free at its start. A build run with -j N needs at most N slots.
func (b *Build) slots() (spans []span, slot []int, n int) {
	for i, nd := range b.Results {
		if nd.Ran() {
			spans = append(spans, span{name: nd.Recipe, start: nd.Start, end: nd.End, node: i, kind: "node"})
		}
		if p, ok := nd.Phase(FetchPhase); ok {
			spans = append(spans, span{name: nd.Recipe, start: p.Start, end: p.End, node: i, kind: "fetch"})
		}
	}
	sort.SliceStable(spans, func(i, j int) bool {
		a, c := spans[i], spans[j]
		if !a.start.Equal(c.start) {
			return a.start.Before(c.start)
		}
		if !a.end.Equal(c.end) {
			return a.end.Before(c.end)
		}
		if a.kind != c.kind {
			return a.kind < c.kind
		}
		return a.name < c.name
	})
	// Spans come by start, so a slot whose last end is not after one
	// span's start stays free for every later span: the slots in use wait
	// in a heap by end, the free ones in a heap by number.
	var busy busySlots
	var free freeSlots
	slot = make([]int, len(spans))
	for i, s := range spans {
		for len(busy) > 0 && !busy[0].end.After(s.start) {
			heap.Push(&free, heap.Pop(&busy).(busySlot).slot)
		}
		k := n
		if len(free) > 0 {
			k = heap.Pop(&free).(int)
		} else {
			n++
		}
		heap.Push(&busy, busySlot{s.end, k})
		slot[i] = k
	}
	return spans, slot, n
}

// busySlot is a job slot in use until end.
type busySlot struct {
	end  time.Time
	slot int
}

// busySlots is a min-heap of slots in use by end.
type busySlots []busySlot

func (h busySlots) Len() int           { return len(h) }
func (h busySlots) Less(i, j int) bool { return h[i].end.Before(h[j].end) }
func (h busySlots) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *busySlots) Push(x any)        { *h = append(*h, x.(busySlot)) }
func (h *busySlots) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// freeSlots is a min-heap of free slot numbers.
type freeSlots []int

func (h freeSlots) Len() int           { return len(h) }
func (h freeSlots) Less(i, j int) bool { return h[i] < h[j] }
func (h freeSlots) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *freeSlots) Push(x any)        { *h = append(*h, x.(int)) }
func (h *freeSlots) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// bounds is the time the report covers: from the run's start (or the
// earliest time recorded) to the latest.
func (b *Build) bounds() (from, to time.Time) {
	see := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if from.IsZero() || t.Before(from) {
			from = t
		}
		if to.IsZero() || t.After(to) {
			to = t
		}
	}
	see(b.Start)
	for _, p := range b.Phases {
		see(p.Start)
		see(p.End)
	}
	for _, n := range b.Results {
		see(n.Start)
		see(n.End)
		for _, p := range n.Phases {
			see(p.Start)
			see(p.End)
		}
	}
	if !b.Start.IsZero() && b.Seconds > 0 && b.Seconds < 1e9 {
		see(b.Start.Add(time.Duration(b.Seconds * float64(time.Second))))
	}
	return from, to
}

// runPhase returns the run's phase called name.
func (b *Build) runPhase(name string) (Phase, bool) {
	for _, p := range b.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return Phase{}, false
}
