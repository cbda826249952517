package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
)

func init() { register(newCheckCmd) }

func newCheckCmd(a *app) *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "check [RECIPE...]",
		Short: "Load and validate recipes and the dependency graph; exit 1 on errors",
		Long: `check loads every recipe (or the named recipes and everything they depend on),
validates them with upstream's schema rules and checks the dependency graph.

Errors are what upstream refuses to load: TOML syntax errors, a [build] without
template, an unknown template, a custom template without script, a [source] matching
no variant, wrong value types, invalid package names, duplicate recipe names.
Warnings are what upstream silently accepts but is almost surely a mistake: unknown
keys (a misspelt blake3), tar sources without a checksum, dependencies naming no
recipe. --strict makes warnings errors.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			tree, err := a.loadTree(cmd.Context())
			if err != nil {
				return err
			}
			var roots []cookbook.Node
			if len(args) > 0 {
				if roots, err = nodes(tree, args); err != nil {
					return err
				}
			}
			rep := tree.Check(roots, strict)
			if a.json {
				if err := a.printJSON(rep); err != nil {
					return err
				}
			} else if err := rep.WriteText(a.stdout, len(args) > 0 || strict || a.verbose); err != nil {
				return err
			}
			if !rep.OK() {
				if a.json {
					return failed(errSilent)
				}
				return failed(errors.New(rep.Summary()))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "treat warnings as errors")
	return cmd
}
