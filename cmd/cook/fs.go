package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/spf13/cobra"

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
	cmd.PersistentFlags().Int64Var(&offset, "offset", -1, "byte offset of the filesystem in IMAGE (default: byte 0, else the GPT partition holding RedoxFS, else 2 MiB)")

	open := func(image string) (*fsImage, error) { return openFsImage(image, offset) }

	ls := &cobra.Command{
		Use:   "ls IMAGE [PATH]",
		Short: "List a directory (or show one file) with mode, owner, size and time",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := open(args[0])
			if err != nil {
				return err
			}
			defer img.close()
			name := fsPath(args[1:])
			fi, err := img.fs.Stat(name)
			if err != nil {
				return failed(err)
			}
			var ents []fsEntry
			if fi.IsDir() {
				des, err := img.fs.ReadDir(name)
				if err != nil {
					return failed(err)
				}
				for _, de := range des {
					e, err := img.entry(path.Join(name, de.Name()))
					if err != nil {
						return failed(err)
					}
					ents = append(ents, e)
				}
			} else {
				e, err := img.entry(name)
				if err != nil {
					return failed(err)
				}
				ents = append(ents, e)
			}
			if a.json {
				if ents == nil {
					ents = []fsEntry{}
				}
				return a.printJSON(struct {
					Offset  int64     `json:"offset"`
					Path    string    `json:"path"`
					Entries []fsEntry `json:"entries"`
				}{img.offset, "/" + strings.TrimPrefix(name, "."), ents})
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
			img, err := open(args[0])
			if err != nil {
				return err
			}
			defer img.close()
			f, err := img.fs.Open(fsPath(args[1:]))
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
			img, err := open(args[0])
			if err != nil {
				return err
			}
			defer img.close()
			name := fsPath(args[1:])
			root, err := img.walk(name)
			if err != nil {
				return failed(err)
			}
			if a.json {
				return a.printJSON(root)
			}
			label := "/" + strings.TrimPrefix(name, ".")
			if root.Target != "" {
				label += " -> " + root.Target
			}
			a.printf("%s\n", label)
			var show func(e *fsEntry, indent string)
			show = func(e *fsEntry, indent string) {
				for i := range e.Children {
					c := &e.Children[i]
					branch, next := "├── ", "│   "
					if i == len(e.Children)-1 {
						branch, next = "└── ", "    "
					}
					label := c.Name
					if c.Target != "" {
						label += " -> " + c.Target
					}
					a.printf("%s%s%s\n", indent, branch, label)
					show(c, indent+next)
				}
			}
			show(&root, "")
			return nil
		},
	}

	check := &cobra.Command{
		Use:   "check IMAGE",
		Short: "Read every node, directory and record, verifying every block hash",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := open(args[0])
			if err != nil {
				return err
			}
			defer img.close()
			info := img.fs.Info()
			if err := img.fs.Check(cmd.Context()); err != nil {
				return failed(err)
			}
			if a.json {
				return a.printJSON(struct {
					Offset     int64  `json:"offset"`
					UUID       string `json:"uuid"`
					Size       int64  `json:"size"`
					Generation uint64 `json:"generation"`
					OK         bool   `json:"ok"`
				}{img.offset, info.UUIDString(), info.Size, info.Generation, true})
			}
			a.printf("RedoxFS at byte %d: uuid %s, %d bytes, generation %d: ok\n", img.offset, info.UUIDString(), info.Size, info.Generation)
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

// fsImage is an image file and the RedoxFS found in it.
type fsImage struct {
	file   *os.File
	fs     *redoxfs.FS
	offset int64
}

func (img *fsImage) close() { img.file.Close() }

// openFsImage opens the RedoxFS in image: at offset when it is not
// negative, else at byte 0, else in a GPT partition (one named REDOX
// first), else at 2 MiB, where the BIOS bootloader looks on a whole disk.
func openFsImage(image string, offset int64) (*fsImage, error) {
	f, err := os.Open(image)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usageErr(err)
		}
		return nil, failed(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, failed(err)
	}
	size := fi.Size()
	try := func(at int64) (*redoxfs.FS, error) { return redoxfs.Open(f, at) }
	if offset >= 0 {
		fsys, err := try(offset)
		if err != nil {
			f.Close()
			return nil, failed(fmt.Errorf("%s: %w", image, err))
		}
		return &fsImage{f, fsys, offset}, nil
	}

	var errs []string
	if fsys, err := try(0); err == nil {
		return &fsImage{f, fsys, 0}, nil
	} else {
		errs = append(errs, fmt.Sprintf("byte 0: %v", err))
	}
	if table, err := gpt.Read(f, 512, 512); err == nil {
		parts := table.Partitions
		for _, pass := range []func(*gpt.Partition) bool{
			func(p *gpt.Partition) bool { return p.Name == "REDOX" },
			func(p *gpt.Partition) bool { return p.Name != "REDOX" },
		} {
			for i, p := range parts {
				if p == nil || p.Type == gpt.Unused || !pass(p) {
					continue
				}
				at := int64(p.Start) * 512
				fsys, err := try(at)
				if err == nil {
					return &fsImage{f, fsys, at}, nil
				}
				errs = append(errs, fmt.Sprintf("GPT partition %d %q at byte %d: %v", i+1, p.Name, at, err))
			}
		}
	}
	const legacy = 2 << 20
	if size > legacy {
		if fsys, err := try(legacy); err == nil {
			return &fsImage{f, fsys, legacy}, nil
		} else {
			errs = append(errs, fmt.Sprintf("byte %d: %v", legacy, err))
		}
	}
	f.Close()
	return nil, failed(fmt.Errorf("%s: no RedoxFS found:\n  %s", image, strings.Join(errs, "\n  ")))
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

func (img *fsImage) entry(name string) (fsEntry, error) {
	fi, err := img.fs.Lstat(name)
	if err != nil {
		return fsEntry{}, err
	}
	st := fi.Sys().(*redoxfs.Stat)
	e := fsEntry{
		Path:  "/" + strings.TrimPrefix(name, "."),
		Name:  fi.Name(),
		Mode:  fmt.Sprintf("%o", st.Mode&0o7777),
		UID:   st.UID,
		GID:   st.GID,
		Size:  fi.Size(),
		Mtime: st.Mtime,
	}
	switch fi.Mode().Type() {
	case 0:
		e.Type = "file"
	case fs.ModeDir:
		e.Type = "dir"
	case fs.ModeSymlink:
		e.Type = "symlink"
		if e.Target, err = img.fs.ReadLink(name); err != nil {
			return fsEntry{}, err
		}
	default:
		e.Type = "other"
	}
	return e, nil
}

// walk returns the entry at name with its descendants; symlinks below
// name are not followed.
func (img *fsImage) walk(name string) (fsEntry, error) {
	return img.walkFrom(name, true, map[uint32]bool{})
}

// walkFrom walks below name; above holds the inodes of the directories
// above it, so that a damaged directory that contains itself is reported
// instead of walked forever.
func (img *fsImage) walkFrom(name string, top bool, above map[uint32]bool) (fsEntry, error) {
	e, err := img.entry(name)
	if err != nil {
		return e, err
	}
	if e.Type == "symlink" && top {
		// Show the directory a symlink given as PATH points at.
		if fi, err := img.fs.Stat(name); err == nil && fi.IsDir() {
			e.Type = "dir"
		}
	}
	if e.Type != "dir" {
		return e, nil
	}
	des, err := img.fs.ReadDir(name)
	if err != nil {
		return e, err
	}
	if fi, err := img.fs.Stat(name); err == nil {
		ino := fi.Sys().(*redoxfs.Stat).Inode
		if above[ino] {
			return e, fmt.Errorf("%s: directory node %d contains itself: %w", e.Path, ino, redoxfs.ErrCorrupt)
		}
		above[ino] = true
		defer delete(above, ino)
	}
	for _, de := range des {
		c, err := img.walkFrom(path.Join(name, de.Name()), false, above)
		if err != nil {
			return e, err
		}
		e.Children = append(e.Children, c)
	}
	return e, nil
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
