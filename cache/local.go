package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/redox-cook/cook/internal/fsutil"
)

// Local is a store in a directory, by default <work>/cache:
//
//	<dir>/ac/<aa>/<key>     action entries
//	<dir>/cas/<aa>/<hash>   blobs, verified against their hash when written
//	<dir>/tmp/              scratch for temp-then-rename
//
// Reads refresh a file's modification time, which Trim uses to drop the
// least recently used entries first.
type Local struct {
	Dir string
	// Name says what the store is in messages (default "local cache").
	Name string
}

func (l *Local) name() string {
	if l.Name != "" {
		return l.Name
	}
	return "local cache"
}

// NewLocal returns the store in dir.
func NewLocal(dir string) *Local { return &Local{Dir: dir} }

func (l *Local) path(kind Kind, hash string) string {
	return filepath.Join(l.Dir, string(kind), hash[:2], hash)
}

// Get implements Store.
func (l *Local) Get(ctx context.Context, kind Kind, hash string) (io.ReadCloser, int64, error) {
	if err := checkHash(hash); err != nil {
		return nil, 0, err
	}
	p := l.path(kind, hash)
	// not blocking: an entry that is a FIFO is refused, not waited on
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", l.name(), err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", l.name(), err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", l.name(), &fs.PathError{Op: "read", Path: p, Err: fsutil.ErrNotRegular})
	}
	now := time.Now()
	os.Chtimes(p, now, now) // for Trim's LRU order; best effort
	return f, st.Size(), nil
}

// Has implements Store.
func (l *Local) Has(ctx context.Context, kind Kind, hash string) (bool, error) {
	if err := checkHash(hash); err != nil {
		return false, err
	}
	_, err := os.Stat(l.path(kind, hash))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Put implements Store. A CAS blob whose content does not hash to hash is
// refused.
func (l *Local) Put(ctx context.Context, kind Kind, hash string, size int64, body io.ReadSeeker) error {
	if err := checkHash(hash); err != nil {
		return err
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return l.write(kind, hash, size, body)
}

// write copies r into place through a temp file, checking a CAS blob's hash.
func (l *Local) write(kind Kind, hash string, size int64, r io.Reader) error {
	dst := l.path(kind, hash)
	if kind == CAS {
		if st, err := os.Stat(dst); err == nil && (size < 0 || st.Size() == size) {
			// content-addressed: already there (a damaged copy of the
			// right size is caught when read, and then removed)
			return nil
		}
	}
	tmpDir := filepath.Join(l.Dir, "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", l.name(), err)
	}
	f, err := os.CreateTemp(tmpDir, "put-*")
	if err != nil {
		return fmt.Errorf("%s: %w", l.name(), err)
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: write %s/%s: %w", l.name(), kind, hash, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("%s: %s/%s: got %d bytes, want %d", l.name(), kind, hash, n, size)
	}
	if kind == CAS {
		if got := hex.EncodeToString(h.Sum(nil)); got != hash {
			return fmt.Errorf("%s: blob %s hashes to %s", l.name(), hash, got)
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("%s: %w", l.name(), err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("%s: %w", l.name(), err)
	}
	return nil
}

// Forget removes an entry, for one found damaged.
func (l *Local) Forget(kind Kind, hash string) {
	if checkHash(hash) == nil {
		os.Remove(l.path(kind, hash))
	}
}

// Stats counts a local store's entries.
type Stats struct {
	ActionEntries int   `json:"action_entries"`
	ActionBytes   int64 `json:"action_bytes"`
	Blobs         int   `json:"blobs"`
	BlobBytes     int64 `json:"blob_bytes"`
}

type entryFile struct {
	kind    Kind
	hash    string
	path    string
	size    int64
	used    time.Time
	regular bool
}

func (l *Local) list() ([]entryFile, error) {
	var out []entryFile
	for _, kind := range []Kind{AC, CAS} {
		root := filepath.Join(l.Dir, string(kind))
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == root && errors.Is(err, fs.ErrNotExist) {
					return filepath.SkipDir
				}
				return err
			}
			if d.IsDir() || checkHash(d.Name()) != nil {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil // removed meanwhile
			}
			out = append(out, entryFile{kind: kind, hash: d.Name(), path: p, size: info.Size(), used: info.ModTime(), regular: info.Mode().IsRegular()})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.name(), err)
		}
	}
	return out, nil
}

