package main

import (
	"errors"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/toolchain"
)

func init() { register(newToolchainCmd) }

type toolchainStatus struct {
	Target      string            `json:"target"`
	GNU         string            `json:"gnu_target"`
	Provider    string            `json:"provider,omitempty"`
	Prefix      string            `json:"prefix,omitempty"`
	HostSysroot string            `json:"host_sysroot"`
	Ready       bool              `json:"ready"`
	Tools       map[string]string `json:"tools"`
	Versions    map[string]string `json:"versions,omitempty"`
	Missing     []string          `json:"missing"`
	Optional    []string          `json:"optional_missing,omitempty"`
	Env         map[string]string `json:"env"`
}

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
every tool it needs). It prints the provider, each tool, the host tools'
versions, and what is missing with the apt-get command that fixes it. It exits
non-zero when a required tool is missing.`,
		Args: noArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := a.triple
			root, err := a.workDir()
			if err != nil {
				return err
			}
			tc, err := toolchain.Find(cmd.Context(), t, root, toolchain.WithBootstrap(a.bootstrapOptions()))
			if err != nil {
				return failed(err)
			}
			st := toolchainStatus{Target: string(t), GNU: t.GNU(), Provider: string(tc.Provider), Prefix: tc.Prefix, HostSysroot: tc.HostSysroot,
				Ready: tc.Ready(), Tools: tc.Tools, Versions: tc.Versions, Missing: append([]string{}, tc.Missing...),
				Optional: tc.Optional, Env: tc.Env()}
			if a.json {
				if err := a.printJSON(st); err != nil {
					return err
				}
			} else {
				a.printf("target:       %s (GNU %s)\n", st.Target, st.GNU)
				switch tc.Provider {
				case toolchain.Prebuilt:
					a.printf("provider:     prebuilt (upstream's prefix, cook toolchain install)\n")
				case toolchain.Bootstrapped:
					a.printf("provider:     bootstrapped from the host's Rust and LLVM (cook toolchain bootstrap)\n")
				}
				if st.Prefix != "" {
					a.printf("prefix:       %s\n", st.Prefix)
				}
				a.printf("host sysroot: %s\n", st.HostSysroot)
				for _, n := range sortedKeys(st.Tools) {
					v := st.Tools[n]
					if v == "" {
						v = "MISSING"
					}
					a.printf("  %-10s %s\n", n, v)
				}
				if len(st.Versions) > 0 {
					a.printf("host tools:\n")
					for _, n := range sortedKeys(st.Versions) {
						a.printf("  %-12s %s\n", n, st.Versions[n])
					}
				}
				if len(st.Optional) > 0 {
					a.printf("optional, missing:\n  %s\n", strings.Join(st.Optional, "\n  "))
				}
				if st.Ready {
					a.printf("ready\n")
				} else {
					a.printf("not ready:\n  %s\n", strings.Join(st.Missing, "\n  "))
				}
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

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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
			root, err := a.workDir()
			if err != nil {
				return err
			}
			def := a.bootstrapOptions()
			if prev, ok := toolchain.PreviousOptions(root, t); ok { // keep what is not changed
				def.Rustc = firstNonEmpty(def.Rustc, prev.Rustc)
				def.Cargo = firstNonEmpty(def.Cargo, prev.Cargo)
				def.Cbindgen = firstNonEmpty(def.Cbindgen, prev.Cbindgen)
			}
			if opts.Rustc == "" {
				opts.Rustc = def.Rustc
			}
			if opts.Cargo == "" {
				opts.Cargo = def.Cargo
			}
			if opts.Cbindgen == "" {
				opts.Cbindgen = def.Cbindgen
			}
			res, err := toolchain.Bootstrap(cmd.Context(), t, root, opts)
			if err != nil {
				if errors.Is(err, toolchain.ErrPrebuiltPresent) {
					return usageErr(err)
				}
				return failed(err)
			}
			if a.json {
				return a.printJSON(map[string]any{"target": t, "sysroot": res.Sysroot, "changed": res.Changed, "tools": res.Probe.Tools})
			}
			if res.Changed {
				a.printf("bootstrapped the %s toolchain in %s\n", t, res.Sysroot)
			} else {
				a.printf("the %s toolchain in %s is up to date\n", t, res.Sysroot)
			}
			for _, tool := range res.Probe.Tools {
				if tool.Found() {
					a.printf("  %-12s %s (%s)\n", tool.Name, tool.Version, tool.Path)
				} else {
					a.printf("  %-12s missing: %s; fix: %s\n", tool.Name, tool.Problem, tool.Fix)
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Rustc, "rustc", "", "the rustc to use (default /usr/bin/rustc, else the first on PATH that is not a rustup proxy; cook.toml [toolchain] rustc)")
	f.StringVar(&opts.Cargo, "cargo", "", "the cargo to use (default /usr/bin/cargo, likewise; cook.toml [toolchain] cargo)")
	f.StringVar(&opts.Cbindgen, "cbindgen", "", "a cbindgen ≥ 0.29 for relibc's headers (default: on PATH; env COOK_CBINDGEN; cook.toml [toolchain] cbindgen)")
	f.BoolVar(&opts.Replace, "replace", false, "replace an installed prebuilt toolchain")
	return c
}
