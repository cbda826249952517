package pkgar

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// smallFile is the size up to which a file is read into a buffer; larger
// files are mapped, hashed from the mapping and written from it.
const smallFile = 64 << 10

// batchSize is how many bytes of consecutive small entries of one
// directory a worker packs at once: read into one buffer, hashed each, and
// written with one system call.
const batchSize = 1 << 20

// batch is a run of consecutive entries: small files and symlinks of one
// directory, or one large file alone.
type batch struct {
	first, end int    // entries[first:end]
	dir        string // the directory's path in the stage ("" at its root)
	size       uint64 // bytes of data
}

// writeDataParallel writes the data region of an uncompressed package
// straight into f: every entry's offset is known from the sizes found by
// the walk, so several workers hash and write entries at once, each at its
// own offset. It fills in each entry's Offset, Size and Blake3.
func writeDataParallel(ctx context.Context, f *os.File, stageDir string, headSize int64, entries []Entry) (int64, error) {
	var off uint64
	targets := make([]string, len(entries))
	for i := range entries {
		e := &entries[i]
		if e.IsSymlink() {
			t, err := os.Readlink(filepath.Join(stageDir, filepath.FromSlash(e.Path)))
			if err != nil {
				return 0, fmt.Errorf("stage entry: %w", err)
			}
			targets[i] = t
			e.Size = uint64(len(t))
		}
		e.Offset = off
		off += e.Size
	}
	total := int64(off)
	if err := allocate(f, headSize+total); err != nil {
		return 0, fmt.Errorf("sizing package file: %w", err)
	}
	batches := batchEntries(entries)
	// Largest first, so that no worker is left with a big file at the end.
	slices.SortStableFunc(batches, func(a, b batch) int { return cmp.Compare(b.size, a.size) })

	g, ctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	workers := min(runtime.GOMAXPROCS(0), 4, len(batches))
	for range workers {
		g.Go(func() error {
			p := &packer{f: f, headSize: headSize, stageDir: stageDir, entries: entries, targets: targets, h: blake3.New()}
			for {
				i := int(next.Add(1) - 1)
				if i >= len(batches) {
					return nil
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := p.pack(batches[i]); err != nil {
					return err
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return total, nil
}

// batchEntries splits entries into batches: each file larger than
// smallFile alone, the others in runs of one directory of at most
// batchSize bytes.
func batchEntries(entries []Entry) []batch {
	var out []batch
	for i := 0; i < len(entries); {
		e := &entries[i]
		dir, _ := path.Split(e.Path)
		b := batch{first: i, end: i + 1, dir: dir, size: e.Size}
		if !e.IsSymlink() && e.Size > smallFile {
			out = append(out, b)
			i++
			continue
		}
		for b.end < len(entries) {
			n := &entries[b.end]
			if !n.IsSymlink() && n.Size > smallFile || b.size+n.Size > batchSize || !inDir(n.Path, dir) {
				break
			}
			b.size += n.Size
			b.end++
		}
		out = append(out, b)
		i = b.end
	}
	return out
}

// inDir reports whether p names an entry of dir itself ("a/b/" holds
// "a/b/c", not "a/b/c/d").
func inDir(p, dir string) bool {
	return strings.HasPrefix(p, dir) && !strings.Contains(p[len(dir):], "/")
}

// packer is one worker of writeDataParallel.
type packer struct {
	f        *os.File
	headSize int64
	stageDir string
	entries  []Entry
	targets  []string
	h        *blake3.Hasher
	buf      []byte
}

// pack hashes and writes one batch.
func (p *packer) pack(b batch) error {
	first := &p.entries[b.first]
	if b.end-b.first == 1 && !first.IsSymlink() && first.Size > smallFile {
		return packFile(p.f, p.headSize, filepath.Join(p.stageDir, filepath.FromSlash(first.Path)), first, p.h, p.buffer(smallFile))
	}
	dir := filepath.Join(p.stageDir, filepath.FromSlash(b.dir))
	dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("stage entry: open %s: %w", dir, err)
	}
	defer unix.Close(dirfd)
	// one byte more than the batch, to see a file that grew
	buf := p.buffer(int(b.size) + 1)
	var at int
	for i := b.first; i < b.end; i++ {
		e := &p.entries[i]
		data := buf[at : at+int(e.Size)]
		if e.IsSymlink() {
			copy(data, p.targets[i])
		} else if err := readSmall(dirfd, dir, e, buf[at:at+int(e.Size)+1]); err != nil {
			return err
		}
		p.h.Reset()
		p.h.Write(data)
		p.h.Sum(e.Blake3[:0])
		at += int(e.Size)
	}
	if _, err := p.f.WriteAt(buf[:at], p.headSize+int64(first.Offset)); err != nil {
		return fmt.Errorf("writing package data: %w", err)
	}
	return nil
}

// buffer returns the packer's buffer, at least n bytes long.
func (p *packer) buffer(n int) []byte {
	if cap(p.buf) < n {
		p.buf = make([]byte, max(n, batchSize+1))
	}
	return p.buf[:n]
}

// readSmall reads the file e (in the directory dirfd) into buf, which is
// one byte longer than the size the walk found: reading more or less than
// that size means the file changed while being packaged.
func readSmall(dirfd int, dir string, e *Entry, buf []byte) error {
	name := path.Base(e.Path)
	// Raw system calls: os.Open would try to register every file with the
	// network poller, which costs more than reading a small file.
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("stage entry: open %s: %w", filepath.Join(dir, name), err)
	}
	defer unix.Close(fd)
	// Until the size found is read: a regular file reads short only at its
	// end, so one read of the byte more usually tells it did not grow.
	n := 0
	for n < len(buf)-1 {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("packaging %s: %w", filepath.Join(dir, name), err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	if uint64(n) != e.Size {
		return fmt.Errorf("packaging %s: file changed while packaging (%d bytes read, %d expected)", filepath.Join(dir, name), n, e.Size)
	}
	return nil
}

// packFile hashes and writes one file larger than smallFile: mapped, or
// streamed through buf where it cannot be mapped.
func packFile(dst *os.File, headSize int64, full string, e *Entry, h *blake3.Hasher, buf []byte) error {
	// Raw system calls: os.Open would try to register every file with the
	// network poller, which costs more than reading a small file.
	fd, err := unix.Open(full, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("stage entry: open %s: %w", full, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stage entry: stat %s: %w", full, err)
	}
	if uint64(st.Size) != e.Size {
		return fmt.Errorf("packaging %s: file changed while packaging (%d bytes now, %d before)", full, st.Size, e.Size)
	}
	at := headSize + int64(e.Offset)
	m, err := unix.Mmap(fd, 0, int(e.Size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return packFileStream(dst, at, fd, full, e, h, buf)
	}
	defer unix.Munmap(m)
	_ = unix.Madvise(m, unix.MADV_SEQUENTIAL)
	return hashAndWriteMapped(dst, at, full, m, e, h)
}

// hashAndWriteMapped hashes and writes a mapped file. A file truncated
// while mapped faults on access; that becomes an error instead of a crash.
func hashAndWriteMapped(dst *os.File, at int64, full string, m []byte, e *Entry, h *blake3.Hasher) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				panic(r)
			}
			err = fmt.Errorf("packaging %s: file changed while packaging (it shrank while being read)", full)
		}
	}()
	h.Reset()
	h.Write(m)
	h.Sum(e.Blake3[:0])
	if _, err := dst.WriteAt(m, at); err != nil {
		return fmt.Errorf("writing package data: %w", err)
	}
	return nil
}

func readFull(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// packFileStream is packFile for files that cannot be mapped.
func packFileStream(dst *os.File, at int64, fd int, full string, e *Entry, h *blake3.Hasher, buf []byte) error {
	h.Reset()
	var n uint64
	for {
		m, err := readFull(fd, buf)
		if err == nil && m == 0 {
			err = io.EOF
		}
		if m > 0 {
			h.Write(buf[:m])
			if _, werr := dst.WriteAt(buf[:m], at+int64(n)); werr != nil {
				return fmt.Errorf("writing package data: %w", werr)
			}
			n += uint64(m)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("packaging %s: %w", full, err)
		}
		if n > e.Size {
			break
		}
	}
	if n != e.Size {
		return fmt.Errorf("packaging %s: file changed while packaging (%d bytes read, %d expected)", full, n, e.Size)
	}
	h.Sum(e.Blake3[:0])
	return nil
}

// allocate makes f size bytes long with its blocks allocated (which makes
// the writes after cheaper on most filesystems), or only sets its size
// where blocks cannot be allocated ahead.
func allocate(f *os.File, size int64) error {
	if size > 0 {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
			return err
		}
	}
	return f.Truncate(size)
}
