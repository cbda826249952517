package main

import (
	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/internal/termtext"
	"github.com/redox-cook/cook/triple"
	"github.com/redox-cook/cook/workdir"
)

func init() { register(newInfoCmd) }

type infoReport struct {
	*cookbook.Recipe
	Target      string              `json:"target"`
	Diagnostics []string            `json:"diagnostics,omitempty"`
	State       workdir.RecipePaths `json:"state"`
}

func newInfoCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "info RECIPE",
		Short: "Show the resolved recipe and where its state lives",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tree, ns, err := a.loadNodes(cmd.Context(), args)
			if err != nil {
				return err
			}
			r := tree.Recipes[ns[0].Name]
			root, err := a.workDir()
			if err != nil {
				return err
			}
			target := a.target
			if ns[0].Host {
				target = string(triple.Host())
			}
			rep := infoReport{Recipe: r, Target: target, State: workdir.New(root).Paths(r.Name, target)}
			for _, d := range r.Diagnostics {
				rep.Diagnostics = append(rep.Diagnostics, d.String())
			}
			if a.json {
				return a.printJSON(rep)
			}
			a.printInfo(rep)
			return nil
		},
	}
}

func (a *app) printInfo(rep infoReport) {
	for _, f := range rep.Recipe.Summary() {
		a.printf("%-18s %s\n", f.Key+":", termtext.Escape(f.Value))
		if f.Key == "file" {
			a.printf("%-18s %s\n", "target:", rep.Target)
		}
	}
	for _, d := range rep.Diagnostics {
		a.printf("%s\n", termtext.Escape(d))
	}
	a.printf("state:\n")
	rep.State.Each(func(label, path string) { a.printf("  %-10s %s\n", label, path) })
}
