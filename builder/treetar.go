package builder

import (
	"archive/tar"
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

	"github.com/redox-cook/cook/internal/fsutil"
)

const keepMode = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// Stage trees travel through the action cache as tar streams.

// writeTree writes dir as a tar stream: directories, regular files and
// symlinks with their modes and modification times, in lexical order and
// without owners, so the same tree gives the same bytes.
func writeTree(ctx context.Context, w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: int64(fsutil.UnixFromMode(info.Mode())), ModTime: info.ModTime(), Format: tar.FormatPAX}
		mode := info.Mode()
		switch {
		case mode.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case mode&fs.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			if hdr.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case mode.IsRegular():
			hdr.Typeflag = tar.TypeReg
			hdr.Size = info.Size()
		default:
			return fmt.Errorf("%s: cannot cache a %v", p, mode.Type())
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			n, err := io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
			if n != hdr.Size {
				return fmt.Errorf("%s changed while it was being read", p)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive %s: %w", dir, err)
	}
	return tw.Close()
}

// readTree extracts a tar stream written by writeTree into dir, which
// must exist and be empty. Names that would leave dir (absolute, "..", or
// through a symlink it created), sparse files and other entry types are
// refused, so what it writes is no larger than the stream.
func readTree(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	links := map[string]bool{}
	type dirMode struct {
		path  string
		mode  fs.FileMode
		mtime time.Time
	}
	var dirs []dirMode
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := path.Clean(strings.TrimSuffix(hdr.Name, "/"))
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("entry %q leaves the tree", hdr.Name)
		}
		for p := path.Dir(name); p != "."; p = path.Dir(p) {
			if links[p] {
				return fmt.Errorf("entry %q goes through the symlink %s", hdr.Name, p)
			}
		}
		for k := range hdr.PAXRecords {
			// archive/tar expands a sparse entry's holes as it reads: a
			// few KiB could write a TiB of zeros. writeTree makes none.
			if strings.HasPrefix(k, "GNU.sparse.") {
				return fmt.Errorf("entry %q is a sparse file, which a stage archive never holds", hdr.Name)
			}
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		mode := hdr.FileInfo().Mode() & keepMode
		switch hdr.Typeflag {
		case tar.TypeDir:
			if name != "." {
				if err := os.Mkdir(dst, 0o700); err != nil {
					return err
				}
			}
			dirs = append(dirs, dirMode{dst, mode, hdr.ModTime})
		case tar.TypeSymlink:
			if name == "." {
				return fmt.Errorf("the tree's root is a symlink")
			}
			if err := os.Symlink(hdr.Linkname, dst); err != nil {
				return err
			}
			links[name] = true
		case tar.TypeReg:
			if name == "." {
				return fmt.Errorf("the tree's root is a file")
			}
			f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Chmod(dst, mode); err != nil {
				return err
			}
			if err := os.Chtimes(dst, hdr.ModTime, hdr.ModTime); err != nil {
				return err
			}
		default:
			return fmt.Errorf("entry %q has unsupported type %q", hdr.Name, hdr.Typeflag)
		}
	}
	// directories last, deepest first: a read-only one must not stop its
	// children being written, and writing children changes its mtime
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if err := os.Chmod(d.path, d.mode); err != nil {
			return err
		}
		if err := os.Chtimes(d.path, d.mtime, d.mtime); err != nil {
			return err
		}
	}
	return nil
}
