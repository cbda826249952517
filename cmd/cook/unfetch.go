package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/pipeline"
)

func init() { register(newUnfetchCmd) }

func newUnfetchCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "unfetch RECIPE...",
		Short: "Remove recipes' fetched sources and source identity (the download cache is kept)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tree, ns, err := a.loadNodes(cmd.Context(), args)
			if err != nil {
				return err
			}
			w, unlock, err := a.writeWork(cmd.Context())
			if err != nil {
				return err
			}
			defer unlock()
			f, err := a.pipeline(tree, w).Fetcher(pipeline.FetchOptions{})
			if err != nil {
				return pipelineErr(err)
			}
			type result struct {
				Recipe string `json:"recipe"`
				Status string `json:"status"`
				Source string `json:"source"`
				Error  string `json:"error"`
			}
			var results []result
			var errs []error
			for _, n := range ns {
				r := result{Recipe: n.Name, Status: "removed", Source: f.Source(n.Name)}
				if err := f.Unfetch(n.Name); err != nil {
					r.Status, r.Error = "failed", err.Error()
					errs = append(errs, err)
				} else if !a.json && !a.quiet {
					a.printf("removed %s\n", r.Source)
				}
				results = append(results, r)
			}
			if a.json {
				if err := a.printJSON(map[string]any{"results": results}); err != nil {
					return err
				}
				if len(errs) > 0 {
					return failed(errSilent)
				}
				return nil
			}
			if len(errs) > 0 {
				return failed(fmt.Errorf("unfetch: %w", errors.Join(errs...)))
			}
			return nil
		},
	}
}
