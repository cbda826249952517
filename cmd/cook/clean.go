package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/triple"
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
			root := w.Root
			var names []cookbook.Node
			if len(args) > 0 {
				tree, err := a.loadTree(cmd.Context())
				if err != nil {
					return err
				}
				if names, err = nodes(tree, args); err != nil {
					return err
				}
			} else {
				entries, _ := os.ReadDir(filepath.Join(root, "recipes"))
				for _, e := range entries {
					names = append(names, cookbook.Node{Name: e.Name()})
				}
			}
			state := &builder.Builder{Work: w, Target: a.triple} // only its state records are used
			removed := 0
			for _, n := range names {
				if err := state.Forget(n); err != nil {
					return failed(fmt.Errorf("clean %s: %w", n, err))
				}
				for _, t := range cleanTargets(a, n) {
					for _, p := range []string{w.Target(n.Name, t), w.Log(n.Name, t)} {
						if _, err := os.Lstat(p); err == nil {
							if err := w.RemoveAll(p); err != nil {
								return failed(fmt.Errorf("clean %s: %w", n, err))
							}
							removed++
						}
					}
				}
			}
			if err := state.Flush(); err != nil {
				return failed(err)
			}
			if !a.quiet {
				a.printf("removed %d path(s)\n", removed)
			}
			return nil
		},
	}
}

// cleanTargets is the target directories clean removes for n: --target's,
// or the host's for host: nodes.
func cleanTargets(a *app, n cookbook.Node) []string {
	if n.Host {
		return []string{string(triple.Host())}
	}
	return []string{a.target}
}
