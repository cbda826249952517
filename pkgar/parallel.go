package pkgar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// smallFile is the size up to which a file is read into a buffer; larger
// files are mapped, hashed from the mapping and written from it.
const smallFile = 256 << 10

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
	if err := f.Truncate(headSize + total); err != nil {
		return 0, fmt.Errorf("sizing package file: %w", err)
	}

	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan int)
	workers := min(runtime.GOMAXPROCS(0), 4)
	bufs := sync.Pool{New: func() any { b := make([]byte, smallFile); return &b }}
	for range workers {
		g.Go(func() error {
			h := blake3.New()
			for i := range jobs {
				e := &entries[i]
				var err error
				if e.IsSymlink() {
					data := []byte(targets[i])
					e.Blake3 = Hash(blake3.Sum256(data))
					_, err = f.WriteAt(data, headSize+int64(e.Offset))
					if err != nil {
						err = fmt.Errorf("writing package data: %w", err)
					}
				} else {
					bp := bufs.Get().(*[]byte)
					err = packFile(f, headSize, filepath.Join(stageDir, filepath.FromSlash(e.Path)), e, h, *bp)
					bufs.Put(bp)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(jobs)
		for i := range entries {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return total, nil
}

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
	var data []byte
	if e.Size <= smallFile {
		n, err := readFull(fd, buf[:e.Size])
		if err != nil {
			return fmt.Errorf("packaging %s: %w", full, err)
		}
		if n != int(e.Size) {
			return fmt.Errorf("packaging %s: file changed while packaging (%d of %d bytes read)", full, n, e.Size)
		}
		data = buf[:n]
	} else {
		m, err := unix.Mmap(fd, 0, int(e.Size), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return packFileStream(dst, at, fd, full, e, h, buf)
		}
		defer unix.Munmap(m)
		_ = unix.Madvise(m, unix.MADV_SEQUENTIAL)
		return hashAndWriteMapped(dst, at, full, m, e, h)
	}
	h.Reset()
	h.Write(data)
	h.Sum(e.Blake3[:0])
	if _, err := dst.WriteAt(data, at); err != nil {
		return fmt.Errorf("writing package data: %w", err)
	}
	return nil
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
