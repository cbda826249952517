package redoxfs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Entry describes one file, directory or symlink of a Tree.
type Entry struct {
	// Path is the slash-separated path below the root, such as
	// "usr/bin/ls". A leading slash and "." elements are ignored; "" and
	// "." name the root. ".." and empty elements are an error.
	Path string
	// Mode holds the type (0 for a regular file, fs.ModeDir or
	// fs.ModeSymlink) and the permission bits, including fs.ModeSetuid,
	// fs.ModeSetgid and fs.ModeSticky.
	Mode     fs.FileMode
	UID, GID uint32
	// ModTime is stored as the node's ctime, mtime and atime; the zero
	// time means Options.Time.
	ModTime time.Time
	// Target is the target of a symlink.
	Target string
	// Open returns the contents of a regular file. It is called once,
	// while the file is written, and the reader is closed afterwards. A
	// nil Open means an empty file.
	Open func() (io.ReadCloser, error)
}

// Tree describes the contents of a filesystem to Build: a root directory
// and entries below it. The zero Tree is not usable; call NewTree.
type Tree struct {
	root *treeNode
}

type treeNode struct {
	Entry
	name     string
	parent   *treeNode
	children map[string]*treeNode // nil unless a directory
}

// NewTree returns a tree holding only the root directory, mode 0755 and
// owned by 0:0.
func NewTree() *Tree {
	return &Tree{root: &treeNode{Entry: Entry{Mode: fs.ModeDir | 0o755}, children: map[string]*treeNode{}}}
}

// checkName reports whether name can be a RedoxFS directory entry.
func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%w %q", ErrName, name)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %q is %d bytes, over the limit of %d", ErrName, name, len(name), MaxNameLen)
	case strings.ContainsAny(name, ":/\x00"):
		return fmt.Errorf("%w: %q contains ':', '/' or NUL", ErrName, name)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %q is not UTF-8", ErrName, name)
	}
	return nil
}

// splitPath splits a slash-separated path, dropping "." elements and
// leading or trailing slashes.
func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	elems := strings.Split(p, "/")
	return slices.DeleteFunc(elems, func(e string) bool { return e == "." })
}

// Add adds e to the tree, or replaces the entry already at e.Path (a
// directory keeps its children). Missing parent directories are created
// with mode 0755, the owner of their parent and the default time.
func (t *Tree) Add(e Entry) error {
	switch e.Mode.Type() {
	case 0, fs.ModeDir, fs.ModeSymlink:
	default:
		return fmt.Errorf("redoxfs: add %s: unsupported file type %v", e.Path, e.Mode.Type())
	}
	elems := splitPath(e.Path)
	for _, name := range elems {
		if err := checkName(name); err != nil {
			return fmt.Errorf("redoxfs: add %s: %w", e.Path, err)
		}
	}
	if len(elems) == 0 {
		if !e.Mode.IsDir() {
			return fmt.Errorf("redoxfs: add %s: the root must be a directory", e.Path)
		}
		t.root.Entry = e
		t.root.Path = ""
		return nil
	}
	dir := t.root
	for i, name := range elems[:len(elems)-1] {
		next, ok := dir.children[name]
		if !ok {
			next = &treeNode{
				Entry:    Entry{Path: strings.Join(elems[:i+1], "/"), Mode: fs.ModeDir | 0o755, UID: dir.UID, GID: dir.GID},
				name:     name,
				parent:   dir,
				children: map[string]*treeNode{},
			}
			dir.children[name] = next
		}
		if next.children == nil {
			return fmt.Errorf("redoxfs: add %s: %s is not a directory", e.Path, next.Path)
		}
		dir = next
	}
	name := elems[len(elems)-1]
	e.Path = strings.Join(elems, "/")
	if old, ok := dir.children[name]; ok {
		if old.children != nil && len(old.children) > 0 && !e.Mode.IsDir() {
			return fmt.Errorf("redoxfs: add %s: replacing a non-empty directory with a %v", e.Path, e.Mode.Type())
		}
		old.Entry = e
		if !e.Mode.IsDir() {
			old.children = nil
		} else if old.children == nil {
			old.children = map[string]*treeNode{}
		}
		return nil
	}
	n := &treeNode{Entry: e, name: name, parent: dir}
	if e.Mode.IsDir() {
		n.children = map[string]*treeNode{}
	}
	dir.children[name] = n
	return nil
}

// Lookup returns the entry at path p.
func (t *Tree) Lookup(p string) (Entry, bool) {
	n := t.find(p)
	if n == nil {
		return Entry{}, false
	}
	return n.Entry, true
}

func (t *Tree) find(p string) *treeNode {
	n := t.root
	for _, name := range splitPath(p) {
		if n = n.children[name]; n == nil {
			return nil
		}
	}
	return n
}

// Chown sets the owner of the entry at p and, when recursive, of
// everything below it.
func (t *Tree) Chown(p string, uid, gid uint32, recursive bool) error {
	n := t.find(p)
	if n == nil {
		return fmt.Errorf("redoxfs: chown %s: %w", p, fs.ErrNotExist)
	}
	var walk func(*treeNode)
	walk = func(n *treeNode) {
		n.UID, n.GID = uid, gid
		if recursive {
			for _, c := range n.children {
				walk(c)
			}
		}
	}
	walk(n)
	return nil
}

// Walk calls fn for every entry, parents before children and siblings
// sorted by name; this is also the order in which Build numbers nodes.
func (t *Tree) Walk(fn func(Entry) error) error {
	var walk func(*treeNode) error
	walk = func(n *treeNode) error {
		if err := fn(n.Entry); err != nil {
			return err
		}
		for _, c := range n.sorted() {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(t.root)
}

func (n *treeNode) sorted() []*treeNode {
	kids := make([]*treeNode, 0, len(n.children))
	for _, c := range n.children {
		kids = append(kids, c)
	}
	slices.SortFunc(kids, func(a, b *treeNode) int { return strings.Compare(a.name, b.name) })
	return kids
}

// AddHostDir adds the contents of the host directory dir below path at,
// keeping each file's permission bits, owner and modification time. The
// directory at itself takes dir's metadata. File contents are read while
// Build runs. Sockets, pipes and devices are an error.
func (t *Tree) AddHostDir(ctx context.Context, dir, at string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("redoxfs: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("redoxfs: %w", err)
		}
		e := Entry{Path: path.Join(at, filepath.ToSlash(rel)), Mode: fi.Mode() & (fs.ModeType | fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), ModTime: fi.ModTime()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			e.UID, e.GID = st.Uid, st.Gid
		}
		switch fi.Mode().Type() {
		case 0:
			e.Open = func() (io.ReadCloser, error) { return os.Open(p) }
		case fs.ModeDir:
		case fs.ModeSymlink:
			if e.Target, err = os.Readlink(p); err != nil {
				return fmt.Errorf("redoxfs: %w", err)
			}
		default:
			return fmt.Errorf("redoxfs: %s: cannot store a %v in RedoxFS", p, fi.Mode().Type())
		}
		if err := t.Add(e); err != nil {
			return fmt.Errorf("%w (from %s)", err, p)
		}
		return nil
	})
}

// BytesOpener returns an Entry.Open function for contents held in memory.
func BytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
