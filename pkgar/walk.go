package pkgar

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// walkStage lists the files and symlinks under root in upstream's order:
// each directory's children sorted by name, directories recursed in place.
// Directories are read (and their entries' sizes and modes found) on
// several goroutines at once; the list is put together in order after, so
// that the result, and the error reported when several entries are bad,
// are those of a walk in order.
func walkStage(root string) ([]Entry, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("stage directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("stage directory %s: not a directory", root)
	}
	w := &stageWalker{root: root, sem: make(chan struct{}, max(2, runtime.GOMAXPROCS(0))*2)}
	top := &stageDir{rel: ""}
	w.wg.Add(1)
	w.read(top)
	w.wg.Wait()
	var entries []Entry
	if err := top.flatten(&entries); err != nil {
		return nil, err
	}
	return entries, nil
}

// stageWalker reads a stage's directories concurrently.
type stageWalker struct {
	root string
	sem  chan struct{} // bounds the goroutines reading directories
	wg   sync.WaitGroup
}

// stageDir is one directory of a stage as read: its children in name
// order, each an entry or a subdirectory, or the error that stopped the
// walk at that point.
type stageDir struct {
	rel      string
	children []stageChild
	err      error // after the children, in walk order
}

type stageChild struct {
	entry Entry
	dir   *stageDir // set for a subdirectory
}

// read reads d and, for each subdirectory, starts its read on another
// goroutine when one is free, else reads it on this one. Entries are
// looked at relative to the open directory, which saves the kernel walking
// the whole path again for each.
func (w *stageWalker) read(d *stageDir) {
	defer w.wg.Done()
	f, err := os.Open(filepath.Join(w.root, filepath.FromSlash(d.rel)))
	if err != nil {
		d.err = fmt.Errorf("reading stage directory: %w", err)
		return
	}
	defer f.Close()
	des, err := f.ReadDir(-1)
	if err != nil {
		d.err = fmt.Errorf("reading stage directory: %w", err)
		return
	}
	// upstream's order: by name, bytewise
	slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	dirfd := int(f.Fd())
	d.children = make([]stageChild, 0, len(des))
	for _, de := range des {
		p := path.Join(d.rel, de.Name())
		if de.IsDir() {
			sub := &stageDir{rel: p}
			d.children = append(d.children, stageChild{dir: sub})
			w.wg.Add(1)
			select {
			case w.sem <- struct{}{}:
				go func() {
					defer func() { <-w.sem }()
					w.read(sub)
				}()
			default:
				w.read(sub)
			}
			continue
		}
		e, err := w.entry(dirfd, p, de.Name())
		if err != nil {
			d.err = err
			return
		}
		d.children = append(d.children, stageChild{entry: e})
	}
}

// entry describes the file or symlink name in the directory dirfd, at p
// in the stage.
func (w *stageWalker) entry(dirfd int, p, name string) (Entry, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Entry{}, fmt.Errorf("stage entry: lstat %s: %w", filepath.Join(w.root, p), err)
	}
	if len(p) >= PathSize {
		return Entry{}, fmt.Errorf("%s: path is %d bytes, longer than pkgar's limit of %d", filepath.Join(w.root, p), len(p), PathSize-1)
	}
	mode := st.Mode & ModePerm
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		mode |= ModeFile
	case unix.S_IFLNK:
		mode |= ModeSymlink
	default:
		return Entry{}, fmt.Errorf("%s: unsupported file type %s (only files, symlinks and directories can be packaged)", filepath.Join(w.root, p), unixType(st.Mode))
	}
	return Entry{Mode: mode, Path: p, Size: uint64(st.Size)}, nil
}

// flatten appends d's entries in walk order, stopping at the first error.
func (d *stageDir) flatten(out *[]Entry) error {
	for _, c := range d.children {
		if c.dir == nil {
			*out = append(*out, c.entry)
			continue
		}
		if err := c.dir.flatten(out); err != nil {
			return err
		}
	}
	return d.err
}

// unixType is the fs.FileMode type of a stat's mode, for messages.
func unixType(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFDIR:
		return fs.ModeDir
	}
	return fs.ModeIrregular
}
