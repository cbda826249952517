package pkgar

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/redox-cook/cook/internal/fsutil"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/ulikunitz/xz/lzma"
	"github.com/zeebo/blake3"
)

// Part names the part of a package that failed verification.
type Part string

// The parts VerifyError reports.
const (
	PartPublicKey  Part = "public key"
	PartSignature  Part = "signature"
	PartEntryTable Part = "entry table"
	PartEntry      Part = "entry"
	PartData       Part = "data"
	PartFormat     Part = "format"
)

// VerifyError reports a package that failed verification, naming the part
// that is wrong (and the entry, for data).
type VerifyError struct {
	Part Part
	Path string // entry path, for PartEntry and PartData
	Msg  string
	Err  error // a sentinel the error matches (ErrHeadOnly), or nil
}

// Unwrap returns e.Err.
func (e *VerifyError) Unwrap() error { return e.Err }

// ErrHeadOnly is matched by the error of verifying a file that ends after
// its entry table although its entries have data: a .pkgar_head, or a
// package cut short there.
var ErrHeadOnly = errors.New("head only")

// DefaultMaxEntries is how many entries a package may have unless
// WithMaxEntries says otherwise: the entry table is read whole, 308 bytes
// an entry, so a header must not be able to ask for gigabytes.
const DefaultMaxEntries = 1 << 20

// ReadOption configures NewReader, Open and their unverified forms.
type ReadOption func(*readOptions)

type readOptions struct {
	maxEntries uint32
}

// WithMaxEntries sets how many entries a package may declare (default
// DefaultMaxEntries); a header declaring more is refused before its
// entry table is read.
func WithMaxEntries(n uint32) ReadOption {
	return func(o *readOptions) { o.maxEntries = n }
}

func readOpts(opts []ReadOption) readOptions {
	o := readOptions{maxEntries: DefaultMaxEntries}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func (e *VerifyError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("%s of %s: %s", e.Part, e.Path, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Part, e.Msg)
}

// Reader reads a package (or a .pkgar_head) whose header and entry table
// have been verified against a trusted key.
type Reader struct {
	r        io.ReaderAt
	size     int64
	head     []byte
	Header   Header
	Entries  []Entry
	dataSize int64 // -1 when only the head is present

	dataNeeded uint64 // for a head: the data its entries need
}

// NewReader reads and verifies the head of the package in r (size bytes):
// the header's public key must be trusted and its signature must verify —
// both checked on the 136-byte header before anything else is read — it
// must declare no more entries than the limit (WithMaxEntries), and the
// entry table must match the header's BLAKE3. Entry data is verified as it
// is read. A reader of exactly the head's size is a .pkgar_head: its
// entries can be listed but not read.
func NewReader(r io.ReaderAt, size int64, trusted PublicKey, opts ...ReadOption) (*Reader, error) {
	rd, err := readHeader(r, size)
	if err != nil {
		return nil, err
	}
	h := &rd.Header
	if h.PublicKey != trusted {
		return nil, &VerifyError{Part: PartPublicKey, Msg: fmt.Sprintf("package is signed by key %s, not by the trusted key %s", PublicKey(h.PublicKey), trusted)}
	}
	if !ed25519.Verify(trusted[:], rd.head[64:HeaderSize], h.Signature[:]) {
		return nil, &VerifyError{Part: PartSignature, Msg: "header signature does not verify with the trusted key"}
	}
	if err := rd.readTable(readOpts(opts)); err != nil {
		return nil, err
	}
	if sum := Hash(blake3.Sum256(rd.head[HeaderSize:])); sum != h.Blake3 {
		return nil, &VerifyError{Part: PartEntryTable, Msg: fmt.Sprintf("BLAKE3 is %s, the signed header says %s", sum, h.Blake3)}
	}
	if err := rd.parseEntries(); err != nil {
		return nil, err
	}
	return rd, nil
}

// NewUnverifiedReader reads the head of a package without checking its
// signature or entry table: for inspection only (for example to show which
// key signed it). Entry data read through it is still hash-checked.
func NewUnverifiedReader(r io.ReaderAt, size int64, opts ...ReadOption) (*Reader, error) {
	rd, err := readHeader(r, size)
	if err != nil {
		return nil, err
	}
	if err := rd.readTable(readOpts(opts)); err != nil {
		return nil, err
	}
	if err := rd.parseEntries(); err != nil {
		return nil, err
	}
	return rd, nil
}

// readHeader reads the 136-byte header, and nothing more.
func readHeader(r io.ReaderAt, size int64) (*Reader, error) {
	rd := &Reader{r: r, size: size}
	hb := make([]byte, HeaderSize)
	if size < HeaderSize {
		return nil, &VerifyError{Part: PartFormat, Msg: fmt.Sprintf("%d bytes is too short for a pkgar header", size)}
	}
	if _, err := r.ReadAt(hb, 0); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &VerifyError{Part: PartFormat, Msg: fmt.Sprintf("%d bytes is too short for a pkgar header", size)}
		}
		return nil, fmt.Errorf("reading header: %w", err)
	}
	if err := rd.Header.UnmarshalBinary(hb); err != nil {
		return nil, err
	}
	rd.head = hb
	return rd, nil
}

