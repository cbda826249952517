// Command cook builds Redox OS from upstream recipe trees: it loads recipes,
// fetches and verifies sources, builds them in a parallel dependency graph,
// packages them as signed pkgar archives and assembles bootable images.
package main

// This file holds the root command, the global flags of docs/cli.md and the
// exit-status rules; every other command lives in a file of its own and
// registers itself with register.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/initfs"
)

// Exit statuses (docs/cli.md).
const (
	exitOK          = 0
	exitFailed      = 1 // the requested work failed
	exitUsage       = 2 // usage or configuration error
	exitInterrupted = 130
)

// exitError carries an exit status through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage or configuration error (exit 2).
func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

// failed marks err as failed work (exit 1).
func failed(err error) error { return &exitError{code: exitFailed, err: err} }

// silentFailure is returned by commands that already reported their failure
// (for example in JSON) and only need a non-zero exit.
var errSilent = errors.New("")

// commands holds the constructors of every subcommand; each command file
// appends to it from an init function.
var commands []func(*app) *cobra.Command

func register(f func(*app) *cobra.Command) { commands = append(commands, f) }

func main() {
	// Run as wget or curl inside a recipe script: cook's download shims.
	if fetch.IsShim(os.Args[0]) {
		os.Exit(fetch.ShimMain(os.Args, os.Stdout, os.Stderr))
	}
	// Run as redox-initfs-ar (a link in a build's tools directory).
	if initfs.IsTool(os.Args[0]) {
		os.Exit(runInitfsTool())
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes cook with args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	// cook is a batch tool that allocates many small short-lived objects
	// (parsed recipes, action inputs); a higher GC target trades a few tens
	// of MiB for less time collecting. GOGC, when set, wins.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a := newApp(stdout, stderr)
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitFailed
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	} else if isFlagError(err) {
		code = exitUsage
	}
	if ctx.Err() != nil && code != exitUsage {
		code = exitInterrupted
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(stderr, "cook: %s\n", msg)
	}
	return code
}

// flagError is how rootCommand's flag-error hook marks cobra's own errors.
type flagError struct{ error }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe)
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "cook",
		Short: "Build Redox OS from recipe trees: fetch, build, package, image, run",
		Long: `cook builds Redox OS from upstream recipe trees without Nix, Podman, FUSE or root.

It reads recipes/**/recipe.toml unchanged, fetches and verifies sources, builds recipes
in a parallel dependency graph with a hermetic sysroot per recipe, packages them as
signed pkgar archives and assembles bootable disk images.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.init(cmd)
		},
		// An argument that names no command is a usage error (exit 2).
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
			}
			return usageErr(errors.New(msg))
		},
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return flagError{err} })
	a.addGlobalFlags(root)
	for _, f := range commands {
		root.AddCommand(f(a))
	}
	return root
}

// logger returns the slog logger for diagnostics on stderr.
func (a *app) logger() *slog.Logger { return a.log }

// Argument validators that report usage errors (exit 2).
func exactArgs(n int) cobra.PositionalArgs { return wrapArgs(cobra.ExactArgs(n)) }
func minArgs(n int) cobra.PositionalArgs   { return wrapArgs(cobra.MinimumNArgs(n)) }
func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return wrapArgs(cobra.RangeArgs(lo, hi))
}
func noArgs() cobra.PositionalArgs { return wrapArgs(cobra.NoArgs) }

func wrapArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageErr(fmt.Errorf("%s: %w", cmd.CommandPath(), err))
		}
		return nil
	}
}
