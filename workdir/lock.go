package workdir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is wrapped by the error of a Lock that would have to wait but
// may not.
var ErrLocked = errors.New("the work directory is in use")

// LockedError says who holds a work directory's lock.
type LockedError struct {
	Root string
	Pid  int // 0 when unknown
}

func (e *LockedError) Error() string {
	who := "another cook"
	if e.Pid > 0 {
		who = fmt.Sprintf("cook (pid %d)", e.Pid)
	}
	return fmt.Sprintf("%s: %s is writing to it", e.Root, who)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is a work directory's writer lock: one cook process that changes the
// work directory at a time. Readers (check, explain, info, fs, pkgar) take
// none. The kernel releases it when the process dies, however it dies.
type Lock struct {
	f *os.File
	// Unclean reports that the previous holder did not release the lock
	// (it was killed): what it was writing may be left half-done.
	Unclean bool
}

// LockOption adjusts Lock.
type LockOption func(*lockOptions)

type lockOptions struct {
	noWait  bool
	waiting func(*LockedError)
	poll    time.Duration
}

// NoWait makes Lock fail at once, with a *LockedError, when the lock is held.
func NoWait() LockOption { return func(o *lockOptions) { o.noWait = true } }

// OnWait is called once when Lock has to wait, with who holds the lock.
func OnWait(f func(*LockedError)) LockOption { return func(o *lockOptions) { o.waiting = f } }

// Lock takes the work directory's writer lock, waiting while another
// process holds it (until ctx ends), and clears what a killed holder left.
func (d Dir) Lock(ctx context.Context, opts ...LockOption) (*Lock, error) {
	o := lockOptions{poll: 100 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	if err := os.MkdirAll(d.Root, 0o755); err != nil {
		return nil, err
	}
	p := filepath.Join(d.Root, "lock")
	// The file is read and truncated: never through a link, and only a
	// regular one.
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("work directory lock: %w", err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("work directory lock %s: not a regular file", p)
	}
	waited := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("work directory lock %s: %w", p, err)
		}
		held := &LockedError{Root: d.Root, Pid: readPid(f)}
		if o.noWait {
			f.Close()
			return nil, held
		}
		if !waited && o.waiting != nil {
			o.waiting(held)
		}
		waited = true
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(o.poll):
		}
	}
	// The lock file holds the holder's pid while it runs and is emptied
	// when it ends cleanly: a pid found here is a holder that was killed.
	// (Older cooks left lock.running instead, and a pid always.)
	l := &Lock{f: f}
	var buf [1]byte
	n, _ := f.ReadAt(buf[:], 0)
	old := filepath.Join(d.Root, "lock.running")
	_, oldErr := os.Lstat(old)
	if n > 0 || oldErr == nil {
		l.Unclean = true
		d.ClearLeftovers()
		os.Remove(old)
	}
	if err := f.Truncate(0); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("work directory lock: %w", err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("work directory lock: %w", err)
	}
	return l, nil
}

// Unlock releases the lock, recording a clean end.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

// readPid reads the pid the lock file holds: a few bytes, however large a
// stranger made the file.
func readPid(f *os.File) int {
	var buf [24]byte
	k, _ := f.ReadAt(buf[:], 0)
	n, _ := strconv.Atoi(strings.TrimSpace(string(buf[:k])))
	return n
}

// ClearLeftovers removes what a killed cook can leave in the work
// directory: half-written stages, overlay layers and sandbox mount points,
// download-shim directories and half-made source trees (tmp/fetch-*).
// Call it only holding the lock.
func (d Dir) ClearLeftovers() {
	g := New(globEscape(d.Root)) // the root's own *, ? and [ match only themselves
	for _, pattern := range []string{
		g.StageTmp("*", "*"), g.Overlay("*", "*"), g.SandboxRoot("*", "*"), filepath.Join(g.Tmp(), "shim-*"),
		filepath.Join(g.Tmp(), "fetch-*"),
	} {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			d.RemoveAll(m)
		}
	}
}

// globEscape quotes the characters filepath.Match gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
