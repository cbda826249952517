package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/depgraph"
)

func init() { register(newTreeCmd) }

func newTreeCmd(a *app) *cobra.Command {
	var kinds []string
	var format string
	cmd := &cobra.Command{
		Use:   "tree RECIPE...",
		Short: "Show the dependency tree (build, dev and package edges marked)",
		Long: `tree prints each recipe's dependencies as a tree. Every edge is marked with the
list it comes from: build (build.dependencies), dev (build.dev-dependencies) or
package (package.dependencies, runtime). host: dependencies are recipes built for the
build machine; upstream's host mapping applies below them. A dependency already
shown is marked (*) and not expanded again. --format dot writes the graph for
graphviz, --format svg draws it (no external program needed).`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mask, err := cookbook.ParseEdgeKinds(kinds)
			if err != nil {
				return usageErr(fmt.Errorf("--edges: %w", err))
			}
			if err := a.checkFormat(format); err != nil {
				return err
			}
			tree, roots, err := a.loadNodes(cmd.Context(), args)
			if err != nil {
				return err
			}
			g := tree.NewGraph(roots, mask)
			if format != "text" {
				return a.writeGraph(format, depgraph.New(g, roots))
			}
			if a.json {
				out := make([]depgraph.TreeNode, 0, len(roots))
				for _, r := range roots {
					out = append(out, depgraph.Tree(g, r))
				}
				return a.printJSON(out)
			}
			for _, r := range roots {
				if err := depgraph.WriteText(a.stdout, g, r); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&kinds, "edges", []string{"build", "dev", "package"}, "edge kinds to follow: build, dev, package")
	addFormatFlag(cmd, &format)
	return cmd
}

func addFormatFlag(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVar(format, "format", "text", "text, dot (graphviz) or svg (a picture, laid out by cook)")
}

// checkFormat validates --format (text, dot or svg; --json only with text).
func (a *app) checkFormat(format string) error {
	switch format {
	case "text":
		return nil
	case "dot", "svg":
		if a.json {
			return usageErr(fmt.Errorf("--format %s and --json: choose one", format))
		}
		return nil
	}
	return usageErr(fmt.Errorf("--format: unknown format %q (want text, dot or svg)", format))
}

// writeGraph writes g to stdout as dot or svg.
func (a *app) writeGraph(format string, g depgraph.Graph) error {
	if format == "dot" {
		return depgraph.WriteDot(a.stdout, g)
	}
	return depgraph.WriteSVG(a.stdout, g)
}
