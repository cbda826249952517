// Package initfs writes and reads the Redox initfs archive (magic "RedoxFtw"), the read-only image the bootloader loads from /usr/lib/boot/initfs and the kernel maps into its first user process.
package initfs

import (
	"encoding/binary"
	"fmt"
)

// Format constants, and the layout of an image.
//
// The layout below is that of redox-os/base initfs/src/types.rs and the
// archiver initfs/tools/src/lib.rs (read at the GitHub copy
// THRAI/redox-base commit 5289679a9e2addafc4676eeaa69677ef39618a36; upstream
// lives on gitlab.redox-os.org/redox-os/base). All integers are
// little-endian and unaligned; offsets are from the first byte of the image.
//
//	Header at offset 0 (34 bytes, the rest of page 0 is zero):
//	  0x00 [8]u8 magic "RedoxFtw"
//	  0x08 u32   inode_table_offset
//	  0x0C u64   initfs_size      (image length: the end of the inode table)
//	  0x14 u16   page_size        (4096)
//	  0x16 u16   root_inode
//	  0x18 u16   inode_count
//	  0x1A u64   bootstrap_entry  (e_entry of the bootstrap ELF)
//	Inode (12 bytes, inode_count of them at inode_table_offset):
//	  u32 type (0 file, 1 executable file, 2 directory, 3 symlink), u32 length, u32 offset
//	Directory data: length/8 entries of
//	  u16 inode, u16 name_len, u32 name_offset   (name bytes elsewhere, no NUL)
//	Symlink data: the target path, relative to the link's directory.
//
// The archiver is a bump allocator over whole pages: the header takes page 0,
// the bootstrap file is copied raw to offset 4096, then the root directory is
// written depth first (its entry table; for each entry its content, then its
// inode, then its name), the root's inode last, and the inode table at the
// end. The image ends with the inode table, not page-rounded.
//
// The kernel (redox-os/kernel src/syscall/process.rs usermode_bootstrap, at
// 663e66410bac) copies the whole image to user address 0x1000 (PAGE_SIZE)
// mapped read-write-execute, reads bootstrap_entry from offset 0x1A and
// starts the first process there with no stack. So image offset N is at
// address 0x1000+N and the bootstrap's file offset N at 0x2000+N: upstream's
// bootstrap is linked for that (base bootstrap/src/x86_64.ld).
//
// An older layout (base until at least February 2026, e.g. the copy
// tomekatomek123456789/base@60490e1a: a creation time at 0x0C, inode_count at
// 0x18, initfs_size at 0x22, page_size at 0x2A, root inode 0) shares only the
// magic, the inode table offset, inode_count and bootstrap_entry; Open
// recognises it and reports ErrOldLayout.
const (
	// Magic starts every initfs image.
	Magic = "RedoxFtw"
	// PageSize is the allocation unit of the archiver and the page size
	// the header records.
	PageSize = 4096
	// HeaderSize is the size of the on-disk header.
	HeaderSize = 0x22
	// InodeSize is the size of one inode in the inode table.
	InodeSize = 12
	// DirEntrySize is the size of one directory entry.
	DirEntrySize = 8
	// BootstrapOffset is where the archiver copies the bootstrap file.
	BootstrapOffset = PageSize
	// LoadAddress is the user address the kernel maps image offset 0 at.
	LoadAddress = 0x1000
	// DefaultMaxSize is the archiver's limit on the image size, as in a
	// release build of upstream's redox-initfs-ar.
	DefaultMaxSize = 64 << 20
	// MaxInodes is the most inodes an image can hold (u16 inode count).
	MaxInodes = 0xFFFF
	// MaxNameLen is the longest name the reader accepts and the writer
	// writes (Linux's NAME_MAX; the format would allow 65535).
	MaxNameLen = 255
	// MaxPath bounds a path inside the image (the reader refuses longer
	// ones, so that a crafted directory chain cannot build huge strings).
	MaxPath = 4096
)

// Header field offsets (base initfs/src/types.rs Header, packed).
const (
	offMagic          = 0x00
	offInodeTable     = 0x08
	offInitfsSize     = 0x0C
	offPageSize       = 0x14
	offRootInode      = 0x16
	offInodeCount     = 0x18
	offBootstrapEntry = 0x1A // the kernel reads exactly these 8 bytes
)

