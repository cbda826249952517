package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/repo"
)

func init() { register(newRepoCmd) }

func newRepoCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repo",
		Short: "Manage the work directory's package repository",
	}
	var buildID string
	publish := &cobra.Command{
		Use:   "publish [RECIPE...]",
		Short: "Publish built packages into <work>/repo/<target>",
		Long: `Publish packages already built in the work directory into its repository,
<work>/repo/<target>/: <pkg>.pkgar and <pkg>.toml for each package, repo.toml
indexing them, and the public key as <work>/repo/id_ed25519.pub.toml.

The names (recipes, or recipe.opt for optional packages) are expanded with the
runtime dependencies listed in each package's stage.toml. With no names, every
package built for --target is published. Dependencies that are not built are
recorded as outdated in repo.toml and reported, without failing.`,
		Args: minArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, unlock, err := a.writeWork(cmd.Context())
			if err != nil {
				return err
			}
			defer unlock()
			for _, n := range args {
				if _, _, _, err := repo.PackageName(n); err != nil {
					return usageErr(err)
				}
			}
			names := args
			if len(names) == 0 {
				names, err = repo.Built(w, a.target)
				if err != nil {
					return failed(fmt.Errorf("listing built packages in %s: %w", w.Root, err))
				}
				if len(names) == 0 {
					return failed(fmt.Errorf("no packages built for %s in %s", a.target, w.Root))
				}
			}
			var opts []repo.PublishOption
			if buildID != "" {
				opts = append(opts, repo.WithBuildID(buildID))
			}
			res, err := repo.Publish(cmd.Context(), w, a.target, names, opts...)
			if err != nil {
				return failed(err)
			}
			if a.json {
				return a.printJSON(res)
			}
			for _, n := range res.Published {
				a.printf("published %s\n", n)
			}
			if a.verbose {
				for _, n := range res.Unchanged {
					a.printf("unchanged %s\n", n)
				}
			}
			if len(res.Outdated) > 0 {
				a.logger().Warn("not built, recorded as outdated", "packages", strings.Join(res.Outdated, " "))
			}
			if !a.quiet {
				a.printf("%s: %d published, %d unchanged, %d outdated\n", res.Dir, len(res.Published), len(res.Unchanged), len(res.Outdated))
			}
			return nil
		},
	}
	publish.Flags().StringVar(&buildID, "build-id", "", "build_id to record in repo.toml (for example the cookbook's commit)")
	cmd.AddCommand(publish)
	return cmd
}
