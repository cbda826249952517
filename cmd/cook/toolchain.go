package main

import (
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
	Prefix      string            `json:"prefix,omitempty"`
	HostSysroot string            `json:"host_sysroot"`
	Ready       bool              `json:"ready"`
	Tools       map[string]string `json:"tools"`
	Missing     []string          `json:"missing"`
	Env         map[string]string `json:"env"`
}

func newToolchainCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "toolchain status|install",
		Short: "Show the toolchain found for --target, or install the prebuilt Redox prefix",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Say which compilers and tools were found for --target and what is missing, with the fix",
		Args:  noArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := a.triple
			root, err := a.workDir()
			if err != nil {
				return err
			}
			tc, err := toolchain.Find(cmd.Context(), t, root)
			if err != nil {
				return failed(err)
			}
			st := toolchainStatus{Target: string(t), GNU: t.GNU(), Prefix: tc.Prefix, HostSysroot: tc.HostSysroot,
				Ready: tc.Ready(), Tools: tc.Tools, Missing: append([]string{}, tc.Missing...), Env: tc.Env()}
			if a.json {
				if err := a.printJSON(st); err != nil {
					return err
				}
			} else {
				a.printf("target:       %s (GNU %s)\n", st.Target, st.GNU)
				if st.Prefix != "" {
					a.printf("prefix:       %s\n", st.Prefix)
				}
				a.printf("host sysroot: %s\n", st.HostSysroot)
				names := make([]string, 0, len(st.Tools))
				for n := range st.Tools {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					v := st.Tools[n]
					if v == "" {
						v = "MISSING"
					}
					a.printf("  %-10s %s\n", n, v)
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
