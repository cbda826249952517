package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/initfs"
)

func init() { register(newInitfsCmd) }

// runInitfsTool runs cook as upstream's redox-initfs-ar (when called by
// that name, as the link in a build's tools directory does).
func runInitfsTool() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return initfs.ToolMain(ctx, os.Args, os.Stdout, os.Stderr)
}

type initfsWriteJSON struct {
	Path           string `json:"path"`
	Size           int64  `json:"size"`
	Inodes         int    `json:"inodes"`
	BootstrapEntry string `json:"bootstrap_entry"`
	BootstrapSize  int64  `json:"bootstrap_size"`
}

func newInitfsCmd(a *app) *cobra.Command {
	var bootstrap, out string
	var maxSize int64
	cmd := &cobra.Command{
		Use:   "initfs DIR --bootstrap FILE -o OUT",
		Short: "Write an initfs image (the kernel's first filesystem) and list or read one",
		Long: `Write DIR as a Redox initfs image (magic RedoxFtw), with the bootstrap ELF file in
front of it, to OUT: the layout of upstream's redox-initfs-ar, entries sorted by name so
the same input always gives the same bytes. OUT is written to a temporary file and
renamed when complete. The bootloader loads the image from /usr/lib/boot/initfs.

cook also acts as redox-initfs-ar when run by that name (builds find such a link in
their tools directory); see docs/initfs.md.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if bootstrap == "" || out == "" {
				return usageErr(errors.New("cook initfs: --bootstrap FILE and -o OUT are required"))
			}
			st, err := initfs.WriteFile(cmd.Context(), out, args[0], bootstrap, initfs.Options{MaxSize: maxSize})
			if err != nil {
				return failed(err)
			}
			res := initfsWriteJSON{Path: out, Size: st.Size, Inodes: st.Inodes,
				BootstrapEntry: fmt.Sprintf("%#x", st.BootstrapEntry), BootstrapSize: st.BootstrapSize}
			if a.json {
				return a.printJSON(res)
			}
			a.printf("%s: %d bytes, %d inodes, bootstrap entry %s\n", out, res.Size, res.Inodes, res.BootstrapEntry)
			return nil
		},
	}
	cmd.Flags().StringVar(&bootstrap, "bootstrap", "", "the bootstrap ELF file (base's bootstrap; copied to offset 4096, entered at its e_entry)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "the image file to write")
	cmd.Flags().Int64Var(&maxSize, "max-size", initfs.DefaultMaxSize, "the largest image allowed, in bytes (upstream's limit)")

	cmd.AddCommand(&cobra.Command{
		Use:   "ls IMAGE",
		Short: "List an initfs image's entries (mode, kind, size, path)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := initfs.OpenFile(args[0])
			if err != nil {
				return failed(err)
			}
			defer f.Close()
			l, err := f.List(cmd.Context(), args[0])
			if err != nil {
				return failed(err)
			}
			return a.output(l)
		},
	})

	cmd.AddCommand(&cobra.Command{
		Use:   "cat IMAGE PATH",
		Short: "Write a file of an initfs image to stdout",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := initfs.OpenFile(args[0])
			if err != nil {
				return failed(err)
			}
			defer f.Close()
			if _, err := f.CopyFile(cmd.Context(), a.stdout, args[1]); err != nil {
				return failed(fmt.Errorf("initfs %s: %w", args[0], err))
			}
			return nil
		},
	})
	return cmd
}
