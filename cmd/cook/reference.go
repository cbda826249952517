package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// writeReference renders every command and flag of the cobra tree as
// Markdown: docs/reference.md is this output, and a test keeps them equal.
func writeReference(w io.Writer, root *cobra.Command) {
	fmt.Fprintln(w, "# Command reference")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Generated from cook's command tree; `go test ./cmd/cook -run TestReference -update` rewrites it.")
	fmt.Fprintln(w, "Exit status: 0 success, 1 the requested work failed, 2 usage or configuration error, 130 interrupted.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Global flags")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every command accepts these.")
	fmt.Fprintln(w)
	flagTable(w, root.PersistentFlags())
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			fmt.Fprintf(w, "## %s\n\n", sub.CommandPath())
			fmt.Fprintf(w, "```\n%s\n```\n\n", sub.UseLine())
			fmt.Fprintf(w, "%s.\n\n", strings.TrimSuffix(sub.Short, "."))
			if sub.Long != "" {
				fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(sub.Long))
			}
			if sub.HasAvailableLocalFlags() {
				flagTable(w, sub.LocalNonPersistentFlags())
			}
			walk(sub)
		}
	}
	walk(root)
}

func flagTable(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprintln(w, "| flag | default | meaning |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name := "`--" + f.Name + "`"
		if f.Shorthand != "" {
			name = "`-" + f.Shorthand + "`, " + name
		}
		def := f.DefValue
		switch def {
		case "", "[]", "false", "0":
			def = ""
		default:
			def = "`" + def + "`"
		}
		usage := strings.ReplaceAll(f.Usage, "|", "\\|")
		fmt.Fprintf(w, "| %s | %s | %s |\n", name, def, usage)
	})
	fmt.Fprintln(w)
}
