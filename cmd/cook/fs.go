package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/image"
	"github.com/redox-cook/cook/redoxfs"
)

func init() { register(newFsCmd) }

func newFsCmd(a *app) *cobra.Command {
	var offset int64
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
	cmd.PersistentFlags().Int64Var(&offset, "offset", image.Search, "byte offset of the filesystem in IMAGE (default: byte 0, else the GPT partition holding RedoxFS, else 2 MiB)")

	open := func(cmd *cobra.Command, file string) (*image.FS, error) {
		at := offset
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

	ls := &cobra.Command{
		Use:   "ls IMAGE [PATH]",
		Short: "List a directory (or show one file) with mode, owner, size and time",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := open(cmd, args[0])
			if err != nil {
				return err
			}
			defer img.Close()
			name := fsPath(args[1:])
			list, err := img.List(name)
			if err != nil {
				return failed(err)
			}
			ents := []fsEntry{}
			for _, e := range list {
				ents = append(ents, newFsEntry(e))
			}
			if a.json {
				return a.printJSON(struct {
					Offset  int64     `json:"offset"`
					Path    string    `json:"path"`
					Entries []fsEntry `json:"entries"`
				}{img.Offset, "/" + strings.TrimPrefix(name, "."), ents})
			}
			for _, e := range ents {
				a.printf("%s\n", e.line(e.Name))
			}
			return nil
		},
	}

	cat := &cobra.Command{
		Use:   "cat IMAGE PATH",
		Short: "Write a file's contents to standard output",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := open(cmd, args[0])
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

	tree := &cobra.Command{
		Use:   "tree IMAGE [PATH]",
		Short: "Show the tree of files below a directory",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := open(cmd, args[0])
			if err != nil {
				return err
			}
			defer img.Close()
			var enter, leave func(redoxfs.EntryInfo) error
			if a.json {
				enter, leave = jsonTree(a.stdout)
			} else {
				enter = textTree(a.stdout)
			}
			if err := img.Walk(cmd.Context(), fsPath(args[1:]), enter, leave); err != nil {
				return failed(err)
			}
			return nil
		},
	}

	check := &cobra.Command{
		Use:   "check IMAGE",
		Short: "Read every node, directory and record, verifying every block hash",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := open(cmd, args[0])
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

	cmd.AddCommand(ls, cat, tree, check)
	return cmd
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

// fsEntry is one file as cook fs reports it.
type fsEntry struct {
	Path     string    `json:"path"`
	Name     string    `json:"name"`
	Type     string    `json:"type"` // file, dir, symlink or other
	Mode     string    `json:"mode"` // permission bits in octal, with setuid/setgid/sticky
	UID      uint32    `json:"uid"`
	GID      uint32    `json:"gid"`
	Size     int64     `json:"size"`
	Mtime    time.Time `json:"mtime"`
	Target   string    `json:"target,omitempty"`
	Children []fsEntry `json:"children,omitempty"`
}

func newFsEntry(e redoxfs.EntryInfo) fsEntry {
	st := e.Info.Sys().(*redoxfs.Stat)
	out := fsEntry{
		Path:   "/" + strings.TrimPrefix(e.Path, "."),
		Name:   e.Info.Name(),
		Mode:   fmt.Sprintf("%o", st.Mode&0o7777),
		UID:    st.UID,
		GID:    st.GID,
		Size:   e.Info.Size(),
		Mtime:  st.Mtime,
		Target: e.Target,
	}
	switch {
	case e.Dir:
		out.Type = "dir"
	case e.Info.Mode().Type() == 0:
		out.Type = "file"
	case e.Info.Mode().Type() == fs.ModeSymlink:
		out.Type = "symlink"
	default:
		out.Type = "other"
	}
	return out
}

// textTree prints each entry as the walk meets it, under the root's label.
func textTree(w io.Writer) func(redoxfs.EntryInfo) error {
	var last []bool // per depth: was the entry there the last of its directory
	return func(e redoxfs.EntryInfo) error {
		label := e.Info.Name()
		if e.Depth == 0 {
			label = "/" + strings.TrimPrefix(e.Path, ".")
		}
		if e.Target != "" {
			label += " -> " + e.Target
		}
		var b strings.Builder
		if e.Depth > 0 {
			last = append(last[:e.Depth-1], e.Last)
			for _, l := range last[:e.Depth-1] {
				if l {
					b.WriteString("    ")
				} else {
					b.WriteString("│   ")
				}
			}
			if e.Last {
				b.WriteString("└── ")
			} else {
				b.WriteString("├── ")
			}
		}
		b.WriteString(label)
		b.WriteByte('\n')
		_, err := io.WriteString(w, b.String())
		return err
	}
}

// jsonTree writes the root's fsEntry with nested children as the walk
// meets them, byte for byte what json.Encoder with a two-space indent
// writes for the whole tree.
func jsonTree(w io.Writer) (enter, leave func(redoxfs.EntryInfo) error) {
	first := []bool{true} // per depth: no entry written there yet
	indent := func(depth int) string { return strings.Repeat("  ", 2*depth) }
	enter = func(e redoxfs.EntryInfo) error {
		d := e.Depth
		b, err := json.MarshalIndent(newFsEntry(e), indent(d), "  ")
		if err != nil {
			return err
		}
		var out []byte
		if d > 0 {
			if !first[d] {
				out = append(out, ",\n"...)
			}
			first[d] = false
			out = append(out, indent(d)...)
		}
		if e.Dir && e.Children > 0 {
			// Leave the object open for its children.
			b = bytes.TrimSuffix(b, []byte("\n"+indent(d)+"}"))
			out = append(out, b...)
			out = append(out, ",\n"+indent(d)+"  \"children\": [\n"...)
			first = append(first[:d+1], true)
		} else {
			out = append(out, b...)
			if d == 0 {
				out = append(out, '\n')
			}
		}
		_, err = w.Write(out)
		return err
	}
	leave = func(e redoxfs.EntryInfo) error {
		if e.Children == 0 {
			return nil
		}
		d := e.Depth
		out := "\n" + indent(d) + "  ]\n" + indent(d) + "}"
		if d == 0 {
			out += "\n"
		}
		_, err := io.WriteString(w, out)
		return err
	}
	return enter, leave
}

// line formats e like ls -l: mode, owner, size, time and name.
func (e fsEntry) line(name string) string {
	if e.Target != "" {
		name += " -> " + e.Target
	}
	return fmt.Sprintf("%s %5d %5d %10d %s %s", lsMode(e), e.UID, e.GID, e.Size, e.Mtime.UTC().Format("2006-01-02 15:04"), name)
}

// lsMode renders type and permission bits the way ls -l does.
func lsMode(e fsEntry) string {
	var m uint64
	fmt.Sscanf(e.Mode, "%o", &m)
	b := []byte("?rwxrwxrwx")
	switch e.Type {
	case "file":
		b[0] = '-'
	case "dir":
		b[0] = 'd'
	case "symlink":
		b[0] = 'l'
	}
	for i := range 9 {
		if m&(1<<(8-i)) == 0 {
			b[1+i] = '-'
		}
	}
	special := func(bit uint64, at int, set, unset byte) {
		if m&bit != 0 {
			if b[at] == '-' {
				b[at] = unset
			} else {
				b[at] = set
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}
