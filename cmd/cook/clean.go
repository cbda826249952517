package main

import (
	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
)

func init() { register(newCleanCmd) }

func newCleanCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "clean [RECIPE...]",
		Short: "Remove build outputs (keeps fetched sources and the download cache)",
		Long: `clean removes what building left for --target: build directories, stages,
sysroots, packages, logs and the recorded state, so the next build runs again.
With recipe names only theirs; without, every recipe's. Fetched sources and the
download cache stay (see cook unfetch).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			w, unlock, err := a.writeWork(cmd.Context())
			if err != nil {
				return err
			}
			defer unlock()
			var tree *cookbook.Tree
			var names []cookbook.Node
			if len(args) > 0 {
				if tree, names, err = a.loadNodes(cmd.Context(), args); err != nil {
					return err
				}
			}
			removed, err := a.pipeline(tree, w).Clean(cmd.Context(), names)
			if err != nil {
				return failed(err)
			}
			if !a.quiet {
				a.printf("removed %d path(s)\n", removed)
			}
			return nil
		},
	}
}
