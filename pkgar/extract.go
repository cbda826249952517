package pkgar

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

	"github.com/redox-cook/cook/internal/fsutil"
)

// ExtractOption configures Extract.
type ExtractOption func(*extractOptions) error

type extractOptions struct {
	dirMode    fs.FileMode
	dirModeSet bool
	umask      uint32
}

// WithDirMode sets the mode of directories Extract creates (default 0755;
// upstream's installer yields 0775 under its umask 002).
func WithDirMode(m fs.FileMode) ExtractOption {
	return func(o *extractOptions) error {
		if m&^fs.ModePerm != 0 {
			return fmt.Errorf("directory mode %v has bits other than permissions", m)
		}
		o.dirMode = m
		o.dirModeSet = true
		return nil
	}
}

// WithUmask masks the permission bits of extracted files, and of created
// directories (0777 &^ umask unless WithDirMode is given), the way
// upstream's installer does under its process umask (002 in the build,
// giving 0775 directories). The default is no mask: modes as packaged.
func WithUmask(umask fs.FileMode) ExtractOption {
	return func(o *extractOptions) error {
		if umask&^fs.ModePerm != 0 {
			return fmt.Errorf("umask %v has bits other than permissions", umask)
		}
		o.umask = uint32(umask)
		return nil
	}
}

// maxSymlinkHops bounds symlink resolution while extracting.
const maxSymlinkHops = 40

type pending struct{ tmp, final string }

// Extract writes every entry under dir. Paths are checked first: an empty,
// absolute, "." or ".." path refuses the whole package before anything is
// written. Existing symlinks under dir are followed as if dir were the root
// (an absolute target means dir/target, ".." stops at dir), so nothing is
// ever written outside dir. Each entry is written to a temporary file beside
// its destination and its BLAKE3 checked; only when every entry has been
// written and verified are they renamed into place. File permission bits are
// applied exactly (no umask); symlinks are recreated verbatim.
func (rd *Reader) Extract(ctx context.Context, dir string, opts ...ExtractOption) (err error) {
	o := extractOptions{dirMode: 0o755}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return err
		}
	}
	if !o.dirModeSet && o.umask != 0 {
		o.dirMode = fs.FileMode(0o777 &^ o.umask)
	}
	if rd.dataSize < 0 {
		return errors.New("cannot extract a package head: it has no data")
	}
	for i := range rd.Entries {
		if err := CheckPath(rd.Entries[i].Path); err != nil {
			return fmt.Errorf("refusing to extract: %w", err)
		}
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(root, o.dirMode); err != nil {
		return fmt.Errorf("extracting: %w", err)
	}
	var done []pending
	defer func() {
		if err != nil {
			for _, p := range done {
				os.Remove(p.tmp)
			}
		}
	}()
	for i := range rd.Entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := &rd.Entries[i]
		parent, err := resolveDir(root, path.Dir(cleanRel(e.Path)), o.dirMode)
		if err != nil {
			return fmt.Errorf("extracting %s: %w", e.Path, err)
		}
		final := filepath.Join(parent, path.Base(cleanRel(e.Path)))
		tmp, err := rd.extractTemp(e, parent, o.umask)
		if err != nil {
			return err
		}
		done = append(done, pending{tmp: tmp, final: final})
	}
	for i, p := range done {
		if err := os.Rename(p.tmp, p.final); err != nil {
			for _, q := range done[i:] {
				os.Remove(q.tmp)
			}
			done = nil
			return fmt.Errorf("extracting: %w", err)
		}
	}
	return nil
}

func cleanRel(p string) string { return strings.Trim(path.Clean(p), "/") }

func (rd *Reader) extractTemp(e *Entry, parent string, umask uint32) (string, error) {
	base := ".pkgar." + path.Base(cleanRel(e.Path))
	if e.IsSymlink() {
		target, err := rd.ReadLink(e)
		if err != nil {
			return "", err
		}
		for i := 0; ; i++ {
			tmp := filepath.Join(parent, fmt.Sprintf("%s.%d", base, i))
			err := os.Symlink(target, tmp)
			if err == nil {
				return tmp, nil
			}
			if !errors.Is(err, fs.ErrExist) || i > 100 {
				return "", fmt.Errorf("extracting %s: %w", e.Path, err)
			}
		}
	}
	r, err := rd.Open(e)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(parent, base+".*")
	if err != nil {
		return "", fmt.Errorf("extracting %s: %w", e.Path, err)
	}
	tmp := f.Name()
	_, err = io.CopyBuffer(f, r, make([]byte, 256<<10))
	if err == nil {
		err = f.Chmod(fsutil.ModeFromUnix(e.Perm() &^ umask))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		var ve *VerifyError
		if errors.As(err, &ve) {
			return "", err
		}
		return "", fmt.Errorf("extracting %s: %w", e.Path, err)
	}
	return tmp, nil
}

// resolveDir returns the host path of directory rel under root, creating
// missing directories, resolving existing symlinks with root as "/".
func resolveDir(root, rel string, mode fs.FileMode) (string, error) {
	todo := splitRel(rel)
	var cur []string // resolved components under root, all existing dirs
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			continue
		}
		next := filepath.Join(root, filepath.Join(cur...), c)
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			merr := os.Mkdir(next, mode)
			if errors.Is(merr, fs.ErrExist) {
				todo = append([]string{c}, todo...) // created meanwhile: look again
				continue
			}
			if merr == nil {
				merr = os.Chmod(next, mode) // exactly mode, whatever the umask
			}
			if merr != nil {
				return "", merr
			}
			cur = append(cur, c)
		case err != nil:
			return "", err
		case fi.IsDir():
			cur = append(cur, c)
		case fi.Mode()&fs.ModeSymlink != 0:
			hops++
			if hops > maxSymlinkHops {
				return "", fmt.Errorf("too many levels of symbolic links at %s", next)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(target, "/") {
				cur = nil
			}
			todo = append(splitRel(target), todo...)
		default:
			return "", fmt.Errorf("%s exists and is not a directory", next)
		}
	}
	return filepath.Join(root, filepath.Join(cur...)), nil
}

func splitRel(p string) []string {
	var out []string
	for c := range strings.SplitSeq(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}