// Stats reports how many entries and bytes the store holds.
func (l *Local) Stats() (Stats, error) {
	files, err := l.list()
	if err != nil {
		return Stats{}, err
	}
	var s Stats
	for _, f := range files {
		if f.kind == AC {
			s.ActionEntries++
			s.ActionBytes += f.size
		} else {
			s.Blobs++
			s.BlobBytes += f.size
		}
	}
	return s, nil
}

// Trim removes the least recently used entries until the store holds at
// most maxBytes, and any files left in its scratch directory. It returns
// how many files and bytes it removed. An action entry whose blobs were
// trimmed is simply a miss later.
func (l *Local) Trim(maxBytes int64) (removed int, freed int64, err error) {
	os.RemoveAll(filepath.Join(l.Dir, "tmp"))
	files, err := l.list()
	if err != nil {
		return 0, 0, err
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	sort.Slice(files, func(i, j int) bool { return files[i].used.Before(files[j].used) })
	for _, f := range files {
		if total <= maxBytes {
			break
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, freed, fmt.Errorf("%s: %w", l.name(), err)
		}
		total -= f.size
		freed += f.size
		removed++
	}
	return removed, freed, nil
}

// Problem is something Verify found wrong (and removed, when asked to).
type Problem struct {
	Kind Kind   `json:"kind"`
	Hash string `json:"hash"`
	What string `json:"what"`
}

// Verify rehashes every blob and checks that every action entry decodes and
// names only blobs that are present; an entry that is no regular file, or
// an action entry over maxActionResult, is wrong too (and not read). With
// fix, it removes what is wrong.
func (l *Local) Verify(ctx context.Context, fix bool) ([]Problem, error) {
	files, err := l.list()
	if err != nil {
		return nil, err
	}
	var probs []Problem
	bad := func(f entryFile, what string) error {
		probs = append(probs, Problem{Kind: f.kind, Hash: f.hash, What: what})
		if fix {
			if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s: %w", l.name(), err)
			}
		}
		return nil
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return probs, err
		}
		if f.kind != CAS {
			continue
		}
		if !f.regular {
			if err := bad(f, fsutil.ErrNotRegular.Error()); err != nil {
				return probs, err
			}
			continue
		}
		fh, err := os.OpenFile(f.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return probs, fmt.Errorf("%s: %w", l.name(), err)
		}
		d, err := DigestOf(fh)
		fh.Close()
		if err != nil {
			return probs, fmt.Errorf("%s: read %s: %w", l.name(), f.path, err)
		}
		if d.Hash != f.hash {
			if err := bad(f, "content hashes to "+d.Hash); err != nil {
				return probs, err
			}
		}
	}
	for _, f := range files {
		if f.kind != AC {
			continue
		}
		data, _, err := fsutil.ReadRegular(f.path, maxActionResult)
		if errors.Is(err, fsutil.ErrNotRegular) || errors.Is(err, fsutil.ErrTooLarge) {
			if err := bad(f, errors.Unwrap(err).Error()); err != nil {
				return probs, err
			}
			continue
		}
		if err != nil {
			return probs, fmt.Errorf("%s: %w", l.name(), err)
		}
		ar, err := UnmarshalActionResult(data)
		if err != nil {
			if err := bad(f, "undecodable entry: "+err.Error()); err != nil {
				return probs, err
			}
			continue
		}
		for _, d := range ar.Blobs() {
			if ok, _ := l.Has(ctx, CAS, d.Hash); !ok {
				if err := bad(f, "blob "+d.Hash+" is missing"); err != nil {
					return probs, err
				}
				break
			}
		}
	}
	return probs, nil
}
