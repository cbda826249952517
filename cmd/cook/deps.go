package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/depgraph"
)

func init() { register(newDepsCmd) }

type depJSON struct {
	Recipe string `json:"recipe"`
	Kind   string `json:"kind"`
	Dep    string `json:"dep"`
}

func newDepsCmd(a *app) *cobra.Command {
	var reverse, transitive bool
	var kinds []string
	var format string
	cmd := &cobra.Command{
		Use:   "deps [--reverse] RECIPE",
		Short: "List a recipe's dependencies, or with --reverse the recipes that depend on it",
		Long: `deps lists a recipe's direct dependencies with the kind of each edge (build,
dev or package), or with --transitive everything below it; --reverse lists what
depends on it instead. --format dot writes the same nodes and the edges between
them for graphviz, --format svg draws them.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mask, err := cookbook.ParseEdgeKinds(kinds)
			if err != nil {
				return usageErr(fmt.Errorf("--edges: %w", err))
			}
			if err := a.checkFormat(format); err != nil {
				return err
			}
			tree, ns, err := a.loadNodes(cmd.Context(), args)
			if err != nil {
				return err
			}
			target := ns[0]
			var out []depJSON
			if !reverse {
				g := tree.NewGraph(ns, mask)
				if transitive {
					order, err := g.Order()
					if err != nil {
						return failed(err)
					}
					for _, n := range order {
						if n != target {
							out = append(out, depJSON{Recipe: n.String()})
						}
					}
				} else {
					for _, e := range g.Edges(target) {
						out = append(out, depJSON{Recipe: e.To.String(), Kind: e.Kind.String(), Dep: e.Dep.String()})
					}
				}
			} else {
				g := tree.NewGraph(nil, mask)
				// host nodes are reached only through host: edges; include them as roots too
				direct := g.Dependents(target)
				if !transitive {
					for _, e := range direct {
						out = append(out, depJSON{Recipe: e.To.String(), Kind: e.Kind.String(), Dep: e.Dep.String()})
					}
				} else {
					seen := map[cookbook.Node]bool{target: true}
					queue := []cookbook.Node{target}
					for len(queue) > 0 {
						n := queue[0]
						queue = queue[1:]
						for _, e := range g.Dependents(n) {
							if !seen[e.To] {
								seen[e.To] = true
								queue = append(queue, e.To)
								out = append(out, depJSON{Recipe: e.To.String()})
							}
						}
					}
					sort.Slice(out, func(i, j int) bool { return out[i].Recipe < out[j].Recipe })
				}
			}
			if format != "text" {
				// the nodes listed and the target, with the edges between them
				// (direct: only the target's own)
				in := map[string]bool{target.String(): true}
				for _, d := range out {
					in[d.Recipe] = true
				}
				g := tree.NewGraph(ns, mask)
				if reverse {
					g = tree.NewGraph(nil, mask)
				}
				dg := depgraph.New(g, ns).Only(func(e depgraph.Edge) bool {
					if !in[e.From] || !in[e.To] {
						return false
					}
					if transitive {
						return true
					}
					if reverse {
						return e.To == target.String()
					}
					return e.From == target.String()
				})
				return a.writeGraph(format, dg)
			}
			if a.json {
				if out == nil {
					out = []depJSON{}
				}
				return a.printJSON(out)
			}
			for _, d := range out {
				if d.Kind != "" {
					a.printf("%s\t[%s]\n", d.Recipe, d.Kind)
				} else {
					a.printf("%s\n", d.Recipe)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&reverse, "reverse", false, "list the recipes that depend on RECIPE")
	cmd.Flags().BoolVar(&transitive, "transitive", false, "follow dependencies all the way (default: direct ones only)")
	cmd.Flags().StringSliceVar(&kinds, "edges", []string{"build", "dev", "package"}, "edge kinds to follow: build, dev, package")
	addFormatFlag(cmd, &format)
	return cmd
}
