// Package fsutil holds the file operations every package needs the same way: atomic writes, copies, removals, mode conversion and a tail of output.
package fsutil

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

// WriteFileAtomic writes data to path through a temporary file in the same
// directory (created when missing) and a rename, so readers see the old or
// the new file, never a partial one.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	err := WriteAtomic(path, perm, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// WriteAtomic has write fill a temporary file beside path (whose directory
// must exist), then gives it the permission bits perm and renames it over
// path. When write or any step fails, the temporary file is removed and
// path is left as it was.
func WriteAtomic(path string, perm fs.FileMode, write func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	err = write(tmp)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// CopyFile copies the regular file src to dst, which must not exist (a
// symlink there is not followed), with permission bits perm (0: src's). It
// shares the blocks when the filesystem can (a reflink), and otherwise
// copies without writing all-zero blocks, so a sparse file stays sparse.
func CopyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if perm == 0 {
		perm = st.Mode().Perm()
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if err := copyData(out, in, st.Size()); err != nil {
		out.Close()
		os.Remove(dst)
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := out.Chmod(perm); err != nil { // whatever the umask took away
		out.Close()
		return err
	}
	return out.Close()
}

func copyData(out, in *os.File, size int64) error {
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) == nil {
		return nil
	}
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 {
			if isZero(buf[:n]) {
				off += int64(n)
			} else {
				if _, werr := out.WriteAt(buf[:n], off); werr != nil {
					return werr
				}
				off += int64(n)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	return out.Truncate(size)
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// RemoveAll removes the tree at p like os.RemoveAll, making read-only
// directories in it writable first when that is what stops it (overlayfs
// work directories, Go module caches).
func RemoveAll(p string) error {
	err := os.RemoveAll(p)
	if err == nil {
		return nil
	}
	filepath.WalkDir(p, func(q string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			os.Chmod(q, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("removing %s: %w", p, err)
	}
	return nil
}

// ModeFromUnix converts Unix permission bits (with setuid, setgid and
// sticky) to an fs.FileMode's.
func ModeFromUnix(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// UnixFromMode converts an fs.FileMode's permission bits (with setuid,
// setgid and sticky) to Unix bits.
func UnixFromMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// Tail keeps the last lines written to it (at most maxLines, and at most
// maxBytes in all), for error messages. It is safe for concurrent use.
type Tail struct {
	maxLines, maxBytes int
	mu                 sync.Mutex
	buf                bytes.Buffer
}

// NewTail keeps the last maxLines lines, and at most maxBytes bytes.
func NewTail(maxLines, maxBytes int) *Tail { return &Tail{maxLines: maxLines, maxBytes: maxBytes} }

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > 2*t.maxBytes {
		b := t.buf.Bytes()[t.buf.Len()-t.maxBytes:]
		t.buf = *bytes.NewBuffer(append([]byte(nil), b...))
	}
	return len(p), nil
}

// String is the kept lines, with a note of how many were left out.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.buf.String()
	if len(s) > t.maxBytes {
		s = "…" + s[len(s)-t.maxBytes:]
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > t.maxLines {
		lines = append([]string{"… (" + strconv.Itoa(len(lines)-t.maxLines) + " more lines above)"}, lines[len(lines)-t.maxLines:]...)
	}
	return strings.Join(lines, "\n")
}

// HashTree is the identity of the tree at dir: a BLAKE3 over every entry
// in lexical order — its path, kind, permission bits (with setuid, setgid,
// sticky) and content or link target. Times and owners are left out, so
// two trees with the same files hash the same. skip, when not nil, leaves
// out an entry (and, for a directory, all below it); a missing dir hashes
// as an empty tree. It is the one tree hash of cook: output digests of
// stages, path-source identities and recipe directories.
func HashTree(ctx context.Context, dir string, skip func(rel string, d fs.DirEntry) bool) (string, error) {
	h := blake3.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if p != dir && skip != nil && skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		switch {
		case d.IsDir():
			fmt.Fprintf(h, "d %s %o\x00", rel, UnixFromMode(mode))
		case mode&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "l %s %s\x00", rel, l)
		case mode.IsRegular():
			f, err := OpenRegular(p)
			if err != nil {
				return err
			}
			fh := blake3.New()
			_, err = io.Copy(fh, ContextReader(ctx, f)) // a huge file stops on Ctrl-C too
			f.Close()
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "f %s %o %x\x00", rel, UnixFromMode(mode), fh.Sum(nil))
		default:
			return fmt.Errorf("%s: unsupported file type %v", p, mode.Type())
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashing %s: %w", dir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