// readTable reads the entry table after the header, once the header's
// entry count has been checked against the limit and the file size.
func (rd *Reader) readTable(o readOptions) error {
	h := &rd.Header
	if h.Count > o.maxEntries {
		return &VerifyError{Part: PartFormat, Msg: fmt.Sprintf("header declares %d entries, over the limit of %d", h.Count, o.maxEntries)}
	}
	headSize := h.HeadSize()
	if rd.size < headSize {
		return &VerifyError{Part: PartFormat, Msg: fmt.Sprintf("header declares %d entries (%d bytes of head) but the file is %d bytes", h.Count, headSize, rd.size)}
	}
	head := make([]byte, headSize)
	copy(head, rd.head)
	if _, err := rd.r.ReadAt(head[HeaderSize:], HeaderSize); err != nil && !(errors.Is(err, io.EOF) && headSize == HeaderSize) {
		return fmt.Errorf("reading entry table: %w", err)
	}
	rd.head = head
	rd.dataSize = rd.size - headSize
	return nil
}

func (rd *Reader) parseEntries() error {
	h := &rd.Header
	if v := h.Flags.Version(); v != 0 {
		return &VerifyError{Part: PartFormat, Msg: fmt.Sprintf("unknown data version %d", v)}
	}
	if p := h.Flags.Packaging(); p != Uncompressed && p != LZMA2 {
		return &VerifyError{Part: PartFormat, Msg: fmt.Sprintf("unknown packaging %d", p)}
	}
	rd.Entries = make([]Entry, h.Count)
	var end uint64 // where the last entry's data ends
	for i := range rd.Entries {
		e := &rd.Entries[i]
		e.get(rd.head[HeaderSize+i*EntrySize:])
		if k := e.Mode & ModeKind; k != ModeFile && k != ModeSymlink {
			return &VerifyError{Part: PartEntry, Path: e.Path, Msg: fmt.Sprintf("mode %o is neither a file nor a symlink", e.Mode)}
		}
		if e.Mode&^(ModeKind|ModePerm) != 0 {
			return &VerifyError{Part: PartEntry, Path: e.Path, Msg: fmt.Sprintf("mode %o has unknown bits", e.Mode)}
		}
		if e.Size > math.MaxUint64-e.Offset {
			return &VerifyError{Part: PartEntry, Path: e.Path, Msg: fmt.Sprintf("data at %d+%d ends beyond any file", e.Offset, e.Size)}
		}
		if e.Size > 0 {
			end = max(end, e.Offset+e.Size)
		}
	}
	if rd.dataSize == 0 && end > 0 {
		// A .pkgar_head, or a package cut after its entry table.
		rd.dataSize = -1
		rd.dataNeeded = end
		return nil
	}
	region := uint64(rd.dataSize)
	for i := range rd.Entries {
		e := &rd.Entries[i]
		if e.Offset > region || e.Size > region-e.Offset {
			return &VerifyError{Part: PartEntry, Path: e.Path, Msg: fmt.Sprintf("data at %d+%d lies outside the %d-byte data region", e.Offset, e.Size, rd.dataSize)}
		}
	}
	if region > end {
		return &VerifyError{Part: PartFormat, Msg: fmt.Sprintf("%d bytes after the last entry's data (the data region is %d bytes, its entries use %d)", region-end, region, end)}
	}
	return nil
}

