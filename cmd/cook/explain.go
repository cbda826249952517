package main

import (
	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/pipeline"
	"github.com/redox-cook/cook/workdir"
)

func init() { register(newExplainCmd) }

type explainJSON struct {
	Recipe   string   `json:"recipe"`
	UpToDate bool     `json:"up_to_date"`
	Key      string   `json:"key"`
	Recorded string   `json:"recorded_key,omitempty"`
	Changes  []string `json:"changes"`
	Inputs   any      `json:"inputs"`
}

func newExplainCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "explain RECIPE",
		Short: "Say why RECIPE would (or would not) be rebuilt: the inputs that changed",
		Long: `explain compares RECIPE's inputs now — its recipe files, source identity,
each dependency's output digest, the toolchain, cook's templates and the
isolation settings — with those recorded at its last build, and lists what
changed. A dependency that has not been built yet counts by the digest of
whatever is staged for it. When the inputs recorded at the last build are
missing or damaged, explain says so: it cannot tell which input changed.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			tree, ns, err := a.loadNodes(ctx, args)
			if err != nil {
				return err
			}
			root, err := a.workDir()
			if err != nil {
				return err
			}
			b, err := a.pipeline(tree, workdir.New(root)).Builder(pipeline.BuildOptions{ReadOnly: true})
			if err != nil {
				return pipelineErr(err)
			}
			n := ns[0]
			ok, in, rec, err := b.Check(ctx, n)
			if err != nil {
				return failed(err)
			}
			rep := explainJSON{Recipe: n.String(), UpToDate: ok, Key: in.Key().String(), Changes: []string{}, Inputs: in}
			if rec != nil {
				rep.Recorded = rec.Key.String()
			}
			if !ok {
				rep.Changes = in.Changes(rec)
			}
			if a.json {
				return a.printJSON(rep)
			}
			printExplain(a, n, rep)
			return nil
		},
	}
}

func printExplain(a *app, n cookbook.Node, rep explainJSON) {
	if rep.UpToDate {
		a.printf("%s is up to date (key %.16s)\n", n, rep.Key)
		return
	}
	a.printf("%s would be rebuilt:\n", n)
	for _, c := range rep.Changes {
		a.printf("  %s\n", c)
	}
}
