package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/mholt/archives"
)

// TraversalError is an archive entry that would land outside the destination.
type TraversalError struct {
	Entry, Target, Reason string
}

func (e *TraversalError) Error() string {
	if e.Target != "" {
		return fmt.Sprintf("archive entry %q (link to %q) %s; refusing to extract", e.Entry, e.Target, e.Reason)
	}
	return fmt.Sprintf("archive entry %q %s; refusing to extract", e.Entry, e.Reason)
}

// Extract unpacks the archive file (tar with any compression archives knows:
// gz, xz, bz2, zst, lz, …; or zip) into dest, which must not exist yet, and
// drops the first path component of every entry as `tar --strip-components 1`
// does (entries with no second component are skipped). Entries that would
// land outside dest — "..", absolute paths, links pointing out, writes
// through links — are refused. Modes and modification times are kept; owners
// are not.
func Extract(ctx context.Context, file, dest string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	format, stream, err := archives.Identify(ctx, filepath.Base(file), f)
	if err != nil {
		return fmt.Errorf("%s: unknown archive format: %w", file, err)
	}
	var ex archives.Extractor
	switch ft := format.(type) {
	case archives.Zip:
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		stream, ex = f, ft
	case archives.CompressedArchive:
		if gz, ok := ft.Compression.(archives.Gz); ok {
			gz.Multithreaded = true
			ft.Compression = gz
		}
		ex = ft
	case archives.Extractor:
		ex = ft
	default:
		return fmt.Errorf("%s: %s is not an archive format", file, format.Extension())
	}
	if err := os.Mkdir(dest, 0o755); err != nil {
		return err
	}
	x := &extractor{dest: dest}
	if err := ex.Extract(ctx, stream, x.handle); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return x.finish()
}

type extractor struct {
	dest string
	dirs []dirTime // directory times are set last, children change them
}

type dirTime struct {
	path string
	t    time.Time
}

// strip turns an archive name into a relative slash path with the first
// component removed; ok is false for entries with nothing left.
func strip(name string) (rel string, ok bool, err error) {
	if strings.HasPrefix(name, "/") {
		return "", false, &TraversalError{Entry: name, Reason: "is an absolute path"}
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", false, &TraversalError{Entry: name, Reason: "contains '..'"}
		}
	}
	n := strings.TrimPrefix(name, "./")
	for strings.HasPrefix(n, "./") {
		n = strings.TrimPrefix(n, "./")
	}
	_, rest, found := strings.Cut(n, "/")
	if !found {
		return "", false, nil
	}
	rest = path.Clean(rest)
	if rest == "." || rest == "" {
		return "", false, nil
	}
	return rest, true, nil
}

func (x *extractor) handle(ctx context.Context, fi archives.FileInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rel, ok, err := strip(fi.NameInArchive)
	if err != nil || !ok {
		return err
	}
	target := filepath.Join(x.dest, filepath.FromSlash(rel))
	if err := x.checkParents(rel, fi.NameInArchive); err != nil {
		return err
	}
	mode := fi.Mode()
	perm := mode.Perm() | 0o200 // the owner may always write: patches and scripts edit the tree
	switch {
	case mode.IsDir():
		if err := os.MkdirAll(target, perm|0o700); err != nil {
			return err
		}
		if err := os.Chmod(target, perm|0o700); err != nil {
			return err
		}
		x.dirs = append(x.dirs, dirTime{target, fi.ModTime()})
		return nil
	case mode&fs.ModeSymlink != 0:
		lt := fi.LinkTarget
		if strings.HasPrefix(lt, "/") {
			return &TraversalError{Entry: fi.NameInArchive, Target: lt, Reason: "is a link to an absolute path"}
		}
		if resolved := path.Join(path.Dir(rel), lt); resolved == ".." || strings.HasPrefix(resolved, "../") {
			return &TraversalError{Entry: fi.NameInArchive, Target: lt, Reason: "is a link pointing outside the source tree"}
		}
		if err := x.mkParent(target); err != nil {
			return err
		}
		os.Remove(target)
		return os.Symlink(lt, target)
	case isHardLink(fi):
		lrel, lok, err := strip(fi.LinkTarget)
		if err != nil {
			return &TraversalError{Entry: fi.NameInArchive, Target: fi.LinkTarget, Reason: "is a hard link pointing outside the source tree"}
		}
		if !lok {
			return &TraversalError{Entry: fi.NameInArchive, Target: fi.LinkTarget, Reason: "is a hard link to the top directory"}
		}
		if err := x.checkParents(lrel, fi.NameInArchive); err != nil {
			return err
		}
		src := filepath.Join(x.dest, filepath.FromSlash(lrel))
		if st, err := os.Lstat(src); err != nil || !st.Mode().IsRegular() {
			return &TraversalError{Entry: fi.NameInArchive, Target: fi.LinkTarget, Reason: "is a hard link to something that is not a file extracted earlier"}
		}
		if err := x.mkParent(target); err != nil {
			return err
		}
		os.Remove(target)
		return os.Link(src, target)
	case mode.IsRegular():
		if err := x.mkParent(target); err != nil {
			return err
		}
		r, err := fi.Open()
		if err != nil {
			return err
		}
		defer r.Close()
		os.Remove(target)
		w, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, r); err != nil {
			w.Close()
			return fmt.Errorf("%s: %w", fi.NameInArchive, err)
		}
		if err := w.Close(); err != nil {
			return err
		}
		mt := fi.ModTime()
		return os.Chtimes(target, mt, mt)
	default:
		// devices, fifos, sockets: tar would create them only as root; skip.
		return nil
	}
}

func isHardLink(fi archives.FileInfo) bool {
	return fi.LinkTarget != "" && fi.Mode()&fs.ModeSymlink == 0 && tarHardLink(fi.Header)
}

// checkParents refuses an entry whose parent directories inside dest are
// anything but real directories (a symlink there would redirect the write).
func (x *extractor) checkParents(rel, entry string) error {
	dir := x.dest
	parts := strings.Split(rel, "/")
	for _, p := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, p)
		st, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return &TraversalError{Entry: entry, Reason: "would be written through a link or a file (" + p + ")"}
		}
	}
	return nil
}

func (x *extractor) mkParent(target string) error {
	return os.MkdirAll(filepath.Dir(target), 0o755)
}

func (x *extractor) finish() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if !d.t.IsZero() {
			if err := os.Chtimes(d.path, d.t, d.t); err != nil {
				return err
			}
		}
	}
	return nil
}
