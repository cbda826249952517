package main

import (
	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/script"
	"github.com/redox-cook/cook/triple"
)

func init() { register(newPrintScriptCmd) }

// printScriptJSON is print-script --json's output.
type printScriptJSON struct {
	Recipe   string `json:"recipe"`
	Target   string `json:"target"`
	Template string `json:"template"`
	Script   string `json:"script"`
}

func newPrintScriptCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "print-script RECIPE",
		Short: "Print the exact build script cook would run for RECIPE",
		Long: `print-script prints the bash script a build of RECIPE runs (with bash -ex, in its
build directory): cook's build prescript, the shared prescript, the text of the
recipe's template (or its custom script) and the postscript — the same assembly
upstream's cookbook feeds to bash. With --json it prints one object: recipe,
target, template and script ("" for template none, which runs no script).`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tree, ns, err := a.loadNodes(cmd.Context(), args)
			if err != nil {
				return err
			}
			r := tree.Recipes[ns[0].Name]
			if a.json {
				target := a.target
				if ns[0].Host {
					target = string(triple.Host())
				}
				// template none (and remote) runs no script: "script" is ""
				return a.printJSON(printScriptJSON{Recipe: ns[0].String(), Target: target, Template: string(r.Build.Template), Script: script.Generate(r)})
			}
			if r.Build.Template == cookbook.TemplateNone {
				a.printf("# %s has template none: nothing runs; it is packaged as a meta package\n", r.Name)
				return nil
			}
			a.printf("%s", script.Generate(r))
			return nil
		},
	}
}
