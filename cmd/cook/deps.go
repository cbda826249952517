package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/depgraph"
)

func init() { register(newDepsCmd) }

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
			out, dg, err := depgraph.Query(tree, ns[0], mask, reverse, transitive)
			if err != nil {
				return failed(err)
			}
			if format != "text" {
				return a.writeGraph(format, dg)
			}
			if a.json {
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
