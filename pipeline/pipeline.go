// Package pipeline runs cook's steps for one recipe tree, work directory and target, in the order data flows: plan, fetch, build, publish, image.
package pipeline

import (
	"errors"
	"log/slog"
	"os"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/settings"
	"github.com/redox-cook/cook/toolchain"
	"github.com/redox-cook/cook/triple"
	"github.com/redox-cook/cook/workdir"
)

// ErrInvalid is wrapped by errors in what the caller asked for (an option
// naming no recipe, a cache URL that cannot be used), as opposed to work
// that failed.
var ErrInvalid = errors.New("invalid request")

// Config is what a pipeline runs with: flags, environment and cook.toml,
// resolved by the caller.
type Config struct {
	Tree    *cookbook.Tree // the recipe tree (nil for steps that need none)
	Work    workdir.Dir
	Target  triple.Triple
	Jobs    int               // recipes (or fetches) at a time
	Mirrors map[string]string // URL prefix → replacement
	Offline bool
	// Settings are cook.toml's: cargo, network, limits, toolchain.
	Settings *settings.Settings
	// CargoVendor is a `cargo vendor` directory replacing crates.io and the
	// lock files' git sources ("" for none).
	CargoVendor string
	// Bootstrap are the host programs a bootstrapped Redox toolchain uses.
	Bootstrap toolchain.BootstrapOptions
	Log       *slog.Logger
}

// Pipeline runs the steps for one Config.
//
// It wires the step packages together — cookbook, fetch, builder, repo,
// image — and owns the policies between them: what a build fetches first,
// how the fetch phase's cargo step runs, what is found up to date before
// scheduling, how a build's outcomes become a report, and that an image
// takes freshly published packages. It prints nothing: progress reaches the
// caller through observers, results as values. cmd/cook turns flags into a
// Config and results into output and exit codes.
type Pipeline struct {
	cfg Config
}

// New returns the pipeline for cfg, filling in defaults.
func New(cfg Config) *Pipeline {
	if cfg.Settings == nil {
		cfg.Settings = &settings.Settings{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if cfg.Jobs < 1 {
		cfg.Jobs = 1
	}
	return &Pipeline{cfg: cfg}
}

// Config is the pipeline's configuration.
func (p *Pipeline) Config() Config { return p.cfg }
