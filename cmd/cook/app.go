package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/pipeline"
	"github.com/redox-cook/cook/settings"
	"github.com/redox-cook/cook/toolchain"
	"github.com/redox-cook/cook/triple"
	"github.com/redox-cook/cook/workdir"
)

// app holds the global flags and what they resolve to; commands read it.
type app struct {
	stdout, stderr io.Writer
	log            *slog.Logger

	// flag values as given
	cookbookFlag string
	workFlag     string
	targetFlag   string
	configFlag   string
	jobs         int
	mirrorFlags  []string
	cargoVendor  string
	offline      bool
	noWait       bool
	json         bool
	verbose      bool
	quiet        bool

	// resolved by init
	resolved *settings.Resolved
	settings *settings.Settings
	cookbook string // absolute root of the recipe tree ("" when none was found)
	target   string
	triple   triple.Triple // target, validated
	mirrors  map[string]string
}

func newApp(stdout, stderr io.Writer) *app {
	return &app{stdout: stdout, stderr: stderr}
}

func (a *app) addGlobalFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&a.cookbookFlag, "cookbook", "", "root of a recipe tree: a directory holding recipes/ (env COOK_COOKBOOK; default: the nearest directory upwards holding recipes/)")
	f.StringVar(&a.workFlag, "work", "", "directory for all of cook's state (env COOK_WORK; default: see docs/user-guide.md)")
	f.StringVar(&a.targetFlag, "target", "", "target triple (env COOK_TARGET; default x86_64-unknown-redox)")
	f.IntVarP(&a.jobs, "jobs", "j", 0, "parallel jobs (env COOK_JOBS; default: number of CPUs)")
	f.StringVar(&a.configFlag, "config", "", "cook settings file (env COOK_CONFIG; default: cook.toml at the cookbook root; cook image uses --config for the filesystem config, so set COOK_CONFIG there)")
	f.StringArrayVar(&a.mirrorFlags, "mirror", nil, "FROM=TO: fetch any source URL starting with FROM from TO instead (repeatable)")
	f.StringVar(&a.cargoVendor, "cargo-vendor", "", "a `cargo vendor` directory holding every crate builds need: crates.io and each Cargo.lock's git sources are replaced with it, nothing is downloaded (env COOK_CARGO_VENDOR; cook.toml [cargo] vendor)")
	f.BoolVar(&a.offline, "offline", false, "no network at all (env COOK_OFFLINE=1)")
	f.BoolVar(&a.noWait, "no-wait", false, "fail at once when another cook is writing to the work directory, instead of waiting for it")
	f.BoolVar(&a.json, "json", false, "machine-readable output on stdout")
	f.BoolVarP(&a.verbose, "verbose", "v", false, "more detail")
	f.BoolVarP(&a.quiet, "quiet", "q", false, "less detail")
}

// init resolves flags, environment and cook.toml, in that order of precedence.
func (a *app) init(cmd *cobra.Command) error {
	level := slog.LevelInfo
	if a.verbose {
		level = slog.LevelDebug
	} else if a.quiet {
		level = slog.LevelWarn
	}
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))

	g := settings.Given{Cookbook: a.cookbookFlag, Work: a.workFlag, Target: a.targetFlag, Config: a.configFlag,
		CargoVendor: a.cargoVendor, Jobs: a.jobs, Mirrors: a.mirrorFlags}
	if cmd.Flags().Changed("offline") {
		g.Offline = &a.offline
	}
	r, err := settings.Resolve(g)
	if err != nil {
		return usageErr(err)
	}
	a.resolved, a.settings, a.cookbook, a.triple, a.target = r, r.Settings, r.Cookbook, r.Target, string(r.Target)
	a.jobs, a.offline, a.mirrors, a.cargoVendor = r.Jobs, r.Offline, r.Mirrors, r.CargoVendor
	return nil
}

// bootstrapOptions are the host programs of a bootstrapped Redox toolchain:
// cook.toml's [toolchain], with COOK_CBINDGEN for cbindgen.
func (a *app) bootstrapOptions() toolchain.BootstrapOptions {
	t := a.settings.Toolchain
	return toolchain.BootstrapOptions{Rustc: t.Rustc, Cargo: t.Cargo, Cbindgen: a.resolved.Cbindgen}
}

// requireCookbook returns the cookbook root or a usage error saying how to name one.
func (a *app) requireCookbook() (string, error) {
	if a.cookbook == "" {
		return "", usageErr(errors.New("no recipe tree: run inside a directory holding recipes/, or pass --cookbook DIR (or set COOK_COOKBOOK)"))
	}
	if _, err := os.Stat(filepath.Join(a.cookbook, "recipes")); err != nil {
		return "", usageErr(fmt.Errorf("--cookbook %s: no recipes/ directory there", a.cookbook))
	}
	return a.cookbook, nil
}

