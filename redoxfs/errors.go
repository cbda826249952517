package redoxfs

import "errors"

// Errors reported by the reader and the writer. They are wrapped with what
// was being read or written and where; test for them with errors.Is.
var (
	// ErrNoFilesystem means no valid RedoxFS v8 header was found.
	ErrNoFilesystem = errors.New("no valid RedoxFS v8 header")
	// ErrHash means a block's SeaHash does not match its pointer.
	ErrHash = errors.New("block hash mismatch")
	// ErrTruncated means the image ends before a block it refers to.
	ErrTruncated = errors.New("image truncated")
	// ErrCorrupt means an on-disk structure is malformed.
	ErrCorrupt = errors.New("corrupt filesystem")
	// ErrName means a name is empty, longer than MaxNameLen bytes, not
	// UTF-8, or contains '/', ':' or NUL.
	ErrName = errors.New("invalid name")
	// ErrNoSpace means the tree does not fit in the requested size.
	ErrNoSpace = errors.New("filesystem too small")
)
