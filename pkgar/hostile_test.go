package pkgar

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zeebo/blake3"
)

// TestTruncatedAfterTable cuts a package right after its entry table: the
// file is then byte for byte a .pkgar_head, and verification of it as a
// package must fail, saying it holds the head only.
func TestTruncatedAfterTable(t *testing.T) {
	pkg, info := buildPackage(t, trees[2].nodes)
	cut := pkg[:info.Header.HeadSize()]
	rd, err := NewReader(bytes.NewReader(cut), int64(len(cut)), testKey(t).Public())
	if err != nil {
		t.Fatal(err)
	}
	err = rd.Verify(context.Background())
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Part != PartData || !strings.Contains(err.Error(), "head only") {
		t.Fatalf("Verify = %v, want a data error saying head only", err)
	}
	if !errors.Is(err, ErrHeadOnly) {
		t.Errorf("error %v is not ErrHeadOnly", err)
	}
}

// TestTrailingData appends bytes after the last entry's data.
func TestTrailingData(t *testing.T) {
	pkg, _ := buildPackage(t, trees[2].nodes)
	for _, extra := range [][]byte{{0}, []byte("trojan horse"), make([]byte, 1<<16)} {
		b := append(bytes.Clone(pkg), extra...)
		rd, err := NewReader(bytes.NewReader(b), int64(len(b)), testKey(t).Public())
		if err == nil {
			err = rd.Verify(context.Background())
		}
		want := fmt.Sprintf("%d bytes after the last entry's data", len(extra))
		var ve *VerifyError
		if !errors.As(err, &ve) || ve.Part != PartFormat || !strings.Contains(err.Error(), want) {
			t.Errorf("%d bytes appended: %v, want a format error saying %q", len(extra), err, want)
		}
	}
	// A package with no data at all (empty files only) is complete.
	pkg, _ = buildPackage(t, []node{{path: "empty", data: nil}})
	rd, err := NewReader(bytes.NewReader(pkg), int64(len(pkg)), testKey(t).Public())
	if err != nil || rd.Verify(context.Background()) != nil || !rd.HasData() {
		t.Errorf("package of one empty file: %v", err)
	}
}

// countingReader counts the bytes read through it and serves zeros past
// the end of b, up to size: a large file that costs nothing.
type countingReader struct {
	b    []byte
	size int64
	n    atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= c.size {
		return 0, io.EOF
	}
	if int64(len(p)) > c.size-off {
		p = p[:c.size-off]
	}
	clear(p)
	if off < int64(len(c.b)) {
		copy(p, c.b[off:])
	}
	c.n.Add(int64(len(p)))
	if len(p) > 64<<20 {
		return 0, fmt.Errorf("test reader: refusing a %d-byte read", len(p))
	}
	return len(p), nil
}

// manyEntries signs a package head of count entries (all empty files)
// with key, padded with zeros to size bytes.
func manyEntries(t testing.TB, key *SecretKey, count uint32) []byte {
	t.Helper()
	h := Header{PublicKey: key.Public(), Count: count}
	head := make([]byte, h.HeadSize())
	for i := range count {
		e := Entry{Mode: ModeFile | 0o644, Path: fmt.Sprintf("f%d", i), Blake3: Hash(blake3.Sum256(nil))}
		e.put(head[HeaderSize+int(i)*EntrySize:])
	}
	h.Blake3 = Hash(blake3.Sum256(head[HeaderSize:]))
	h.put(head)
	copy(h.Signature[:], key.sign(head[64:HeaderSize]))
	h.put(head)
	return head
}

// TestWrongKeyReadsHeaderOnly opens a package with a large entry table
// trusting another key: it is refused after the 136-byte header.
func TestWrongKeyReadsHeaderOnly(t *testing.T) {
	other, err := GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	pkg := manyEntries(t, other, 20000)
	r := &countingReader{b: pkg, size: int64(len(pkg))}
	_, err = NewReader(r, r.size, testKey(t).Public())
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Part != PartPublicKey {
		t.Fatalf("NewReader = %v, want a public key error", err)
	}
	if n := r.n.Load(); n > HeaderSize {
		t.Errorf("read %d bytes of a %d-byte package before refusing its key", n, len(pkg))
	}
	// A forged signature is refused as early.
	pkg[3] ^= 1
	copy(pkg[64:96], testKey(t).Public().bytes())
	r = &countingReader{b: pkg, size: int64(len(pkg))}
	if _, err = NewReader(r, r.size, testKey(t).Public()); !errors.As(err, &ve) || ve.Part != PartSignature || r.n.Load() > HeaderSize {
		t.Errorf("forged signature: %v after %d bytes", err, r.n.Load())
	}
}

func (k PublicKey) bytes() []byte { return k[:] }

