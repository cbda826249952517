package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/pkgar"
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
			f, err := os.Open(in)
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
			if err := writeReportFile(out, func(w io.Writer) error { return report.WriteHTML(w, b) }); err != nil {
				return failed(err)
			}
			if trace != "" {
				if err := writeReportFile(trace, func(w io.Writer) error { return report.WriteTrace(w, b) }); err != nil {
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
		if err := writeReportFile(f.trace, func(out io.Writer) error { return report.WriteTrace(out, b) }); err != nil {
			return failed(fmt.Errorf("--trace: %w", err))
		}
		fmt.Fprintf(a.stderr, "trace: %s\n", f.trace)
	}
	if f.timings == "" {
		return nil
	}
	path := f.timings
	if path == defaultTimings {
		path = freeName(filepath.Join(w.Reports(), "build-"+b.Start.Format("20060102-150405")), ".html")
	}
	if err := writeReportFile(path, func(out io.Writer) error { return report.WriteHTML(out, b) }); err != nil {
		return failed(fmt.Errorf("--timings: %w", err))
	}
	fmt.Fprintf(a.stderr, "timings: %s\n", path)
	return nil
}

// freeName is base+ext, or base-2+ext and so on when that exists.
func freeName(base, ext string) string {
	p := base + ext
	for i := 2; ; i++ {
		if _, err := os.Lstat(p); os.IsNotExist(err) {
			return p
		}
		p = fmt.Sprintf("%s-%d%s", base, i, ext)
	}
}

// writeReportFile renders into path through a temporary file.
func writeReportFile(path string, render func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return pkgar.WriteFileAtomic(path, buf.Bytes(), 0o644)
}
