package initfs

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
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/redox-cook/cook/internal/redoxtest"
)

// testBootstrap writes redoxtest's bootstrap program and returns its path.
func testBootstrap(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(p, redoxtest.Bootstrap(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type tfile struct {
	path, data, link string
	mode             os.FileMode // 0: directory when data and link are empty and dir is set
	dir              bool
}

// makeTree writes files under a new directory and returns it.
func makeTree(t testing.TB, files []tfile) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case f.dir:
			err = os.MkdirAll(p, 0o755)
		case f.link != "":
			err = os.Symlink(strings.ReplaceAll(f.link, "$ROOT", root), p)
		default:
			if err = os.WriteFile(p, []byte(f.data), 0o644); err == nil {
				err = os.Chmod(p, f.mode)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

var sample = []tfile{
	{path: "bin/init", data: "\x7fELF init", mode: 0o755},
	{path: "bin/logd", data: strings.Repeat("logd", 3000), mode: 0o700},
	{path: "etc/empty", data: "", mode: 0o644},
	{path: "etc/init.rc", data: "logd\ninit\n", mode: 0o644},
	{path: "lib/init.d/00_base.service", data: "[unit]\n", mode: 0o444},
	{path: "lib/drivers", dir: true},
	{path: "zz/a/b/c/deep", data: "deep", mode: 0o600},
	{path: "bin/sh", link: "init"},
	{path: "bin/up", link: "./../etc//init.rc/"},
	{path: "etc/abs-in", link: "$ROOT/bin/init"},
	{path: "etc/abs-out", link: "/usr/bin/env"},
	{path: ".hidden", data: "h", mode: 0o644},
}

type walked struct {
	Path, Kind, Data, Target string
	Size                     uint32
}

func readAll(t testing.TB, im *Image) []walked {
	t.Helper()
	var out []walked
	err := im.Walk(context.Background(), func(e Entry) error {
		w := walked{Path: e.Path, Kind: e.Kind.String(), Size: e.Size, Target: e.Target}
		if e.Kind == KindFile || e.Kind == KindExec {
			r, err := im.Open(e.Inode)
			if err != nil {
				return err
			}
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			w.Data = string(b)
		}
		out = append(out, w)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeImage(t testing.TB, dir, bs string) []byte {
	t.Helper()
	var b bytes.Buffer
	st, err := Write(context.Background(), &b, dir, bs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(b.Len()) {
		t.Fatalf("stats size %d, wrote %d", st.Size, b.Len())
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	bs := testBootstrap(t)
	dir := makeTree(t, sample)
	img := writeImage(t, dir, bs)

	im, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, im)
	want := []walked{
		{Path: ".hidden", Kind: "file", Data: "h", Size: 1},
		{Path: "bin", Kind: "dir", Size: 4 * DirEntrySize},
		{Path: "bin/init", Kind: "exec", Data: "\x7fELF init", Size: 9},
		{Path: "bin/logd", Kind: "exec", Data: strings.Repeat("logd", 3000), Size: 12000},
		{Path: "bin/sh", Kind: "symlink", Target: "init", Size: 4},
		{Path: "bin/up", Kind: "symlink", Target: "../etc/init.rc", Size: 14},
		{Path: "etc", Kind: "dir", Size: 4 * DirEntrySize},
		{Path: "etc/abs-in", Kind: "symlink", Target: "../bin/init", Size: 11},
		{Path: "etc/abs-out", Kind: "symlink", Target: "../usr/bin/env", Size: 14},
		{Path: "etc/empty", Kind: "file"},
		{Path: "etc/init.rc", Kind: "file", Data: "logd\ninit\n", Size: 10},
		{Path: "lib", Kind: "dir", Size: 2 * DirEntrySize},
		{Path: "lib/drivers", Kind: "dir"},
		{Path: "lib/init.d", Kind: "dir", Size: DirEntrySize},
		{Path: "lib/init.d/00_base.service", Kind: "file", Data: "[unit]\n", Size: 7},
		{Path: "zz", Kind: "dir", Size: DirEntrySize},
		{Path: "zz/a", Kind: "dir", Size: DirEntrySize},
		{Path: "zz/a/b", Kind: "dir", Size: DirEntrySize},
		{Path: "zz/a/b/c", Kind: "dir", Size: DirEntrySize},
		{Path: "zz/a/b/c/deep", Kind: "file", Data: "deep", Size: 4},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("tree read back differs (-want +got):\n%s", d)
	}

	// Header: the bootstrap's entry, the image size, the root inode last.
	h := im.Header
	if h.BootstrapEntry != redoxtest.EntryRIP || h.InitfsSize != uint64(len(img)) || h.PageSize != PageSize ||
		int(h.InodeCount) != len(want)+1 || h.RootInode != h.InodeCount-1 {
		t.Errorf("header %+v (image %d bytes)", h, len(img))
	}
	if !bytes.Equal(img[BootstrapOffset:BootstrapOffset+len(redoxtest.Bootstrap())], redoxtest.Bootstrap()) {
		t.Error("the bootstrap is not at offset 4096")
	}
	// The kernel reads the entry at 0x1A itself.
	if e := binary.LittleEndian.Uint64(img[0x1a:]); e != redoxtest.EntryRIP {
		t.Errorf("entry at 0x1a = %#x", e)
	}

	// Lookup and file reads by path.
	n, err := im.Lookup(context.Background(), "/lib/init.d/00_base.service")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := im.Open(n); err != nil {
		t.Fatal(err)
	} else if b, _ := io.ReadAll(r); string(b) != "[unit]\n" {
		t.Errorf("read %q", b)
	}
	if _, err := im.Lookup(context.Background(), "bin/nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing path: %v", err)
	}
	if _, err := im.Lookup(context.Background(), "etc/init.rc/x"); !errors.Is(err, ErrNotDir) {
		t.Errorf("file as directory: %v", err)
	}
	if n, err := im.Lookup(context.Background(), "bin"); err != nil {
		t.Fatal(err)
	} else if _, err := im.Open(n); !errors.Is(err, ErrNotFile) {
		t.Errorf("opening a directory: %v", err)
	}

	// Deterministic: the same input gives the same bytes, and so does a
	// copy of the tree elsewhere on the host.
	if again := writeImage(t, dir, bs); !bytes.Equal(img, again) {
		t.Error("a second write of the same tree differs")
	}
	if other := writeImage(t, makeTree(t, sample), testBootstrap(t)); !bytes.Equal(img, other) {
		t.Error("the same tree at another host path gives other bytes")
	}
}

// TestLayout checks a small image against upstream's allocation order
// worked out by hand (base initfs/tools/src/lib.rs: bump allocation in whole
// pages; a directory's table, then per entry its content, inode and name).
func TestLayout(t *testing.T) {
	bs := testBootstrap(t)
	bsLen := uint32(len(redoxtest.Bootstrap()))
	dir := makeTree(t, []tfile{
		{path: "a", data: "hello", mode: 0o644},
		{path: "d/b", data: "", mode: 0o755},
	})
	img := writeImage(t, dir, bs)
	// page 0 header, page 1 bootstrap, 8192 root table (2 entries),
	// 12288 "a" data, 16384 name "a", 20480 table of d (1 entry),
	// 24576 "b" data (empty) and name "b", 28672 name "d", 32768 inodes.
	wantHeader := Header{InodeTableOffset: 32768, InitfsSize: 32768 + 4*InodeSize, PageSize: 4096, RootInode: 3, InodeCount: 4, BootstrapEntry: redoxtest.EntryRIP}
	if got := decodeHeader(img); got != wantHeader {
		t.Errorf("header %+v, want %+v", got, wantHeader)
	}
	if string(img[:8]) != Magic || len(img) != 32768+48 {
		t.Fatalf("magic %q, %d bytes", img[:8], len(img))
	}
	wantInodes := []Inode{
		{KindFile, 5, 12288},
		{KindExec, 0, 24576},
		{KindDir, 8, 20480},
		{KindDir, 16, 8192},
	}
	for i, w := range wantInodes {
		if got := decodeInode(img[32768+i*InodeSize:]); got != w {
			t.Errorf("inode %d = %+v, want %+v", i, got, w)
		}
	}
	wantDirents := map[int][]dirent{
		8192:  {{0, 1, 16384}, {2, 1, 28672}},
		20480: {{1, 1, 24576}},
	}
	for off, ds := range wantDirents {
		for i, w := range ds {
			if got := decodeDirent(img[off+i*DirEntrySize:]); got != w {
				t.Errorf("dirent %d at %d = %+v, want %+v", i, off, got, w)
			}
		}
	}
	if string(img[12288:12293]) != "hello" || img[16384] != 'a' || img[24576] != 'b' || img[28672] != 'd' {
		t.Error("data or names misplaced")
	}
	if !bytes.Equal(img[4096:4096+bsLen], redoxtest.Bootstrap()) {
		t.Error("bootstrap misplaced")
	}
	// Every byte not accounted for is zero.
	used := map[int]int{0: HeaderSize, 4096: int(bsLen), 8192: 16, 12288: 5, 16384: 1, 20480: 8, 24576: 1, 28672: 1, 32768: 48}
	for off := 0; off < len(img); off += PageSize {
		for i := off + used[off]; i < min(off+PageSize, len(img)); i++ {
			if img[i] != 0 {
				t.Fatalf("byte %d is %#x, want 0", i, img[i])
			}
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := makeTree(t, sample[:3])
	bs := testBootstrap(t)
	out := filepath.Join(t.TempDir(), "initfs")
	st, err := WriteFile(context.Background(), out, dir, bs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil || int64(len(b)) != st.Size || !bytes.Equal(b, writeImage(t, dir, bs)) {
		t.Fatalf("file: %v, %d bytes, stats %+v", err, len(b), st)
	}
	f, err := OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(readAll(t, f.Image)) != 5 {
		t.Error("entries")
	}
	// A failed write leaves the old file and no temporary behind.
	if _, err := WriteFile(context.Background(), out, dir, filepath.Join(dir, "missing"), Options{}); err == nil {
		t.Fatal("no error for a missing bootstrap")
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(again, b) {
		t.Error("failed write changed the output")
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
	if _, err := WriteFile(context.Background(), t.TempDir(), dir, bs, Options{}); err == nil {
		t.Error("writing over a directory succeeded")
	}
}

func TestWriteErrors(t *testing.T) {
	bs := testBootstrap(t)
	ctx := context.Background()
	write := func(dir, boot string, opt Options) error {
		_, err := Write(ctx, io.Discard, dir, boot, opt)
		return err
	}

	dir := makeTree(t, sample)
	if err := write(dir, bs, Options{MaxSize: 5 * PageSize}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("size limit: %v", err)
	}
	fifo := makeTree(t, nil)
	if err := syscall.Mkfifo(filepath.Join(fifo, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := write(fifo, bs, Options{}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "pipe") {
		t.Errorf("fifo: %v", err)
	}
	if err := write(filepath.Join(dir, "nope"), bs, Options{}); err == nil {
		t.Error("missing source dir")
	}
	if err := write(filepath.Join(dir, "bin/init"), bs, Options{}); !errors.Is(err, ErrNotDir) {
		t.Errorf("source is a file: %v", err)
	}

	// Bootstraps the kernel could not run.
	bad := filepath.Join(t.TempDir(), "bad")
	for name, b := range map[string][]byte{
		"not ELF":    []byte("#!/bin/sh\necho not an ELF file at all\n"),
		"short":      []byte("\x7fELF"),
		"class":      append([]byte("\x7fELF\x03\x01"), make([]byte, 60)...),
		"entry zero": append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 60)...),
		"entry out":  binary.LittleEndian.AppendUint64(append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 17)...), 0x9000),
	} {
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := write(dir, bad, Options{}); !errors.Is(err, ErrBootstrap) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: %v", name, err)
		}
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Write(cancelled, io.Discard, dir, bs, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestELFEntry(t *testing.T) {
	h := make([]byte, 0x20)
	copy(h, "\x7fELF\x01\x02")
	binary.BigEndian.PutUint32(h[0x18:], 0x1234)
	if e, err := ELFEntry(h); err != nil || e != 0x1234 {
		t.Errorf("32-bit big-endian: %#x %v", e, err)
	}
	copy(h, "\x7fELF\x01\x01")
	binary.LittleEndian.PutUint32(h[0x18:], 0x5678)
	if e, err := ELFEntry(h); err != nil || e != 0x5678 {
		t.Errorf("32-bit little-endian: %#x %v", e, err)
	}
}

// corrupt returns a valid image with patch applied at off.
func corrupt(t *testing.T, img []byte, off int, patch []byte) []byte {
	t.Helper()
	b := bytes.Clone(img)
	copy(b[off:], patch)
	return b
}

func TestReaderHostile(t *testing.T) {
	img := writeImage(t, makeTree(t, sample), testBootstrap(t))
	h := decodeHeader(img)
	le := binary.LittleEndian
	u16 := func(v uint16) []byte { return le.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return le.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return le.AppendUint64(nil, v) }
	root := int(h.InodeTableOffset) + int(h.RootInode)*InodeSize
	rootIn := decodeInode(img[root:])
	inode0 := int(h.InodeTableOffset)

	// Older layout: creation time at 0x0C, size at 0x22, page size at 0x2A.
	old := make([]byte, 8192)
	copy(old, Magic)
	le.PutUint32(old[8:], 4096)
	le.PutUint64(old[0x0c:], 1767225600)
	le.PutUint64(old[0x22:], 8192)
	le.PutUint16(old[0x2a:], 4096)

	for _, c := range []struct {
		name string
		img  []byte
		err  error // from Open, else from Walk
	}{
		{"empty", nil, ErrNotInitfs},
		{"short", img[:20], ErrNotInitfs},
		{"magic", corrupt(t, img, 0, []byte("RedoxFS\x00")), ErrNotInitfs},
		{"old layout", old, ErrOldLayout},
		{"size past end", corrupt(t, img, offInitfsSize, u64(uint64(len(img))+1)), ErrCorrupt},
		{"truncated", img[:len(img)-1], ErrCorrupt},
		{"table past end", corrupt(t, img, offInodeTable, u32(uint32(len(img)))), ErrCorrupt},
		{"table in header", corrupt(t, img, offInodeTable, u32(4)), ErrCorrupt},
		{"root out of range", corrupt(t, img, offRootInode, u16(h.InodeCount)), ErrCorrupt},
		{"count past end", corrupt(t, img, offInodeCount, u16(0xffff)), ErrCorrupt},
		{"root not a dir", corrupt(t, img, root, u32(uint32(KindFile))), ErrNotDir},
		{"root table huge", corrupt(t, img, root+4, u32(0xfffffff8)), ErrCorrupt},
		{"root table odd", corrupt(t, img, root+4, u32(rootIn.Length+1)), ErrCorrupt},
		{"root table past end", corrupt(t, img, root+8, u32(uint32(len(img))-8)), ErrCorrupt},
		{"unknown kind", corrupt(t, img, inode0, u32(9)), ErrCorrupt},
		{"file past end", corrupt(t, img, inode0+4, u32(0x7fffffff)), ErrCorrupt},
		{"entry inode range", corrupt(t, img, int(rootIn.Offset), u16(h.InodeCount)), ErrCorrupt},
		{"cycle", corrupt(t, img, int(rootIn.Offset)+DirEntrySize, u16(h.RootInode)), ErrCorrupt},
		{"twice", corrupt(t, img, int(rootIn.Offset)+DirEntrySize, u16(decodeDirent(img[rootIn.Offset:]).inode)), ErrCorrupt},
		{"empty name", corrupt(t, img, int(rootIn.Offset)+2, u16(0)), ErrCorrupt},
		{"long name", corrupt(t, img, int(rootIn.Offset)+2, u16(0xffff)), ErrCorrupt},
		{"name past end", corrupt(t, img, int(rootIn.Offset)+4, u32(uint32(len(img))-1)), ErrCorrupt},
		{"name with slash", corrupt(t, img, int(decodeDirent(img[rootIn.Offset:]).nameOffset), []byte("/")), ErrCorrupt},
		{"name dot", corrupt(t, corrupt(t, img, int(rootIn.Offset)+2, u16(1)), int(decodeDirent(img[rootIn.Offset:]).nameOffset), []byte(".")), ErrCorrupt},
		{"name dot-dot", corrupt(t, corrupt(t, img, int(rootIn.Offset)+2, u16(2)), int(decodeDirent(img[rootIn.Offset:]).nameOffset), []byte("..")), ErrCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			im, err := Open(bytes.NewReader(c.img), int64(len(c.img)))
			if err == nil {
				err = im.Walk(context.Background(), func(Entry) error { return nil })
			}
			if !errors.Is(err, c.err) {
				t.Errorf("got %v, want %v", err, c.err)
			}
		})
	}

	// A symlink whose target is past the end, and one too long.
	im, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	link, err := im.Lookup(context.Background(), "bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	at := int(h.InodeTableOffset) + int(link)*InodeSize
	for _, p := range [][]byte{append(u32(uint32(KindSymlink)), u32(MaxPath+1)...), append(append(u32(uint32(KindSymlink)), u32(8)...), u32(uint32(len(img)-4))...)} {
		b := corrupt(t, img, at, p)
		im, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := im.ReadLink(link); !errors.Is(err, ErrCorrupt) {
			t.Errorf("symlink %x: %v", p, err)
		}
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := im.Walk(cancelled, func(Entry) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled walk: %v", err)
	}
}

// TestReaderDeepChain: a chain of directories whose names make paths
// longer than MaxPath stops at the bound instead of growing.
func TestReaderDeepChain(t *testing.T) {
	// Hand-built: inode i (i < n) is a directory whose single entry names
	// inode i+1, all sharing one 255-byte name; inode n is an empty dir.
	const n = 40
	le := binary.LittleEndian
	img := make([]byte, PageSize)
	copy(img, Magic)
	nameOff := len(img)
	img = append(img, bytes.Repeat([]byte("x"), MaxNameLen)...)
	tables := len(img)
	for i := 0; i < n; i++ {
		img = append(img, make([]byte, DirEntrySize)...)
		dirent{inode: uint16(i + 1), nameLen: MaxNameLen, nameOffset: uint32(nameOff)}.put(img[tables+i*DirEntrySize:])
	}
	table := len(img)
	for i := 0; i <= n; i++ {
		in := Inode{Kind: KindDir, Length: DirEntrySize, Offset: uint32(tables + i*DirEntrySize)}
		if i == n {
			in.Length = 0
		}
		img = append(img, make([]byte, InodeSize)...)
		in.put(img[table+i*InodeSize:])
	}
	le.PutUint32(img[offInodeTable:], uint32(table))
	le.PutUint64(img[offInitfsSize:], uint64(len(img)))
	le.PutUint16(img[offInodeCount:], n+1)
	im, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	err = im.Walk(context.Background(), func(Entry) error { count++; return nil })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "path longer") || count != MaxPath/(MaxNameLen+1) {
		t.Errorf("walk: %v after %d entries", err, count)
	}
}

func TestKind(t *testing.T) {
	for k, want := range map[Kind]string{KindFile: "file 444", KindExec: "exec 555", KindDir: "dir 555", KindSymlink: "symlink 777", 7: "kind(7) 0"} {
		if got := fmt.Sprintf("%s %o", k, k.Mode()); got != want {
			t.Errorf("%d: %s, want %s", k, got, want)
		}
	}
}

// TestListingTextEscapes: entry names and link targets are the image
// maker's bytes; the text listing escapes their control characters.
func TestListingTextEscapes(t *testing.T) {
	l := &Listing{Entries: []ListEntry{
		{Path: "bin/\x1b[2Jclear", Kind: "file", Mode: "0755", Size: 1},
		{Path: "etc/link", Kind: "symlink", Mode: "0777", Size: 9, Target: "\x1b]0;pwned\a"},
	}}
	var b bytes.Buffer
	if err := l.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "0755 file             1 bin/\\x1b[2Jclear\n0777 symlink          9 etc/link -> \\x1b]0;pwned\\a\n"
	if b.String() != want {
		t.Errorf("listing\n%q\nwant\n%q", b.String(), want)
	}
}
