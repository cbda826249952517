package pipeline

import (
	"encoding/json"
	"sort"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cookbook"
)

// FetchSelection is the recipes cook fetch covers, sorted and without
// duplicates: roots (with all, every recipe of the tree upstream loads),
// and with withDeps everything they depend on through any edge. Names no
// recipe answers to are left out (cook check reports them).
func FetchSelection(tree *cookbook.Tree, roots []cookbook.Node, all, withDeps bool) []string {
	if all {
		roots = nil
		for _, n := range tree.Names {
			roots = append(roots, cookbook.Node{Name: n})
		}
	}
	if withDeps {
		roots = tree.NewGraph(roots, cookbook.AllEdges).Nodes
	}
	seen := map[string]bool{}
	var names []string
	for _, n := range roots {
		r, ok := tree.Recipes[n.Name]
		if !ok || seen[n.Name] || (all && r.HasErrors()) {
			continue
		}
		seen[n.Name] = true
		names = append(names, n.Name)
	}
	sort.Strings(names)
	return names
}

// MarshalJSON writes the outcome as cook fetch --json prints it: recipe,
// status ("failed" or the fetch status), source, ident and error.
func (o FetchOutcome) MarshalJSON() ([]byte, error) {
	j := struct {
		Recipe string `json:"recipe"`
		Status string `json:"status"`
		Source string `json:"source"`
		Ident  string `json:"ident"`
		Error  string `json:"error"`
	}{Recipe: o.Recipe}
	switch {
	case o.Err != nil:
		j.Status, j.Error = "failed", o.Err.Error()
	case o.Result != nil:
		j.Status, j.Source = string(o.Result.Status), o.Result.Source
		if o.Result.Info != nil {
			j.Ident = o.Result.Info.SourceIdentifier
		}
	}
	return json.Marshal(j)
}

// Count counts the run's nodes by status.
func (r *BuildRun) Count() map[builder.Status]int {
	count := map[builder.Status]int{}
	for _, o := range r.Outcomes {
		count[o.Status]++
	}
	return count
}

// Slowest returns up to n of the nodes built (not restored) in this run,
// slowest first.
func (r *BuildRun) Slowest(n int) []builder.Outcome {
	var built []builder.Outcome
	for _, o := range r.Outcomes {
		if o.Status == builder.Built {
			built = append(built, o)
		}
	}
	sort.SliceStable(built, func(i, j int) bool { return built[i].Duration > built[j].Duration })
	return built[:min(n, len(built))]
}

// Skipped returns the nodes not built because a dependency failed or the
// run stopped.
func (r *BuildRun) Skipped() []cookbook.Node {
	var out []cookbook.Node
	for _, o := range r.Outcomes {
		if o.Status == builder.Skipped {
			out = append(out, o.Node)
		}
	}
	return out
}
