package main

import (
	"github.com/spf13/cobra"
)

func init() { register(newListCmd) }

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
			return a.output(tree.List())
		},
	}
}
