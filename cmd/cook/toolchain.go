package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/toolchain"
	"github.com/redox-cook/cook/workdir"
)

func init() { register(newToolchainCmd) }

func newToolchainCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "toolchain status|install|bootstrap",
		Short: "Show the toolchain found for --target, install the prebuilt Redox prefix, or bootstrap one from the host",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Say which compilers and tools were found for --target, where they come from and what is missing, with the fix",
		Long: `status finds the toolchain for --target as cook build does: for a Redox target,
upstream's prebuilt prefix when one is installed (cook toolchain install), else a
prefix bootstrapped from the host's Rust and LLVM (assembled now if the host has
every tool it needs and no other cook is writing to the work directory). It prints
the provider, each tool, the host tools' versions, and what is missing with the
apt-get command that fixes it. It exits non-zero when a required tool is missing.`,
		Args: noArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := a.triple
			root, err := a.workDir()
			if err != nil {
				return err
			}
			// it assembles a prefix only holding the writer lock; while another cook writes, it reports
			opts := []toolchain.Option{toolchain.WithBootstrap(a.bootstrapOptions())}
			if l, err := workdir.New(root).Lock(cmd.Context(), workdir.NoWait()); err == nil {
				defer l.Unlock()
			} else {
				opts = append(opts, toolchain.WithoutAutoBootstrap())
			}
			tc, err := toolchain.Find(cmd.Context(), t, root, opts...)
			if err != nil {
				return failed(err)
			}
			st := tc.Status()
			if a.json {
				if err := a.printJSON(st); err != nil {
					return err
				}
			} else if err := st.WriteText(a.stdout); err != nil {
				return err
			}
			if !st.Ready {
				return &exitError{code: exitFailed, err: errSilent}
			}
			return nil
		},
	})
	cmd.AddCommand(newToolchainBootstrapCmd(a))
	var baseURL string
	install := &cobra.Command{
		Use:   "install",
		Short: "Download upstream's prebuilt Redox toolchain for --target, verify it and install it in the work dir",
		Long: `install downloads gcc-install, rust-install (and clang-install and relibc-install
when published) for --target from ` + toolchain.DefaultBaseURL + `/<host>/<target>/,
checks each against the published SHA256SUM before unpacking it, and assembles
<work>/prefix/<target>/sysroot, which builds for that target then use. Mirror
rules, the download cache and --offline apply. Linux cross targets need no
install: cook assembles their prefix from Debian's cross compiler.`,
		Args: noArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := a.triple
			w, unlock, err := a.writeWork(cmd.Context())
			if err != nil {
				return err
			}
			defer unlock()
			root := w.Root
			dl, err := fetch.NewDownloader(fetch.WithMirrors(a.mirrors), fetch.WithOffline(a.offline), fetch.WithLogger(a.logger()))
			if err != nil {
				return usageErr(err)
			}
			res, err := toolchain.Install(cmd.Context(), t, root, dl, baseURL)
			if err != nil {
				return failed(err)
			}
			if a.json {
				return a.printJSON(res)
			}
			a.printf("installed the %s toolchain in %s\n", t, res.Sysroot)
			return nil
		},
	}
	install.Flags().StringVar(&baseURL, "url", toolchain.DefaultBaseURL, "where the prebuilt toolchains are published")
	cmd.AddCommand(install)
	return cmd
}

func newToolchainBootstrapCmd(a *app) *cobra.Command {
	var opts toolchain.BootstrapOptions
	c := &cobra.Command{
		Use:   "bootstrap",
		Short: "Assemble a Redox toolchain for --target from the host's Rust, clang, lld and binutils (no download)",
		Long: `bootstrap assembles <work>/prefix/<target>/sysroot, the layout of upstream's
prebuilt prefix, from the host's tools: the cross tool names (<gnu>-gcc, -cc,
-g++, -cpp, -ar, -nm, -ranlib, -ld, -objcopy, -objdump, -readelf, -strip, -as,
...) as wrappers over clang, ld.lld, LLVM's binutils and (for x86) GNU ld,
objcopy and as; cargo and rustc over the host's (Debian's rustc-web by
default) with RUSTC_BOOTSTRAP=1; rust-lld; cbindgen when one ≥ 0.29 is given
or on PATH; compiler-rt as libgcc.a and LLVM's libunwind as libgcc_eh.a.
cook build does this by itself when a Redox target has no prefix; run it to
pick other host tools, or after installing a missing one. See
docs/toolchains.md.`,
		Args: noArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := a.triple
			w, unlock, err := a.writeWork(cmd.Context())
			if err != nil {
				return err
			}
			defer unlock()
			root := w.Root
			// the flags, then cook.toml and the environment, then what the
			// prefix was made with: what is not changed is kept
			opts = opts.Or(a.bootstrapOptions())
			if prev, ok := toolchain.PreviousOptions(root, t); ok {
				opts = opts.Or(prev)
			}
			res, err := toolchain.Bootstrap(cmd.Context(), t, root, opts)
			if err != nil {
				if errors.Is(err, toolchain.ErrPrebuiltPresent) {
					return usageErr(err)
				}
				return failed(err)
			}
			return a.output(res)
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Rustc, "rustc", "", "the rustc to use (default /usr/bin/rustc, else the first on PATH that is not a rustup proxy; cook.toml [toolchain] rustc)")
	f.StringVar(&opts.Cargo, "cargo", "", "the cargo to use (default /usr/bin/cargo, likewise; cook.toml [toolchain] cargo)")
	f.StringVar(&opts.Cbindgen, "cbindgen", "", "a cbindgen ≥ 0.29 for relibc's headers (default: on PATH; env COOK_CBINDGEN; cook.toml [toolchain] cbindgen)")
	f.BoolVar(&opts.Replace, "replace", false, "replace an installed prebuilt toolchain")
	return c
}
