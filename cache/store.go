// Package cache is an action cache: action keys to results, and the verified blobs they name, in local and remote stores.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Kind is a namespace of a store.
type Kind string

const (
	// AC is the action cache: action key → entry.
	AC Kind = "ac"
	// CAS is the content-addressed store: SHA-256 of a blob → the blob.
	CAS Kind = "cas"
)

// ErrNotFound is a miss.
var ErrNotFound = errors.New("not in the cache")

// Store is a cache's two namespaces. A CAS blob read from any store must
// still be verified by its reader: stores can be wrong.
//
// Stores speak two namespaces, the action cache (AC, keyed by action key)
// and the content-addressed store (CAS, keyed by the SHA-256 of the
// content), exactly as bazel-remote's HTTP API does (/ac/<sha256>,
// /cas/<sha256>). Local is the work directory's own store, Remote talks to a
// bazel-remote (or any server of that protocol), and Layered composes them as
// local-then-remote. Cache is the typed interface over a store: ActionKey →
// ActionResult, Digest → blob. What an action and its outputs mean is its
// users' business (the builder package's ActionCache).
type Store interface {
	// Get opens the blob (its size is -1 when unknown); ErrNotFound on a miss.
	Get(ctx context.Context, kind Kind, hash string) (io.ReadCloser, int64, error)
	// Has reports whether the blob is present.
	Has(ctx context.Context, kind Kind, hash string) (bool, error)
	// Put stores size bytes of body under hash. body is rewound to its start
	// before each attempt.
	Put(ctx context.Context, kind Kind, hash string, size int64, body io.ReadSeeker) error
}

// checkHash accepts a lower-case SHA-256 hex digest: 64 of [0-9a-f]
// (a loop, not a regular expression: a no-op build checks one per node).
func checkHash(hash string) error {
	ok := len(hash) == 64
	for i := 0; ok && i < len(hash); i++ {
		c := hash[i]
		ok = '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
	}
	if !ok {
		return fmt.Errorf("cache: %q is not a lower-case SHA-256 hex digest", hash)
	}
	return nil
}

// Digest is a blob's SHA-256 (hex) and size, as REAPI names blobs.
type Digest struct {
	Hash string `json:"hash"`
	Size int64  `json:"size"`
}

func (d Digest) String() string { return fmt.Sprintf("%s/%d", d.Hash, d.Size) }

// DigestOf hashes r.
func DigestOf(r io.Reader) (Digest, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return Digest{}, err
	}
	return Digest{Hash: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// DigestBytes hashes b.
func DigestBytes(b []byte) Digest {
	s := sha256.Sum256(b)
	return Digest{Hash: hex.EncodeToString(s[:]), Size: int64(len(b))}
}
