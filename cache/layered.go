package cache

import (
	"context"
	"errors"
	"io"
)

// Layered is local-then-remote: reads try the local store first and copy
// what the remote has into it (verified, for blobs); writes go to both.
type Layered struct {
	Local  *Local
	Remote Store
}

// Get implements Store.
func (l *Layered) Get(ctx context.Context, kind Kind, hash string) (io.ReadCloser, int64, error) {
	rc, n, err := l.Local.Get(ctx, kind, hash)
	if !errors.Is(err, ErrNotFound) || l.Remote == nil {
		return rc, n, err
	}
	rc, n, err = l.Remote.Get(ctx, kind, hash)
	if err != nil {
		return nil, 0, err
	}
	err = l.Local.write(kind, hash, n, rc)
	rc.Close()
	if err != nil {
		return nil, 0, err
	}
	return l.Local.Get(ctx, kind, hash)
}

// Has implements Store.
func (l *Layered) Has(ctx context.Context, kind Kind, hash string) (bool, error) {
	if ok, err := l.Local.Has(ctx, kind, hash); ok || err != nil || l.Remote == nil {
		return ok, err
	}
	return l.Remote.Has(ctx, kind, hash)
}

// Put implements Store.
func (l *Layered) Put(ctx context.Context, kind Kind, hash string, size int64, body io.ReadSeeker) error {
	if err := l.Local.Put(ctx, kind, hash, size, body); err != nil {
		return err
	}
	if l.Remote == nil {
		return nil
	}
	return l.Remote.Put(ctx, kind, hash, size, body)
}

// Forget drops a damaged local copy, so that the remote is asked again.
func (l *Layered) Forget(kind Kind, hash string) { l.Local.Forget(kind, hash) }

// ReadOnly wraps a store so that it is never written to.
func ReadOnly(s Store) Store { return readOnly{s} }

type readOnly struct{ Store }

func (readOnly) Put(context.Context, Kind, string, int64, io.ReadSeeker) error { return nil }
