package fsutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"syscall"
)

// ErrNotRegular is the error reading, with ReadRegular, a path that is no
// regular file: a FIFO would block the read, a device never end it.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is the error reading, with ReadRegular, a file over its limit.
var ErrTooLarge = errors.New("larger than the limit")

// ReadRegular reads the regular file at p, of at most limit bytes, and
// returns its status as of the read. The open does not block (a FIFO is
// refused, not waited on), the size stat gives is not trusted for the
// allocation beyond limit, and a file growing past limit while it is read is
// too large too. It uses raw system calls, which are cheaper for thousands
// of small files than os.ReadFile (which registers each with the network
// poller). Errors are *fs.PathError wrapping ErrNotRegular, ErrTooLarge or
// the system's error.
func ReadRegular(p string, limit int64) ([]byte, *syscall.Stat_t, error) {
	const flags = syscall.O_RDONLY | syscall.O_CLOEXEC | syscall.O_NONBLOCK
	fd, err := syscall.Open(p, flags, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(p, flags, 0)
	}
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, nil, &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, nil, &fs.PathError{Op: "read", Path: p, Err: ErrNotRegular}
	}
	tooLarge := &fs.PathError{Op: "read", Path: p, Err: fmt.Errorf("%w of %s", ErrTooLarge, sizeString(limit))}
	if st.Size > limit {
		return nil, nil, tooLarge
	}
	buf := make([]byte, 0, max(st.Size, 0)+512)
	for {
		if int64(len(buf)) > limit {
			return nil, nil, tooLarge
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, nil, &fs.PathError{Op: "read", Path: p, Err: err}
		}
		want := cap(buf) - len(buf)
		buf = buf[:len(buf)+n]
		// a read shorter than asked for, once the stat's size is reached,
		// is the end of the file
		if n == 0 || n < want && int64(len(buf)) >= st.Size {
			break
		}
	}
	return buf, &st, nil
}

// sizeString writes n bytes in MiB when it is a whole number of them.
func sizeString(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// OpenRegular opens the regular file at p for reading, as os.Open does, but
// without waiting: a FIFO is refused at once (os.Open would block until a
// writer came, past Ctrl-C), as is a device or a directory. The error is an
// *fs.PathError wrapping ErrNotRegular or the system's error.
func OpenRegular(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: p, Err: ErrNotRegular}
	}
	// O_NONBLOCK means nothing to a regular file's reads.
	return f, nil
}

// ContextReader reads r until ctx ends, then fails with ctx's error: for
// long copies with nothing else to cancel (a local file).
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