// Head returns the header and entry table: the contents of a .pkgar_head.
func (rd *Reader) Head() []byte { return bytes.Clone(rd.head) }

// HasData reports whether entry data is present (false for a .pkgar_head).
func (rd *Reader) HasData() bool { return rd.dataSize >= 0 }

// StorageSize is the sum of the uncompressed entry sizes plus the head size
// for LZMA2 packages (which needs reading each entry's length prefix), else
// the file size.
func (rd *Reader) StorageSize() (int64, error) {
	if rd.Header.Flags.Packaging() != LZMA2 {
		return rd.size, nil
	}
	total := int64(len(rd.head))
	for i := range rd.Entries {
		e := &rd.Entries[i]
		n, err := rd.unpackedSize(e)
		if err != nil {
			return 0, err
		}
		total += int64(n)
	}
	return total, nil
}

func (rd *Reader) unpackedSize(e *Entry) (uint64, error) {
	if rd.Header.Flags.Packaging() != LZMA2 {
		return e.Size, nil
	}
	if e.Size < 8 {
		return 0, &VerifyError{Part: PartData, Path: e.Path, Msg: fmt.Sprintf("%d stored bytes cannot hold the LZMA2 length prefix", e.Size)}
	}
	var b [8]byte
	if _, err := rd.r.ReadAt(b[:], int64(len(rd.head))+int64(e.Offset)); err != nil {
		return 0, fmt.Errorf("reading %s: %w", e.Path, err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// lzma2MaxDictCap is the dictionary size upstream's reader allows.
const lzma2MaxDictCap = 64 << 20

// Open returns the uncompressed data of e (a symlink's data is its
// target). The reader returns an error instead of io.EOF when the data's
// length or BLAKE3 does not match the entry.
func (rd *Reader) Open(e *Entry) (io.Reader, error) {
	if rd.dataSize < 0 {
		return nil, fmt.Errorf("%s: no data in a package head", e.Path)
	}
	sec := io.NewSectionReader(rd.r, int64(len(rd.head))+int64(e.Offset), int64(e.Size))
	var src io.Reader = sec
	want := e.Size
	if rd.Header.Flags.Packaging() == LZMA2 {
		n, err := rd.unpackedSize(e)
		if err != nil {
			return nil, err
		}
		want = n
		if _, err := sec.Seek(8, io.SeekStart); err != nil {
			return nil, err
		}
		dict := uint64(lzma2MaxDictCap)
		if n < dict {
			dict = max(n, lzma.MinDictCap)
		}
		lr, err := lzma.Reader2Config{DictCap: int(dict)}.NewReader2(bufio.NewReaderSize(sec, 64<<10))
		if err != nil {
			return nil, &VerifyError{Part: PartData, Path: e.Path, Msg: fmt.Sprintf("LZMA2: %v", err)}
		}
		src = lr
	}
	return &verifyingReader{r: src, e: e, want: want, h: blake3.New()}, nil
}

type verifyingReader struct {
	r    io.Reader
	e    *Entry
	want uint64
	n    uint64
	h    *blake3.Hasher
	err  error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.n == v.want {
		v.err = v.finish()
		return 0, v.err
	}
	if rem := v.want - v.n; uint64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += uint64(n)
	switch {
	case err == io.EOF && n > 0:
		return n, nil
	case err == io.EOF:
		v.err = v.finish()
		return 0, v.err
	case err != nil:
		v.err = &VerifyError{Part: PartData, Path: v.e.Path, Msg: err.Error()}
		return n, v.err
	}
	return n, nil
}

func (v *verifyingReader) finish() error {
	if v.n != v.want {
		return &VerifyError{Part: PartData, Path: v.e.Path, Msg: fmt.Sprintf("data ends after %d of %d bytes", v.n, v.want)}
	}
	var sum Hash
	v.h.Sum(sum[:0])
	if sum != v.e.Blake3 {
		return &VerifyError{Part: PartData, Path: v.e.Path, Msg: fmt.Sprintf("BLAKE3 is %s, the entry says %s", sum, v.e.Blake3)}
	}
	return io.EOF
}

// ReadLink returns a symlink entry's target, verified.
func (rd *Reader) ReadLink(e *Entry) (string, error) {
	r, err := rd.Open(e)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(r, 4096+1))
	if err != nil {
		return "", err
	}
	if len(b) > 4096 {
		return "", &VerifyError{Part: PartEntry, Path: e.Path, Msg: "symlink target longer than 4096 bytes"}
	}
	return string(b), nil
}

// Verify checks that every entry's path is safe to extract and reads
// every entry's data, checking its length and BLAKE3. A file that ends
// after its entry table (a .pkgar_head, or a package cut short there) has
// no data to check: Verify then fails with an error matching ErrHeadOnly,
// which a caller that expects a head may accept.
func (rd *Reader) Verify(ctx context.Context) error {
	for i := range rd.Entries {
		if err := CheckPath(rd.Entries[i].Path); err != nil {
			return &VerifyError{Part: PartEntry, Path: rd.Entries[i].Path, Msg: err.Error()}
		}
	}
	if rd.dataSize < 0 {
		return &VerifyError{Part: PartData, Err: ErrHeadOnly, Msg: fmt.Sprintf(
			"head only: the file ends after the entry table, but its %d entries need %d bytes of data", len(rd.Entries), rd.dataNeeded)}
	}
	for i := range rd.Entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := rd.Open(&rd.Entries[i])
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	}
	return nil
}

// File is a package file opened with Open.
type File struct {
	*Reader
	f    *os.File
	Name string
}

// Open opens and verifies the head of the package (or .pkgar_head) at path
// against the trusted key (see NewReader). Errors name the file.
func Open(path string, trusted PublicKey, opts ...ReadOption) (*File, error) {
	return open(path, func(f *os.File, size int64) (*Reader, error) { return NewReader(f, size, trusted, opts...) })
}

// OpenUnverified opens a package without checking its signature.
func OpenUnverified(path string, opts ...ReadOption) (*File, error) {
	return open(path, func(f *os.File, size int64) (*Reader, error) { return NewUnverifiedReader(f, size, opts...) })
}

func open(path string, mk func(*os.File, int64) (*Reader, error)) (*File, error) {
	f, err := fsutil.OpenRegular(path) // a FIFO would block past Ctrl-C
	if err != nil {
		return nil, fmt.Errorf("package: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("package: %w", err)
	}
	rd, err := mk(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("package %s: %w", path, err)
	}
	return &File{Reader: rd, f: f, Name: path}, nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Verify checks every entry's data; errors name the file.
func (f *File) Verify(ctx context.Context) error {
	if err := f.Reader.Verify(ctx); err != nil {
		return fmt.Errorf("package %s: %w", f.Name, err)
	}
	return nil
}

// Extract extracts the package into dir; errors name the file.
func (f *File) Extract(ctx context.Context, dir string, opts ...ExtractOption) error {
	if err := f.Reader.Extract(ctx, dir, opts...); err != nil {
		return fmt.Errorf("package %s: %w", f.Name, err)
	}
	return nil
}

// Install extracts the package into the system root dir, as upstream's
// installer does, and records its head as
// dir/var/lib/packages/<name>.pkgar_head for later upgrades and removal.
func (f *File) Install(ctx context.Context, dir, name string, opts ...ExtractOption) error {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return fmt.Errorf("package %s: invalid package name %q", f.Name, name)
	}
	if err := f.Extract(ctx, dir, opts...); err != nil {
		return err
	}
	return f.WriteHead(filepath.Join(dir, "var", "lib", "packages", name+".pkgar_head"))
}

// WriteHead writes the package's .pkgar_head to path (temp then rename).
func (rd *Reader) WriteHead(path string) error {
	return fsutil.WriteFileAtomic(path, rd.head, 0o644)
}
