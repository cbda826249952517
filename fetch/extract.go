package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mholt/archives"
	"golang.org/x/sys/unix"
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
// through links — are refused.
//
// Modes and times are kept as GNU tar keeps them for an ordinary user
// (--no-same-permissions, --no-same-owner): each file and directory gets its
// archived permission bits less the umask — a 0444 file stays 0444, no write
// bit is added — and no owner, setuid, setgid or sticky bit. Directories
// stay writable while the archive is read and get their mode and time at the
// end. Files, directories and (where the host allows it) symbolic links keep
// their modification times. An archive that unpacks to more than the limit
// (WithExtractLimit, default DefaultMaxSourceSize) stops with an error
// matching ErrTooLarge.
func Extract(ctx context.Context, file, dest string, opts ...ExtractOption) error {
	o := extractOptions{limit: DefaultMaxSourceSize}
	for _, opt := range opts {
		opt(&o)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	ex, stream, err := openArchive(ctx, f)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := os.Mkdir(dest, 0o755); err != nil {
		return err
	}
	x := newExtractor(dest)
	x.limit = o.limit
	err = ex.Extract(ctx, stream, x.handle)
	if werr := x.wait(); err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return x.finish()
}

// parallelGunzip is the size from which a gzip archive is decompressed on
// several threads.
const parallelGunzip = 4 << 20

// openArchive picks the extractor by the file's magic bytes, which is much
// cheaper than archives.Identify (that builds a decompressor per candidate
// format, and an xz one allocates its whole dictionary each time); anything
// unrecognised goes to Identify.
func openArchive(ctx context.Context, f *os.File) (archives.Extractor, io.Reader, error) {
	var head [512]byte
	n, _ := io.ReadFull(f, head[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	h := head[:n]
	tarOf := func(c archives.Compression) archives.Extractor {
		return archives.CompressedArchive{Archival: archives.Tar{}, Extraction: archives.Tar{}, Compression: c}
	}
	switch {
	case bytes.HasPrefix(h, []byte{0x1f, 0x8b}):
		// Decompressing ahead on other threads pays for a large archive;
		// for a small one, setting it up (megabytes of buffers) costs more
		// than the whole decompression.
		multi := true
		if st, err := f.Stat(); err == nil && st.Size() < parallelGunzip {
			multi = false
		}
		return tarOf(archives.Gz{Multithreaded: multi}), f, nil
	case bytes.HasPrefix(h, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return tarOf(archives.Xz{}), f, nil
	case bytes.HasPrefix(h, []byte("BZh")):
		return tarOf(archives.Bz2{}), f, nil
	case bytes.HasPrefix(h, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return tarOf(archives.Zstd{}), f, nil
	case bytes.HasPrefix(h, []byte("LZIP")):
		return tarOf(archives.Lzip{}), f, nil
	case bytes.HasPrefix(h, []byte("PK\x03\x04")) || bytes.HasPrefix(h, []byte("PK\x05\x06")):
		return archives.Zip{}, f, nil
	case len(h) >= 262 && bytes.Equal(h[257:262], []byte("ustar")):
		return archives.Tar{}, f, nil
	}
	format, stream, err := archives.Identify(ctx, filepath.Base(f.Name()), f)
	if err != nil {
		return nil, nil, fmt.Errorf("unknown archive format: %w", err)
	}
	switch ft := format.(type) {
	case archives.Zip:
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, nil, err
		}
		return ft, f, nil
	case archives.Extractor:
		return ft, stream, nil
	}
	return nil, nil, fmt.Errorf("%s is not an archive format", format.Extension())
}

type extractor struct {
	dest  string
	dirs  []dirTime       // directory times are set last, children change them
	known map[string]bool // directories (relative) known to be real directories made here

	// Small files are written by a pool of goroutines while the archive is
	// decompressed, so file-creation latency overlaps decompression.
	jobs  chan writeJob
	wg    sync.WaitGroup
	errMu sync.Mutex
	err   error // the first write error

	limit, used int64 // bytes the archive may unpack to, and has so far
}

// charge counts n more bytes against the limit.
func (x *extractor) charge(n int64) error {
	if n > x.limit-x.used {
		return tooLarge("unpacks to", x.limit)
	}
	x.used += n
	return nil
}

func (x *extractor) setErr(err error) {
	x.errMu.Lock()
	if x.err == nil {
		x.err = err
	}
	x.errMu.Unlock()
}

func (x *extractor) firstErr() error {
	x.errMu.Lock()
	defer x.errMu.Unlock()
	return x.err
}

type writeJob struct {
	path string
	data []byte
	perm fs.FileMode
	mt   time.Time
}

const (
	writers       = 2
	asyncMaxBytes = 1 << 20 // bigger files are written inline
)

func newExtractor(dest string) *extractor {
	x := &extractor{dest: dest, known: map[string]bool{".": true}}
	x.startWriters()
	return x
}

// startWriters starts the pool writing small files.
func (x *extractor) startWriters() {
	x.jobs = make(chan writeJob, 64)
	for range writers {
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			for j := range x.jobs {
				if err := writeNew(j.path, bytes.NewReader(j.data), j.perm, j.mt); err != nil {
					x.setErr(err)
				}
			}
		}()
	}
}

// wait lets every queued write finish and returns the first write error.
func (x *extractor) wait() error {
	if x.jobs != nil {
		close(x.jobs)
		x.wg.Wait()
		x.jobs = nil
	}
	return x.firstErr()
}

// flush waits for the queued writes (before a hard link to one of them).
func (x *extractor) flush() error {
	if err := x.wait(); err != nil {
		return err
	}
	x.startWriters()
	return nil
}

// writeNew creates path (replacing what is there) with r's content, perm
// and mtime. Raw system calls: os.OpenFile would try to register every
// file with the network poller, which costs more than writing a small one.
func writeNew(path string, r io.Reader, perm fs.FileMode, mt time.Time) error {
	const flags = unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW
	fd, err := unix.Open(path, flags, uint32(perm))
	if err == unix.EEXIST {
		os.Remove(path)
		fd, err = unix.Open(path, flags, uint32(perm))
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	w := os.NewFile(uintptr(fd), path)
	if _, err := io.Copy(fdWriter{w}, r); err != nil {
		w.Close()
		return err
	}
	ts := unix.NsecToTimespec(mt.UnixNano())
	if err := unix.UtimesNanoAt(fd, "", []unix.Timespec{ts, ts}, unix.AT_EMPTY_PATH); err != nil {
		w.Close()
		return os.Chtimes(path, mt, mt)
	}
	return w.Close()
}

// fdWriter hides *os.File's ReadFrom, so that io.Copy from a reader in
// memory writes it in one call rather than trying copy_file_range and
// splice first.
type fdWriter struct{ f *os.File }

func (w fdWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

// dirTime is a directory's archived mode and time, applied by finish.
type dirTime struct {
	path string
	t    time.Time
	perm fs.FileMode
}

// umask returns the process's file mode creation mask without changing it
// (which would race with files created meanwhile): from /proc/self/status,
// else read once by setting and restoring it.
var umask = sync.OnceValue(func() fs.FileMode {
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return fs.FileMode(m) & fs.ModePerm
				}
			}
		}
	}
	m := unix.Umask(0o022)
	unix.Umask(m)
	return fs.FileMode(m) & fs.ModePerm
})

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

// handle extracts one archive entry: it checks where the entry would land
// and charges it against the limit, then makes it by its kind.
func (x *extractor) handle(ctx context.Context, fi archives.FileInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rel, ok, err := strip(fi.NameInArchive)
	if err != nil || !ok {
		return err
	}
	if err := x.admit(rel, fi); err != nil {
		return err
	}
	target := filepath.Join(x.dest, filepath.FromSlash(rel))
	mode := fi.Mode()
	perm := mode.Perm() // files are created with it, less the umask, as tar does for a user
	switch {
	case mode.IsDir():
		return x.dir(rel, target, fi, perm)
	case mode&fs.ModeSymlink != 0:
		return x.symlink(rel, target, fi)
	case isHardLink(fi):
		return x.hardLink(rel, target, fi)
	case mode.IsRegular():
		return x.file(rel, target, fi, perm)
	default:
		// devices, fifos, sockets: tar would create them only as root; skip.
		return nil
	}
}

// admit checks that rel's parents inside dest are real directories and
// charges the entry (and a regular file's size) against the limit.
func (x *extractor) admit(rel string, fi archives.FileInfo) error {
	if err := x.checkParents(rel, fi.NameInArchive); err != nil {
		return err
	}
	size := int64(0)
	if fi.Mode().IsRegular() && !isHardLink(fi) {
		if size = fi.Size(); size < 0 { // a ZIP64 size past int64: no buffer is made of it
			return fmt.Errorf("%s: a size of %d bytes: damaged archive", fi.NameInArchive, size)
		}
	}
	if err := x.charge(entryCost); err != nil {
		return err
	}
	return x.charge(size)
}

// dir makes a directory entry, writable and searchable until finish gives
// it its own mode.
func (x *extractor) dir(rel, target string, fi archives.FileInfo, perm fs.FileMode) error {
	if st, err := os.Lstat(target); err == nil && !st.IsDir() {
		return &TraversalError{Entry: fi.NameInArchive, Reason: "is a directory over a link or a file"}
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(target, (perm&^umask())|0o700); err != nil {
		return err
	}
	x.dirs = append(x.dirs, dirTime{target, fi.ModTime(), perm &^ umask()})
	x.known[rel] = true
	return nil
}

// symlink makes a symbolic link entry whose target stays inside the tree.
func (x *extractor) symlink(rel, target string, fi archives.FileInfo) error {
	lt := fi.LinkTarget
	if strings.HasPrefix(lt, "/") {
		return &TraversalError{Entry: fi.NameInArchive, Target: lt, Reason: "is a link to an absolute path"}
	}
	if resolved := path.Join(path.Dir(rel), lt); resolved == ".." || strings.HasPrefix(resolved, "../") {
		return &TraversalError{Entry: fi.NameInArchive, Target: lt, Reason: "is a link pointing outside the source tree"}
	}
	if err := x.mkParent(rel); err != nil {
		return err
	}
	if err := x.flush(); err != nil { // a queued file of the same name must not land after the link
		return err
	}
	os.Remove(target)
	if err := os.Symlink(lt, target); err != nil {
		return err
	}
	setLinkTime(target, fi.ModTime())
	return nil
}

// hardLink links an entry to a regular file extracted earlier.
func (x *extractor) hardLink(rel, target string, fi archives.FileInfo) error {
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
	if err := x.flush(); err != nil {
		return err
	}
	if st, err := os.Lstat(src); err != nil || !st.Mode().IsRegular() {
		return &TraversalError{Entry: fi.NameInArchive, Target: fi.LinkTarget, Reason: "is a hard link to something that is not a file extracted earlier"}
	}
	if err := x.mkParent(rel); err != nil {
		return err
	}
	os.Remove(target)
	return os.Link(src, target)
}

// file writes a regular file entry: a small one is read into memory here
// and written by the pool, a large one streamed here.
func (x *extractor) file(rel, target string, fi archives.FileInfo, perm fs.FileMode) error {
	if err := x.mkParent(rel); err != nil {
		return err
	}
	r, err := fi.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	if err := x.firstErr(); err != nil {
		return err
	}
	if fi.Size() <= asyncMaxBytes {
		data := make([]byte, fi.Size())
		if _, err := io.ReadFull(r, data); err != nil {
			return fmt.Errorf("%s: %w", fi.NameInArchive, err)
		}
		x.jobs <- writeJob{target, data, perm, fi.ModTime()}
		return nil
	}
	size := max(fi.Size(), 0)
	if err := writeNew(target, &capReader{r: r, left: size, limit: size, what: "entry " + fi.NameInArchive + " holds"}, perm, fi.ModTime()); err != nil {
		return fmt.Errorf("%s: %w", fi.NameInArchive, err)
	}
	return nil
}

func isHardLink(fi archives.FileInfo) bool {
	return fi.LinkTarget != "" && fi.Mode()&fs.ModeSymlink == 0 && tarHardLink(fi.Header)
}

// checkParents refuses an entry whose parent directories inside dest are
// anything but real directories (a symlink there would redirect the write).
func (x *extractor) checkParents(rel, entry string) error {
	parts := strings.Split(rel, "/")
	for i := range len(parts) - 1 {
		sub := strings.Join(parts[:i+1], "/")
		if x.known[sub] {
			continue
		}
		st, err := os.Lstat(filepath.Join(x.dest, filepath.FromSlash(sub)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return &TraversalError{Entry: entry, Reason: "would be written through a link or a file (" + parts[i] + ")"}
		}
		x.known[sub] = true
	}
	return nil
}

// mkParent makes the parent directories of rel (already checked).
func (x *extractor) mkParent(rel string) error {
	dir := path.Dir(rel)
	if x.known[dir] {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(x.dest, filepath.FromSlash(dir)), 0o755); err != nil {
		return err
	}
	for d := dir; d != "." && !x.known[d]; d = path.Dir(d) {
		x.known[d] = true
	}
	return nil
}

// finish gives each directory its archived mode and time, deepest first (a
// child's changes would move its parent's time, and a parent without write
// or search permission would stop the child's).
func (x *extractor) finish() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if !d.t.IsZero() {
			if err := os.Chtimes(d.path, d.t, d.t); err != nil {
				return err
			}
		}
	}
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if d.perm != d.perm|0o700 {
			if err := os.Chmod(d.path, d.perm); err != nil {
				return err
			}
		}
	}
	return nil
}

// setLinkTime sets a symbolic link's own times, as tar does where the system
// allows it; where it does not, the link keeps the time it was made.
func setLinkTime(path string, t time.Time) {
	if t.IsZero() {
		return
	}
	ts := unix.NsecToTimespec(t.UnixNano())
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}
