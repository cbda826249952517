package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// ActionKey names an action by a hash of everything that can change what
// it produces; the action cache maps it to an ActionResult.
type ActionKey [32]byte

// String is the key in hex, as stores name it.
func (k ActionKey) String() string { return hex.EncodeToString(k[:]) }

// IsZero reports the zero key (no key).
func (k ActionKey) IsZero() bool { return k == ActionKey{} }

// MarshalText writes the key in hex.
func (k ActionKey) MarshalText() ([]byte, error) {
	if k.IsZero() {
		return nil, nil
	}
	return []byte(k.String()), nil
}

// UnmarshalText reads a key in hex ("" is the zero key).
func (k *ActionKey) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*k = ActionKey{}
		return nil
	}
	got, err := ParseActionKey(string(b))
	if err != nil {
		return err
	}
	*k = got
	return nil
}

// ParseActionKey reads a key written by String.
func ParseActionKey(s string) (ActionKey, error) {
	var k ActionKey
	if err := checkHash(s); err != nil {
		return k, err
	}
	hex.Decode(k[:], []byte(s))
	return k, nil
}

// NewActionKey hashes the canonical encoding of an action's inputs.
func NewActionKey(canonical []byte) ActionKey { return sha256.Sum256(canonical) }

// Cache is an action cache over a Store: action keys to action results,
// and the blobs they name, every blob verified against its digest as it is
// read. What an action and its outputs mean is the caller's business.
type Cache struct {
	store Store
}

// New returns the action cache over store.
func New(store Store) *Cache { return &Cache{store: store} }

// maxActionResult bounds what is read of an action result.
const maxActionResult = 16 << 20

// Action returns the result recorded for key; ErrNotFound on a miss. A
// result that does not decode is dropped from the store.
func (c *Cache) Action(ctx context.Context, key ActionKey) (*ActionResult, error) {
	data, err := c.small(ctx, AC, key.String(), maxActionResult)
	if err != nil {
		return nil, err
	}
	ar, err := UnmarshalActionResult(data)
	if err != nil {
		c.forget(AC, key.String())
		return nil, err
	}
	return ar, nil
}

// SetAction records ar for key. Put the blobs it names first: a store may
// check they are present.
func (c *Cache) SetAction(ctx context.Context, key ActionKey, ar *ActionResult) error {
	enc := ar.Marshal()
	return c.store.Put(ctx, AC, key.String(), int64(len(enc)), bytes.NewReader(enc))
}

// Blob streams blob d to read, verifying its size and hash: a blob that
// turns out damaged is dropped from the store (so that a remote copy is
// asked for next time) and reported as an error even when read succeeded.
func (c *Cache) Blob(ctx context.Context, d Digest, read func(io.Reader) error) error {
	rc, _, err := c.store.Get(ctx, CAS, d.Hash)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("blob %s: %w", d.Hash, ErrNotFound)
		}
		return err
	}
	defer rc.Close()
	v := &verifier{r: rc, h: sha256.New(), want: d}
	err = read(v)
	if verr := v.check(); verr != nil {
		c.forget(CAS, d.Hash)
		return verr
	}
	return err
}

// SmallBlob reads a whole blob of at most max bytes, verified.
func (c *Cache) SmallBlob(ctx context.Context, d Digest, max int64) ([]byte, error) {
	if d.Size > max {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", d.Hash, max)
	}
	var data []byte
	err := c.Blob(ctx, d, func(r io.Reader) error {
		var err error
		data, err = io.ReadAll(r)
		return err
	})
	return data, err
}

// PutBlob stores what body holds (read twice: to hash, then to store)
// and returns its digest.
func (c *Cache) PutBlob(ctx context.Context, body io.ReadSeeker) (Digest, error) {
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return Digest{}, err
	}
	d, err := DigestOf(body)
	if err != nil {
		return Digest{}, err
	}
	return d, c.store.Put(ctx, CAS, d.Hash, d.Size, body)
}

// PutDigested stores body under d, a digest its writer already computed.
func (c *Cache) PutDigested(ctx context.Context, d Digest, body io.ReadSeeker) error {
	return c.store.Put(ctx, CAS, d.Hash, d.Size, body)
}

// PutBytes stores b and returns its digest.
func (c *Cache) PutBytes(ctx context.Context, b []byte) (Digest, error) {
	d := DigestBytes(b)
	return d, c.store.Put(ctx, CAS, d.Hash, d.Size, bytes.NewReader(b))
}

// small reads a whole small entry of kind.
func (c *Cache) small(ctx context.Context, kind Kind, hash string, max int64) ([]byte, error) {
	rc, _, err := c.store.Get(ctx, kind, hash)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", kind, hash, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s/%s is larger than %d bytes", kind, hash, max)
	}
	return data, nil
}

func (c *Cache) forget(kind Kind, hash string) {
	if f, ok := c.store.(forgetter); ok {
		f.Forget(kind, hash)
	}
}

// forgetter is a store that can drop a damaged entry.
type forgetter interface {
	Forget(kind Kind, hash string)
}

// ErrDamaged is wrapped by the error for a blob whose content does not
// match its digest.
var ErrDamaged = errors.New("damaged")

// verifier checks a blob's hash and size as it streams past.
type verifier struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	want Digest
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.want.Size {
		return n, fmt.Errorf("blob %s is longer than %d bytes: %w", v.want.Hash, v.want.Size, ErrDamaged)
	}
	return n, err
}

// check drains the rest and compares.
func (v *verifier) check() error {
	if _, err := io.Copy(io.Discard, v); err != nil {
		return err
	}
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hash || v.n != v.want.Size {
		return fmt.Errorf("blob %s is %w: got %d bytes hashing to %s", v.want.Hash, ErrDamaged, v.n, got)
	}
	return nil
}
