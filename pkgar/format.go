// Package pkgar writes, reads, verifies and extracts Redox package archives (pkgar), byte-compatible with upstream's pkgar 0.2 format.
package pkgar

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Sizes of the packed on-disk structures. A package is laid out as
//
//	[Header 136 bytes][Entry 308 bytes × count][data region]
//
// The header carries an Ed25519 signature over its own bytes 64..136 (public
// key, BLAKE3 of the entry table, entry count, flags); each entry carries the
// BLAKE3 of its uncompressed data, its offset and stored size in the data
// region, a mode (regular file or symlink plus permission bits) and a
// NUL-padded relative path. Directories are not stored. A ".pkgar_head" file
// is the header and entry table alone.
const (
	HeaderSize = 136
	EntrySize  = 308
	PathSize   = 256 // NUL-padded; a path must be shorter than this
)

// Mode bits stored in an entry.
const (
	ModePerm    uint32 = 0o007777
	ModeKind    uint32 = 0o170000
	ModeFile    uint32 = 0o100000
	ModeSymlink uint32 = 0o120000
)

// Architecture is byte 1 of the header flags.
type Architecture uint8

// Architectures known to upstream. The cookbook always writes Independent.
const (
	ArchIndependent Architecture = 0
	ArchX86_64      Architecture = 1
	ArchX86         Architecture = 2
	ArchAArch64     Architecture = 3
	ArchRISCV64     Architecture = 4
)

// Packaging is byte 2 of the header flags: how entry data is stored.
type Packaging uint8

// Packagings known to upstream.
const (
	Uncompressed Packaging = 0
	LZMA2        Packaging = 1
)

func (p Packaging) String() string {
	switch p {
	case Uncompressed:
		return "uncompressed"
	case LZMA2:
		return "lzma2"
	}
	return fmt.Sprintf("packaging(%d)", uint8(p))
}

// Flags is the header's flags word: byte 0 data version (0), byte 1
// architecture, byte 2 packaging.
type Flags uint32

// NewFlags returns the flags of data version 0 with arch and packaging.
func NewFlags(arch Architecture, p Packaging) Flags {
	return Flags(uint32(arch)<<8 | uint32(p)<<16)
}

// Version is the data version (0 is the only one defined).
func (f Flags) Version() uint8 { return uint8(f) }

// Architecture is the package's architecture.
func (f Flags) Architecture() Architecture { return Architecture(f >> 8) }

// Packaging is how entry data is stored.
func (f Flags) Packaging() Packaging { return Packaging(f >> 16) }

// Hash is a BLAKE3-256 digest.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Header is the first 136 bytes of a package.
type Header struct {
	Signature [64]byte
	PublicKey [32]byte
	Blake3    Hash // BLAKE3 of the entry table
	Count     uint32
	Flags     Flags
}

// MarshalBinary returns the 136 packed bytes.
func (h *Header) MarshalBinary() ([]byte, error) {
	b := make([]byte, HeaderSize)
	h.put(b)
	return b, nil
}

func (h *Header) put(b []byte) {
	copy(b[0:64], h.Signature[:])
	copy(b[64:96], h.PublicKey[:])
	copy(b[96:128], h.Blake3[:])
	binary.LittleEndian.PutUint32(b[128:132], h.Count)
	binary.LittleEndian.PutUint32(b[132:136], uint32(h.Flags))
}

// UnmarshalBinary parses 136 packed bytes (without verifying anything).
func (h *Header) UnmarshalBinary(b []byte) error {
	if len(b) < HeaderSize {
		return fmt.Errorf("header is %d bytes, want %d", len(b), HeaderSize)
	}
	copy(h.Signature[:], b[0:64])
	copy(h.PublicKey[:], b[64:96])
	copy(h.Blake3[:], b[96:128])
	h.Count = binary.LittleEndian.Uint32(b[128:132])
	h.Flags = Flags(binary.LittleEndian.Uint32(b[132:136]))
	return nil
}

// HeadSize is the size of the header plus the entry table.
func (h *Header) HeadSize() int64 { return HeaderSize + int64(h.Count)*EntrySize }

// Entry is one file or symlink of a package.
type Entry struct {
	Blake3 Hash   // of the uncompressed data (a symlink's target path)
	Offset uint64 // relative to the start of the data region
	Size   uint64 // stored size (compressed size, with its length prefix, for LZMA2)
	Mode   uint32 // ModeFile or ModeSymlink | permission bits
	Path   string // relative, only normal components
}

// IsSymlink reports whether the entry is a symbolic link.
func (e *Entry) IsSymlink() bool { return e.Mode&ModeKind == ModeSymlink }

// IsFile reports whether the entry is a regular file.
func (e *Entry) IsFile() bool { return e.Mode&ModeKind == ModeFile }

// Perm returns the permission bits (including setuid, setgid, sticky).
func (e *Entry) Perm() uint32 { return e.Mode & ModePerm }

func (e *Entry) put(b []byte) error {
	if len(e.Path) >= PathSize {
		return fmt.Errorf("path %q is %d bytes, longer than pkgar's limit of %d", e.Path, len(e.Path), PathSize-1)
	}
	copy(b[0:32], e.Blake3[:])
	binary.LittleEndian.PutUint64(b[32:40], e.Offset)
	binary.LittleEndian.PutUint64(b[40:48], e.Size)
	binary.LittleEndian.PutUint32(b[48:52], e.Mode)
	n := copy(b[52:52+PathSize], e.Path)
	clear(b[52+n : 52+PathSize])
	return nil
}

func (e *Entry) get(b []byte) {
	copy(e.Blake3[:], b[0:32])
	e.Offset = binary.LittleEndian.Uint64(b[32:40])
	e.Size = binary.LittleEndian.Uint64(b[40:48])
	e.Mode = binary.LittleEndian.Uint32(b[48:52])
	p := b[52 : 52+PathSize]
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	e.Path = string(p)
}

// ErrUnsafePath is wrapped by errors about entry paths that are empty,
// absolute, or have a component other than a plain name.
var ErrUnsafePath = errors.New("unsafe path")

// CheckPath reports whether p is a relative path made only of normal
// components: not empty, no leading "/", no "." or ".." component. Like
// upstream, repeated and trailing slashes are tolerated.
func CheckPath(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty path", ErrUnsafePath)
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w: %q is absolute", ErrUnsafePath, p)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("%w: %q contains NUL", ErrUnsafePath, p)
	}
	n := 0
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "":
			continue
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q component", ErrUnsafePath, p, c)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%w: %q names no file", ErrUnsafePath, p)
	}
	return nil
}
