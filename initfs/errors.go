package initfs

import "errors"

// Errors reported by the reader and the writer. They are wrapped with what
// was being read or written and where; test for them with errors.Is.
var (
	// ErrNotInitfs means the image does not start with the magic "RedoxFtw".
	ErrNotInitfs = errors.New("not an initfs image (no RedoxFtw magic)")
	// ErrOldLayout means the image has the pre-2026 header layout (with a
	// creation time), which this package does not read.
	ErrOldLayout = errors.New("initfs image has the older header layout (with a creation time)")
	// ErrCorrupt means an on-disk structure is malformed or points outside
	// the image.
	ErrCorrupt = errors.New("corrupt initfs image")
	// ErrNotFound means a path does not exist in the image.
	ErrNotFound = errors.New("no such file in initfs")
	// ErrNotDir means a path component is not a directory.
	ErrNotDir = errors.New("not a directory")
	// ErrNotFile means a path names something other than a regular file.
	ErrNotFile = errors.New("not a regular file")
	// ErrTooLarge means the tree does not fit the format or the size limit.
	ErrTooLarge = errors.New("initfs image too large")
	// ErrUnsupported means the source tree holds something the format
	// cannot store (a socket, FIFO or device node).
	ErrUnsupported = errors.New("not supported by initfs")
	// ErrBootstrap means the bootstrap file is not a usable ELF file.
	ErrBootstrap = errors.New("bad bootstrap")
	// ErrChanged means a source file changed size while it was archived.
	ErrChanged = errors.New("file changed while archiving")
)
