package redoxfs

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"slices"
)

// EntryInfo is one file as List and Walk report it.
type EntryInfo struct {
	// Path is the file's io/fs name ("." for the root). Names below it
	// are joined as stored, so a damaged name cannot move the path.
	Path string
	// Info describes the file itself, not what a symlink points at;
	// Info.Sys() is a *Stat.
	Info fs.FileInfo
	// Target is a symlink's target.
	Target string
	// Dir says the entry is walked as a directory: it is one, or it is
	// a symlink to one given as where Walk starts.
	Dir bool
	// Depth is 0 where Walk starts, 1 for its entries, and so on.
	Depth int
	// Last says the entry is the last of its directory (sorted by name).
	Last bool
	// Children is how many entries a Dir has.
	Children int
}

// MaxWalkDepth is how deep Walk goes below where it starts.
const MaxWalkDepth = 4096

// EntryInfo describes the named file without following a symlink in its
// last element.
func (f *FS) EntryInfo(name string) (EntryInfo, error) {
	id, n, err := f.resolve("lstat", name, false)
	if err != nil {
		return EntryInfo{}, err
	}
	return f.entryInfo(name, baseName(name), id, n)
}

func (f *FS) entryInfo(name, base string, id nodeID, n *node) (EntryInfo, error) {
	e := EntryInfo{Path: name, Info: &fileInfo{base, newStat(id, n)}, Dir: n.mode&modeType == modeDir}
	if n.mode&modeType == modeSymlink {
		b, err := f.readAll(id, n)
		if err != nil {
			return e, &fs.PathError{Op: "readlink", Path: name, Err: err}
		}
		e.Target = string(b)
	}
	return e, nil
}

// List returns what ls shows for name: the entries of the directory it
// names (following symlinks), sorted by name, or else the file itself.
func (f *FS) List(name string) ([]EntryInfo, error) {
	id, n, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	if n.mode&modeType != modeDir {
		e, err := f.EntryInfo(name)
		if err != nil {
			return nil, err
		}
		return []EntryInfo{e}, nil
	}
	kids, err := f.dirents(id, n)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]EntryInfo, 0, len(kids))
	for i, k := range kids {
		e, _, err := f.child(name, k)
		if err != nil {
			return nil, err
		}
		e.Depth, e.Last = 1, i == len(kids)-1
		out = append(out, e)
	}
	return out, nil
}

// child describes directory entry k of the directory at name.
func (f *FS) child(name string, k dirent) (EntryInfo, *node, error) {
	p := joinName(name, k.name)
	n, err := f.node(k.id)
	if err != nil {
		return EntryInfo{}, nil, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	e, err := f.entryInfo(p, k.name, k.id, n)
	return e, n, err
}

func joinName(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// dirents lists directory node id, sorted by name.
func (f *FS) dirents(id nodeID, n *node) ([]dirent, error) {
	var kids []dirent
	if err := f.walkDir(id, n, nil, func(e dirent) bool { kids = append(kids, e); return true }); err != nil {
		return nil, err
	}
	slices.SortFunc(kids, func(a, b dirent) int { return cmp.Compare(a.name, b.name) })
	return kids, nil
}

// Walk calls enter for name and, depth first in name order, for
// everything below it; for each directory, leave is called after its
// entries (leave may be nil). Symlinks are not followed, except where the
// walk starts. Nothing is gathered: output can stream as the walk goes.
//
// A node reached a second time is refused with ErrCorrupt, as Check does:
// RedoxFS directories form a tree, and a damaged or crafted image whose
// directories share children would otherwise make a handful of nodes look
// like billions of paths. So the walk visits each node once at most, and
// stops once ctx is done or enter or leave returns an error.
func (f *FS) Walk(ctx context.Context, name string, enter, leave func(EntryInfo) error) error {
	f = f.WithContext(ctx)
	e, err := f.EntryInfo(name)
	if err != nil {
		return err
	}
	id, n, err := f.resolve("stat", name, true)
	if err != nil {
		return err
	}
	if n.mode&modeType == modeDir {
		e.Dir = true // a symlink to a directory, given as where to start
	}
	w := &walker{fs: f, seen: map[nodeID]string{}, enter: enter, leave: leave}
	if st := e.Info.Sys().(*Stat); nodeID(st.Inode) != id {
		w.seen[nodeID(st.Inode)] = name
	}
	return w.visit(e, id, n)
}

type walker struct {
	fs           *FS
	seen         map[nodeID]string // node → the path it was first reached by
	enter, leave func(EntryInfo) error
}

func (w *walker) visit(e EntryInfo, id nodeID, n *node) error {
	if err := w.fs.alive(); err != nil {
		return err
	}
	if first, ok := w.seen[id]; ok {
		return fmt.Errorf("redoxfs: %s: node %d reached twice (first as %s): directories share it: %w", display(e.Path), id, display(first), ErrCorrupt)
	}
	w.seen[id] = e.Path
	if !e.Dir {
		return w.enter(e)
	}
	if e.Depth >= MaxWalkDepth {
		return fmt.Errorf("redoxfs: %s: directories nest deeper than %d: %w", display(e.Path), MaxWalkDepth, ErrCorrupt)
	}
	kids, err := w.fs.dirents(id, n)
	if err != nil {
		return &fs.PathError{Op: "readdir", Path: e.Path, Err: err}
	}
	e.Children = len(kids)
	if err := w.enter(e); err != nil {
		return err
	}
	for i, k := range kids {
		c, cn, err := w.fs.child(e.Path, k)
		if err != nil {
			return err
		}
		c.Depth, c.Last = e.Depth+1, i == len(kids)-1
		if err := w.visit(c, k.id, cn); err != nil {
			return err
		}
	}
	if w.leave != nil {
		return w.leave(e)
	}
	return nil
}

// display turns an io/fs name into the absolute path users see.
func display(name string) string {
	if name == "." {
		return "/"
	}
	return "/" + name
}
