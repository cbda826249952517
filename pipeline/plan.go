package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cookbook"
)

// ErrUnbuildable is wrapped by a Plan's error when a recipe in the graph
// cannot be built: it does not load, or a dependency names no recipe.
var ErrUnbuildable = errors.New("cannot be built")

// Plan is what a build of some roots touches, dependencies first.
type Plan struct {
	Roots []cookbook.Node
	Graph *cookbook.Graph
	Order []cookbook.Node
	// WithPackageDeps: runtime (package) dependencies are built too.
	WithPackageDeps bool
}

// Plan collects the nodes a build of roots needs (build and dev
// dependencies; runtime ones too with withPackageDeps), in order, and
// checks that every one of them can be built.
func (p *Pipeline) Plan(roots []cookbook.Node, withPackageDeps bool) (*Plan, error) {
	tree := p.cfg.Tree
	kinds := cookbook.BuildEdge | cookbook.DevEdge
	if withPackageDeps {
		kinds |= cookbook.PackageEdge
	}
	g := tree.NewGraph(roots, kinds)
	order, err := g.Order()
	if err != nil {
		return nil, err
	}
	inGraph := map[string]bool{}
	for _, n := range order {
		if r := tree.Recipes[n.Name]; r.HasErrors() {
			return nil, fmt.Errorf("%s %w: %s", n, ErrUnbuildable, r.Diagnostics[0])
		}
		inGraph[n.Name] = true
	}
	if dangling := tree.DanglingIn(func(name string) bool { return inGraph[name] }); len(dangling) > 0 {
		var names, msgs []string
		seen := map[string]bool{}
		for _, d := range dangling {
			if !seen[d.Dep.Name] {
				seen[d.Dep.Name] = true
				names = append(names, d.Dep.Name)
			}
			msgs = append(msgs, d.String())
		}
		return nil, fmt.Errorf("%w: dependencies name no recipe (%s):\n  %s", ErrUnbuildable, strings.Join(names, ", "), strings.Join(msgs, "\n  "))
	}
	return &Plan{Roots: roots, Graph: g, Order: order, WithPackageDeps: withPackageDeps}, nil
}

// Deps are the nodes n waits for in a build: its build and dev
// dependencies, and its runtime ones when the plan builds those too.
func (pl *Plan) Deps(n cookbook.Node) []cookbook.Node {
	var deps []cookbook.Node
	for _, e := range pl.Graph.Edges(n) {
		if e.Kind != cookbook.PackageEdge || pl.WithPackageDeps {
			deps = append(deps, e.To)
		}
	}
	return deps
}

// Sources are the recipes of the plan whose sources a build needs, each
// once, in build order.
func (pl *Plan) Sources(tree *cookbook.Tree) []string {
	seen := map[string]bool{}
	var names []string
	for _, n := range pl.Order {
		r := tree.Recipes[n.Name]
		if r.Source != nil && r.Build.Template != cookbook.TemplateNone && !seen[n.Name] {
			seen[n.Name] = true
			names = append(names, n.Name)
		}
	}
	return names
}

// Step is what a dry run says of one node.
type Step struct {
	Recipe  string   `json:"recipe"`
	Build   bool     `json:"build"`
	Reasons []string `json:"reasons"`
}

// DryRun says, in build order, what a build of the plan would build and
// why, building and fetching nothing: a source that changed upstream shows
// up on the real run. Every node gets its own reasons first, then the
// dependencies it would wait for.
func (p *Pipeline) DryRun(ctx context.Context, pl *Plan, b *builder.Builder) []Step {
	rebuild := map[cookbook.Node]bool{}
	var steps []Step
	for _, n := range pl.Order {
		var after []string
		for _, e := range pl.Graph.Edges(n) {
			if rebuild[e.To] && e.Kind != cookbook.PackageEdge {
				after = append(after, e.To.String())
			}
		}
		s := Step{Recipe: n.String(), Reasons: []string{}}
		ok, in, rec, err := b.Check(ctx, n)
		switch {
		case err != nil:
			s.Build, s.Reasons = true, []string{err.Error()}
		case !ok:
			s.Build, s.Reasons = true, in.Changes(rec)
		}
		if len(after) > 0 {
			s.Build = true
			s.Reasons = append(s.Reasons, "dependencies will be rebuilt first: "+strings.Join(after, ", ")+" (unless their output is unchanged)")
		}
		rebuild[n] = s.Build
		steps = append(steps, s)
	}
	return steps
}