// workDir returns cook's state directory (settings.Resolved.Work).
func (a *app) workDir() (string, error) {
	w, err := a.resolved.Work()
	if err != nil {
		return "", usageErr(fmt.Errorf("%w; pass --work DIR", err))
	}
	return w, nil
}

// pipeline is the pipeline for tree and w with the global settings.
func (a *app) pipeline(tree *cookbook.Tree, w workdir.Dir) *pipeline.Pipeline {
	return pipeline.New(pipeline.Config{Tree: tree, Work: w, Target: a.triple, Jobs: a.jobs, Mirrors: a.mirrors,
		Offline: a.offline, Settings: a.settings, CargoVendor: a.cargoVendor, Bootstrap: a.bootstrapOptions(), Log: a.logger()})
}

// lockWork takes w's writer lock for a command that changes the work
// directory: a second writer waits, saying for whom, or with --no-wait fails.
// The returned function releases it.
func (a *app) lockWork(ctx context.Context, w workdir.Dir) (func(), error) {
	opts := []workdir.LockOption{workdir.OnWait(func(e *workdir.LockedError) {
		fmt.Fprintf(a.stderr, "cook: waiting: %v (--no-wait fails instead)\n", e)
	})}
	if a.noWait {
		opts = append(opts, workdir.NoWait())
	}
	l, err := w.Lock(ctx, opts...)
	if err != nil {
		return nil, failed(err)
	}
	if l.Unclean {
		a.logger().Debug("cleared what an interrupted cook left", "work", w.Root)
	}
	return func() { l.Unlock() }, nil
}

// writeWork resolves the work directory and takes its writer lock.
func (a *app) writeWork(ctx context.Context) (workdir.Dir, func(), error) {
	root, err := a.workDir()
	if err != nil {
		return workdir.Dir{}, nil, err
	}
	w := workdir.New(root)
	unlock, err := a.lockWork(ctx, w)
	if err != nil {
		return workdir.Dir{}, nil, err
	}
	return w, unlock, nil
}

// printJSON writes v as indented JSON to stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// output prints v on stdout: as JSON with --json, else as its text.
func (a *app) output(v interface{ WriteText(io.Writer) error }) error {
	if a.json {
		return a.printJSON(v)
	}
	return v.WriteText(a.stdout)
}

// printf writes human output to stdout.
func (a *app) printf(format string, args ...any) { fmt.Fprintf(a.stdout, format, args...) }

// loadTree loads the recipe tree named by --cookbook.
func (a *app) loadTree(ctx context.Context) (*cookbook.Tree, error) {
	root, err := a.requireCookbook()
	if err != nil {
		return nil, err
	}
	tree, err := cookbook.Load(ctx, root, a.parseCache()...)
	if err != nil {
		return nil, usageErr(err)
	}
	return tree, nil
}

// parseCache is the work directory's parse cache for loading the tree,
// when the work directory exists (loading never creates it).
func (a *app) parseCache() []cookbook.LoadOption {
	root, err := a.workDir()
	if err != nil {
		return nil
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil
	}
	return []cookbook.LoadOption{cookbook.WithParseCache(workdir.New(root).ParseCache())}
}

// loadNodes loads the tree and parses recipe arguments against it, the
// prelude of every command that takes recipe names.
func (a *app) loadNodes(ctx context.Context, args []string) (*cookbook.Tree, []cookbook.Node, error) {
	tree, err := a.loadTree(ctx)
	if err != nil {
		return nil, nil, err
	}
	ns, err := nodes(tree, args)
	if err != nil {
		return nil, nil, err
	}
	return tree, ns, nil
}

// nodes parses recipe arguments ("name" or "host:name") and checks that each names a recipe.
func nodes(tree *cookbook.Tree, args []string) ([]cookbook.Node, error) {
	out := make([]cookbook.Node, 0, len(args))
	for _, s := range args {
		n, err := cookbook.ParseNode(s)
		if err != nil {
			return nil, usageErr(err)
		}
		if _, err := tree.Lookup(n.Name); err != nil {
			if errors.Is(err, cookbook.ErrLegacyRecipe) {
				return nil, failed(err) // it exists, in a format cook cannot build
			}
			return nil, usageErr(err)
		}
		out = append(out, n)
	}
	return out, nil
}