// Kind is an inode's type.
type Kind uint32

// Inode types (base initfs/src/types.rs InodeType).
const (
	KindFile    Kind = 0
	KindExec    Kind = 1
	KindDir     Kind = 2
	KindSymlink Kind = 3
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindExec:
		return "exec"
	case KindDir:
		return "dir"
	case KindSymlink:
		return "symlink"
	}
	return fmt.Sprintf("kind(%d)", uint32(k))
}

// Mode is the permission the Redox reader gives an inode of kind k
// (base initfs/src/lib.rs InodeStruct::mode); 0 for an unknown kind.
func (k Kind) Mode() uint16 {
	switch k {
	case KindFile:
		return 0o444
	case KindExec, KindDir:
		return 0o555
	case KindSymlink:
		return 0o777
	}
	return 0
}

// Header is the decoded image header.
type Header struct {
	InodeTableOffset uint32
	InitfsSize       uint64
	PageSize         uint16
	RootInode        uint16
	InodeCount       uint16
	BootstrapEntry   uint64
}

func (h *Header) encode() []byte {
	b := make([]byte, HeaderSize)
	copy(b[offMagic:], Magic)
	le := binary.LittleEndian
	le.PutUint32(b[offInodeTable:], h.InodeTableOffset)
	le.PutUint64(b[offInitfsSize:], h.InitfsSize)
	le.PutUint16(b[offPageSize:], h.PageSize)
	le.PutUint16(b[offRootInode:], h.RootInode)
	le.PutUint16(b[offInodeCount:], h.InodeCount)
	le.PutUint64(b[offBootstrapEntry:], h.BootstrapEntry)
	return b
}

func decodeHeader(b []byte) Header {
	le := binary.LittleEndian
	return Header{
		InodeTableOffset: le.Uint32(b[offInodeTable:]),
		InitfsSize:       le.Uint64(b[offInitfsSize:]),
		PageSize:         le.Uint16(b[offPageSize:]),
		RootInode:        le.Uint16(b[offRootInode:]),
		InodeCount:       le.Uint16(b[offInodeCount:]),
		BootstrapEntry:   le.Uint64(b[offBootstrapEntry:]),
	}
}

// Inode is one entry of the inode table.
type Inode struct {
	Kind   Kind
	Length uint32
	Offset uint32
}

func (in Inode) put(b []byte) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(in.Kind))
	le.PutUint32(b[4:], in.Length)
	le.PutUint32(b[8:], in.Offset)
}

func decodeInode(b []byte) Inode {
	le := binary.LittleEndian
	return Inode{Kind: Kind(le.Uint32(b[0:])), Length: le.Uint32(b[4:]), Offset: le.Uint32(b[8:])}
}

type dirent struct {
	inode      uint16
	nameLen    uint16
	nameOffset uint32
}

func (d dirent) put(b []byte) {
	le := binary.LittleEndian
	le.PutUint16(b[0:], d.inode)
	le.PutUint16(b[2:], d.nameLen)
	le.PutUint32(b[4:], d.nameOffset)
}

func decodeDirent(b []byte) dirent {
	le := binary.LittleEndian
	return dirent{inode: le.Uint16(b[0:]), nameLen: le.Uint16(b[2:]), nameOffset: le.Uint32(b[4:])}
}

// ELFEntry returns the entry address of an ELF file from its first bytes
// (at least 32), as upstream's archiver reads it: e_entry for 32- and 64-bit,
// little- and big-endian files.
func ELFEntry(head []byte) (uint64, error) {
	if len(head) < 0x20 || string(head[:4]) != "\x7fELF" {
		return 0, fmt.Errorf("%w: no ELF header", ErrBootstrap)
	}
	class, data := head[4], head[5]
	var bo binary.ByteOrder
	switch data {
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return 0, fmt.Errorf("%w: unsupported ELF data encoding %d", ErrBootstrap, data)
	}
	switch class {
	case 1:
		return uint64(bo.Uint32(head[0x18:])), nil
	case 2:
		return bo.Uint64(head[0x18:]), nil
	}
	return 0, fmt.Errorf("%w: unsupported ELF class %d", ErrBootstrap, class)
}
