package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/image"
	"github.com/redox-cook/cook/redoxfs"
)

func init() { register(newFsCmd) }

// fsImage opens the IMAGE argument of the cook fs commands at --offset.
type fsImage struct {
	a      *app
	offset int64
}

func (o *fsImage) open(cmd *cobra.Command, file string) (*image.FS, error) {
	at := o.offset
	if !cmd.Flags().Changed("offset") {
		at = image.Search
	} else if at < 0 {
		return nil, usageErr(fmt.Errorf("--offset %d: an offset cannot be negative", at))
	}
	img, err := image.OpenFS(cmd.Context(), file, at)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usageErr(err)
	}
	if err != nil {
		return nil, failed(err)
	}
	return img, nil
}

func newFsCmd(a *app) *cobra.Command {
	o := &fsImage{a: a}
	cmd := &cobra.Command{
		Use:   "fs",
		Short: "Read a RedoxFS filesystem, bare or inside a partitioned image",
		Long: `cook fs reads a RedoxFS (version 8) filesystem: a bare filesystem image, or the
RedoxFS partition of a GPT disk image such as cook image or the upstream installer
writes. Every block read is checked against its SeaHash.

PATH is a path inside the filesystem ("/" by default); symlinks are followed for
ls and cat the way the shell would, with absolute targets resolved from the
filesystem root.`,
	}
	cmd.PersistentFlags().Int64Var(&o.offset, "offset", image.Search, "byte offset of the filesystem in IMAGE (default: byte 0, else the GPT partition holding RedoxFS, else 2 MiB)")

	cmd.AddCommand(o.lsCmd(), o.catCmd(), o.treeCmd(), o.checkCmd())
	return cmd
}

func (o *fsImage) lsCmd() *cobra.Command {
	a := o.a
	return &cobra.Command{
		Use:   "ls IMAGE [PATH]",
		Short: "List a directory (or show one file) with mode, owner, size and time",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := o.open(cmd, args[0])
			if err != nil {
				return err
			}
			defer img.Close()
			name := fsPath(args[1:])
			list, err := img.List(name)
			if err != nil {
				return failed(err)
			}
			ents := []redoxfs.ListEntry{}
			for _, e := range list {
				ents = append(ents, redoxfs.NewListEntry(e))
			}
			if a.json {
				return a.printJSON(struct {
					Offset  int64               `json:"offset"`
					Path    string              `json:"path"`
					Entries []redoxfs.ListEntry `json:"entries"`
				}{img.Offset, path.Join("/", name), ents})
			}
			for _, e := range ents {
				a.printf("%s\n", e.Line(e.Name))
			}
			return nil
		},
	}
}

func (o *fsImage) catCmd() *cobra.Command {
	a := o.a
	return &cobra.Command{
		Use:   "cat IMAGE PATH",
		Short: "Write a file's contents to standard output",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := o.open(cmd, args[0])
			if err != nil {
				return err
			}
			defer img.Close()
			f, err := img.Open(fsPath(args[1:]))
			if err != nil {
				return failed(err)
			}
			defer f.Close()
			if fi, _ := f.Stat(); fi != nil && fi.IsDir() {
				return failed(fmt.Errorf("cat %s: is a directory", args[1]))
			}
			if _, err := io.Copy(a.stdout, f); err != nil {
				return failed(fmt.Errorf("cat %s: %w", args[1], err))
			}
			return nil
		},
	}
}

func (o *fsImage) treeCmd() *cobra.Command {
	a := o.a
	return &cobra.Command{
		Use:   "tree IMAGE [PATH]",
		Short: "Show the tree of files below a directory",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := o.open(cmd, args[0])
			if err != nil {
				return err
			}
			defer img.Close()
			var enter, leave func(redoxfs.EntryInfo) error
			if a.json {
				enter, leave = redoxfs.JSONTree(a.stdout)
			} else {
				enter = redoxfs.TextTree(a.stdout)
			}
			if err := img.Walk(cmd.Context(), fsPath(args[1:]), enter, leave); err != nil {
				return failed(err)
			}
			return nil
		},
	}
}

func (o *fsImage) checkCmd() *cobra.Command {
	a := o.a
	return &cobra.Command{
		Use:   "check IMAGE",
		Short: "Read every node, directory and record, verifying every block hash",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := o.open(cmd, args[0])
			if err != nil {
				return err
			}
			defer img.Close()
			info := img.Info()
			if err := img.Check(cmd.Context()); err != nil {
				return failed(err)
			}
			if a.json {
				return a.printJSON(struct {
					Offset     int64  `json:"offset"`
					UUID       string `json:"uuid"`
					Size       int64  `json:"size"`
					Generation uint64 `json:"generation"`
					OK         bool   `json:"ok"`
				}{img.Offset, info.UUIDString(), info.Size, info.Generation, true})
			}
			a.printf("RedoxFS at byte %d: uuid %s, %d bytes, generation %d: ok\n", img.Offset, info.UUIDString(), info.Size, info.Generation)
			return nil
		},
	}
}

// fsPath turns an optional PATH argument into an io/fs name.
func fsPath(args []string) string {
	if len(args) == 0 {
		return "."
	}
	p := strings.Trim(path.Clean("/"+args[0]), "/")
	if p == "" {
		return "."
	}
	return p
}
