package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/demo"
	"github.com/redox-cook/cook/image"
	"github.com/redox-cook/cook/triple"
	"github.com/redox-cook/cook/workdir"
)

func init() { register(newDemoCmd) }

func newDemoCmd(a *app) *cobra.Command {
	var noSandbox bool
	var timings, trace string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Build the small cookbook inside cook, for this machine, into a disk image, and show it",
		Long: `demo is cook's main job on a machine with no setup: it writes out a small
cookbook compiled into cook (a C library, a C program linking it, a Rust program)
and runs the real pipeline on it for the host: fetch (path sources), a parallel
build with a hermetic sysroot per recipe, signed pkgar packages, a published
repository, and a RedoxFS image assembled from them, whose tree it then shows.
It is a demonstration: the packages are built for this machine, not for Redox.
Everything goes under <work>/demo; run it again and nothing is rebuilt.`,
		Args: noArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			root, err := a.workDir()
			if err != nil {
				return err
			}
			base := filepath.Join(root, "demo")
			book := filepath.Join(base, "cookbook")
			w := workdir.New(filepath.Join(base, "work"))
			unlock, err := a.lockWork(ctx, w)
			if err != nil {
				return err
			}
			defer unlock()
			host := string(triple.Host())
			a.target, a.triple = host, triple.Host()
			fmt.Fprintf(a.stderr, "cook demo: a demonstration build for this machine (%s), under %s\n", host, base)

			if err := demo.Extract(book); err != nil {
				return failed(fmt.Errorf("demo cookbook: %w", err))
			}
			tree, err := cookbook.Load(ctx, book)
			if err != nil {
				return failed(err)
			}
			var roots []cookbook.Node
			for _, n := range demo.Recipes {
				roots = append(roots, cookbook.Node{Name: n})
			}
			p := a.pipeline(tree, w)
			if err := a.buildNodes(ctx, p, roots, buildFlags{noSandbox: noSandbox, withPackageDeps: true, timings: timings, trace: trace}); err != nil {
				return err
			}
			pub, err := p.Publish(ctx, demo.Recipes)
			if err != nil {
				return failed(fmt.Errorf("publish: %w", err))
			}
			cfg, err := image.LoadConfig(filepath.Join(book, demo.Config))
			if err != nil {
				return failed(err)
			}
			res, err := p.Image(ctx, cfg, filepath.Join(w.Images(), "demo.img"))
			if err != nil {
				return failed(fmt.Errorf("image: %w", err))
			}
			if a.json {
				return a.printJSON(map[string]any{"image": res, "repo": w.Repo(host), "published": pub})
			}
			a.printf("\nimage %s (%d MiB RedoxFS, packages: %s):\n", res.Path, res.Size>>20, strings.Join(res.Packages, " "))
			if code := run([]string{"fs", "tree", res.Path}, a.stdout, a.stderr); code != 0 {
				return &exitError{code: code, err: errSilent}
			}
			hello := filepath.Join(w.Stage("hello", host, ""), "usr/bin/hello")
			a.printf(`
That was a demonstration, built for this machine. Try:
  LD_LIBRARY_PATH=%s %s
  cook fs cat %s /etc/motd

To build Redox itself, from a checkout of github.com/redox-os/redox:
  cook --cookbook ~/redox toolchain install        # upstream's prebuilt Redox toolchain, or
  cook --cookbook ~/redox toolchain bootstrap      # one from the host's Rust and LLVM (docs/toolchains.md)
  cook --cookbook ~/redox build ion helix          # cross-compile recipes and their dependencies
  cook --cookbook ~/redox image --ch-static        # a Cloud Hypervisor image with static networking
  cook --cookbook ~/redox run --vm ch              # boot it (QEMU: cook run)
`, filepath.Join(w.Stage("libhello", host, ""), "usr/lib"), hello, res.Path)
			return nil
		},
	}
	cmd.Flags().BoolVar(&noSandbox, "no-sandbox", false, "build without namespaces (for machines that forbid user namespaces)")
	cmd.Flags().StringVar(&timings, "timings", "", "write the build's HTML timings report to FILE (default <work>/demo/work/reports/build-TIME.html), as cook build --timings")
	cmd.Flags().Lookup("timings").NoOptDefVal = defaultTimings
	cmd.Flags().StringVar(&trace, "trace", "", "write the build's Chrome trace-event JSON to FILE, as cook build --trace")
	return cmd
}
