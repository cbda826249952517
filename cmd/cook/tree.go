package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/depgraph"
)

func init() { register(newTreeCmd) }

type treeJSON struct {
	Name string     `json:"name"`
	Kind string     `json:"kind,omitempty"` // build, dev or package: the edge from the parent
	Dep  string     `json:"dep,omitempty"`  // the dependency entry as written, when it differs from name
	Seen bool       `json:"seen,omitempty"` // already shown above; its dependencies are not repeated
	Deps []treeJSON `json:"deps,omitempty"`
}

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
			mask, err := edgeKinds(kinds)
			if err != nil {
				return err
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
				out := make([]treeJSON, 0, len(roots))
				for _, r := range roots {
					out = append(out, depTree(g, cookbook.Edge{To: r}, map[cookbook.Node]bool{}))
				}
				return a.printJSON(out)
			}
			for _, r := range roots {
				printTree(a.stdout, g, r)
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

func edgeKinds(names []string) (cookbook.EdgeKind, error) {
	var k cookbook.EdgeKind
	for _, n := range names {
		switch n {
		case "build":
			k |= cookbook.BuildEdge
		case "dev":
			k |= cookbook.DevEdge
		case "package":
			k |= cookbook.PackageEdge
		default:
			return 0, usageErr(fmt.Errorf("--edges: unknown kind %q (want build, dev or package)", n))
		}
	}
	return k, nil
}

// edgeLabel names an edge's node, adding the entry as the recipe wrote it
// when that differs in more than a target: prefix (a host: mapping, or a
// .suffix naming one optional package).
func edgeLabel(e cookbook.Edge) string {
	s := e.To.String()
	written := e.Dep.String()
	mapped := written != s && e.Dep.Prefix != cookbook.TargetPrefix
	if mapped || e.Dep.Suffix != "" {
		s += " (" + written + ")"
	}
	return s
}

// printTree writes root's dependency tree with box-drawing branches.
func printTree(w io.Writer, g *cookbook.Graph, root cookbook.Node) {
	fmt.Fprintln(w, root)
	seen := map[cookbook.Node]bool{root: true}
	var walk func(n cookbook.Node, prefix string)
	walk = func(n cookbook.Node, prefix string) {
		edges := g.Edges(n)
		for i, e := range edges {
			branch, next := "├── ", "│   "
			if i == len(edges)-1 {
				branch, next = "└── ", "    "
			}
			mark := ""
			expand := !seen[e.To]
			if !expand && len(g.Edges(e.To)) > 0 {
				mark = " (*)"
			}
			fmt.Fprintf(w, "%s%s[%s] %s%s\n", prefix, branch, e.Kind, edgeLabel(e), mark)
			if expand {
				seen[e.To] = true
				walk(e.To, prefix+next)
			}
		}
	}
	walk(root, "")
}

func depTree(g *cookbook.Graph, e cookbook.Edge, seen map[cookbook.Node]bool) treeJSON {
	t := treeJSON{Name: e.To.String()}
	if e.Kind != 0 {
		t.Kind = e.Kind.String()
		if d := e.Dep.String(); d != t.Name {
			t.Dep = d
		}
	}
	if seen[e.To] {
		t.Seen = len(g.Edges(e.To)) > 0
		return t
	}
	seen[e.To] = true
	for _, d := range g.Edges(e.To) {
		t.Deps = append(t.Deps, depTree(g, d, seen))
	}
	return t
}
