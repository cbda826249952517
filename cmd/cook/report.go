package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/report"
	"github.com/redox-cook/cook/workdir"
)

func init() { register(newReportCmd) }

func newReportCmd(a *app) *cobra.Command {
	var out, trace string
	cmd := &cobra.Command{
		Use:   "report FILE.json",
		Short: "Render the timings report of a build saved with cook build --json",
		Long: `report reads what cook build --json printed (every node's status, start, end,
wait and phases, and the run's jobs and phases) and writes the same HTML timings
report as cook build --timings: a Gantt chart of every node, jobs in use over
time, the critical path and the slowest nodes. The page is self-contained. With
--trace it also writes the build as Chrome trace-event JSON.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := args[0]
			f, err := fsutil.OpenRegular(in) // a FIFO would block past Ctrl-C
			if err != nil {
				return usageErr(err)
			}
			defer f.Close()
			b, err := report.Read(f, in)
			if err != nil {
				return failed(err)
			}
			if out == "" {
				out = strings.TrimSuffix(in, filepath.Ext(in)) + ".html"
			}
			if err := report.WriteHTMLFile(out, b); err != nil {
				return failed(err)
			}
			if trace != "" {
				if err := report.WriteTraceFile(trace, b); err != nil {
					return failed(err)
				}
			}
			if a.json {
				return a.printJSON(map[string]string{"timings": out, "trace": trace})
			}
			if trace != "" {
				fmt.Fprintf(a.stderr, "trace: %s\n", trace)
			}
			fmt.Fprintf(a.stderr, "timings: %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the HTML file to write (default: FILE with .html for .json)")
	cmd.Flags().StringVar(&trace, "trace", "", "also write Chrome trace-event JSON to this file")
	return cmd
}

// writeBuildReports writes what --timings and --trace ask for, and names
// the files on stderr, the timings report last.
func (a *app) writeBuildReports(w workdir.Dir, b *report.Build, f buildFlags) error {
	if f.trace != "" {
		if err := report.WriteTraceFile(f.trace, b); err != nil {
			return failed(fmt.Errorf("--trace: %w", err))
		}
		fmt.Fprintf(a.stderr, "trace: %s\n", f.trace)
	}
	if f.timings == "" {
		return nil
	}
	path := f.timings
	if path == defaultTimings {
		path = report.DefaultPath(w.Reports(), b)
	}
	if err := report.WriteHTMLFile(path, b); err != nil {
		return failed(fmt.Errorf("--timings: %w", err))
	}
	fmt.Fprintf(a.stderr, "timings: %s\n", path)
	return nil
}
