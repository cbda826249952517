package main

import (
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
)

func init() { register(newListCmd) }

type listEntry struct {
	Name     string `json:"name"`
	Path     string `json:"path"`
	Template string `json:"template"`
	Source   string `json:"source"`
	Errors   int    `json:"errors,omitempty"`
}

func newListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every recipe: name, path, template, source kind",
		Args:  noArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			tree, err := a.loadTree(cmd.Context())
			if err != nil {
				return err
			}
			entries := make([]listEntry, 0, len(tree.Names))
			for _, name := range tree.Names {
				r := tree.Recipes[name]
				e := listEntry{Name: name, Path: r.Path, Template: string(r.Build.Template), Source: sourceKind(r)}
				for _, d := range r.Diagnostics {
					if d.Severity == cookbook.Error {
						e.Errors++
					}
				}
				entries = append(entries, e)
			}
			if a.json {
				return a.printJSON(entries)
			}
			w := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
			for _, e := range entries {
				tmpl := e.Template
				if e.Errors > 0 {
					tmpl += " (invalid)"
				}
				w.Write([]byte(e.Name + "\t" + tmpl + "\t" + e.Source + "\t" + e.Path + "\n"))
			}
			return w.Flush()
		},
	}
}

func sourceKind(r *cookbook.Recipe) string {
	if r.Source == nil {
		return "none"
	}
	return string(r.Source.Kind)
}