// TestEntryCap opens a package whose signed header declares more entries
// than the cap: it is refused before the entry table is read.
func TestEntryCap(t *testing.T) {
	key := testKey(t)
	const count = DefaultMaxEntries + 1
	h := Header{PublicKey: key.Public(), Count: count}
	head := make([]byte, HeaderSize)
	h.put(head)
	copy(h.Signature[:], key.sign(head[64:HeaderSize]))
	h.put(head)
	r := &countingReader{b: head, size: h.HeadSize() + 1<<30}
	_, err := NewReader(r, r.size, key.Public())
	want := fmt.Sprintf("%d entries, over the limit of %d", count, DefaultMaxEntries)
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Part != PartFormat || !strings.Contains(err.Error(), want) {
		t.Fatalf("NewReader = %v, want a format error saying %q", err, want)
	}
	if n := r.n.Load(); n > HeaderSize {
		t.Errorf("read %d bytes before refusing", n)
	}
	// The cap is an option.
	small := manyEntries(t, key, 100)
	if _, err := NewReader(bytes.NewReader(small), int64(len(small)), key.Public(), WithMaxEntries(99)); err == nil || !strings.Contains(err.Error(), "100 entries, over the limit of 99") {
		t.Errorf("WithMaxEntries(99): %v", err)
	}
	if _, err := NewReader(bytes.NewReader(small), int64(len(small)), key.Public(), WithMaxEntries(100)); err != nil {
		t.Errorf("WithMaxEntries(100): %v", err)
	}
}

// TestVerifyStage checks a package against the stage it was made from
// and the trusted key.
func TestVerifyStage(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	dir := t.TempDir()
	stage := filepath.Join(dir, "stage")
	writeTree(t, stage, trees[2].nodes)
	pkg := filepath.Join(dir, "stage.pkgar")
	if _, err := Create(ctx, pkg, stage, key); err != nil {
		t.Fatal(err)
	}
	if err := VerifyStage(ctx, pkg, stage, key.Public()); err != nil {
		t.Fatalf("VerifyStage of a fresh package: %v", err)
	}
	compressed := filepath.Join(dir, "lzma.pkgar")
	if _, err := Create(ctx, compressed, stage, key, WithPackaging(LZMA2)); err != nil {
		t.Fatal(err)
	}
	if err := VerifyStage(ctx, compressed, stage, key.Public()); err != nil {
		t.Fatalf("VerifyStage of an LZMA2 package: %v", err)
	}

	other, _ := GenerateSecretKey()
	foreign := filepath.Join(dir, "foreign.pkgar")
	if _, err := Create(ctx, foreign, stage, other); err != nil {
		t.Fatal(err)
	}
	var ve *VerifyError
	if err := VerifyStage(ctx, foreign, stage, key.Public()); !errors.As(err, &ve) || ve.Part != PartPublicKey {
		t.Errorf("foreign key: %v", err)
	}
	data, _ := os.ReadFile(pkg)
	head := filepath.Join(dir, "head.pkgar")
	os.WriteFile(head, data[:headSizeOf(t, data)], 0o644)
	if err := VerifyStage(ctx, head, stage, key.Public()); !errors.Is(err, ErrHeadOnly) {
		t.Errorf("truncated after the table: %v", err)
	}

	// The stage changes after packaging: each way is named.
	first := trees[2].nodes[0].path
	tests := []struct {
		name   string
		change func(t *testing.T, stage string)
		want   string
	}{
		{"content", func(t *testing.T, s string) {
			os.WriteFile(filepath.Join(s, first), []byte("changed"), 0o644)
		}, first + ": contents differ"},
		{"mode", func(t *testing.T, s string) { os.Chmod(filepath.Join(s, first), 0o700) }, first + ": mode 100755 in the package, 100700 in the stage"},
		{"extra", func(t *testing.T, s string) { os.WriteFile(filepath.Join(s, "extra"), nil, 0o644) }, "in the stage but not in the package: extra"},
		{"missing", func(t *testing.T, s string) { os.Remove(filepath.Join(s, first)) }, "in the package but not in the stage: " + first},
		{"symlink", func(t *testing.T, s string) {
			os.Remove(filepath.Join(s, first))
			os.Symlink("elsewhere", filepath.Join(s, first))
		}, first + ": mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := filepath.Join(t.TempDir(), "stage")
			writeTree(t, s, trees[2].nodes)
			tt.change(t, s)
			err := VerifyStage(ctx, pkg, s, key.Public())
			if !errors.Is(err, ErrStageMismatch) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), pkg) {
				t.Errorf("VerifyStage = %v, want ErrStageMismatch naming the package and %q", err, tt.want)
			}
		})
	}
}

func headSizeOf(t *testing.T, pkg []byte) int64 {
	var h Header
	if err := h.UnmarshalBinary(pkg); err != nil {
		t.Fatal(err)
	}
	return HeaderSize + int64(binary.LittleEndian.Uint32(pkg[128:]))*EntrySize
}

// TestListingTextEscapes: entry paths and link targets are the packager's
// bytes; the text listing escapes their control characters.
func TestListingTextEscapes(t *testing.T) {
	l := &Listing{Entries: []ListingEntry{
		{Path: "bin/\x1b[2Jclear", Mode: "100755", Size: 1, Blake3: strings.Repeat("ab", 32)},
		{Path: "etc/link", Mode: "120777", Size: 9, Blake3: strings.Repeat("cd", 32), Target: "\x1b]0;pwned\a"},
	}}
	var b bytes.Buffer
	if err := l.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "100755          1 abababababababab bin/\\x1b[2Jclear\n120777          9 cdcdcdcdcdcdcdcd etc/link -> \\x1b]0;pwned\\a\n"
	if b.String() != want {
		t.Errorf("listing\n%q\nwant\n%q", b.String(), want)
	}
}
