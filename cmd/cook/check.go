package main

import (
	"fmt"
	"strings"

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
			bad := !rep.OK()
			if a.json {
				if err := a.printJSON(rep); err != nil {
					return err
				}
			} else {
				a.printCheck(rep, len(args) > 0 || strict)
			}
			if bad {
				if a.json {
					return &exitError{code: exitFailed, err: errSilent}
				}
				return failed(fmt.Errorf("check found %d error(s) in %d recipe(s)%s", len(rep.Errors), rep.Failing, cycleNote(rep.Cycles)))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "treat warnings as errors")
	return cmd
}

func cycleNote(c [][]string) string {
	if len(c) == 0 {
		return ""
	}
	return fmt.Sprintf(" and %d dependency cycle(s)", len(c))
}

func (a *app) printCheck(rep *cookbook.CheckReport, showWarnings bool) {
	for _, d := range rep.Errors {
		a.printf("%s: error: %s\n", loc(d), cookbook.Escape(d.Message))
	}
	if showWarnings || a.verbose {
		for _, d := range rep.Warnings {
			a.printf("%s: warning: %s\n", loc(d), cookbook.Escape(d.Message))
		}
	}
	for _, c := range rep.Cycles {
		a.printf("error: dependency cycle: %s\n", cookbook.Escape(strings.Join(c, " → ")))
	}
	a.printf("%d recipes, %d load, %d error(s), %d warning(s), %d unresolved dependency name(s), %d cycle(s)\n",
		rep.Recipes, rep.Loaded, len(rep.Errors), len(rep.Warnings), len(rep.Unresolved), len(rep.Cycles))
	if len(rep.Warnings) > 0 && !showWarnings && !a.verbose {
		a.printf("(warnings not shown: use -v, or name recipes, to see them)\n")
	}
}

func loc(d cookbook.CheckDiagnostic) string {
	s := cookbook.Escape(d.Path)
	if d.Line > 0 {
		s += fmt.Sprintf(":%d", d.Line)
		if d.Column > 0 {
			s += fmt.Sprintf(":%d", d.Column)
		}
	}
	return s
}
