package pkgar

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/redox-cook/cook/internal/golden"
)

// node is one thing in a generated stage tree.
type node struct {
	path   string
	data   []byte // file contents
	perm   fs.FileMode
	target string // symlink target; a node with a target is a symlink
	dir    bool   // an (empty) directory
}

func writeTree(t testing.TB, root string, nodes []node) {
	t.Helper()
	for _, n := range nodes {
		p := filepath.Join(root, filepath.FromSlash(n.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case n.dir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case n.target != "":
			if err := os.Symlink(n.target, p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, n.data, 0o600); err != nil {
				t.Fatal(err)
			}
			perm := n.perm
			if perm == 0 {
				perm = 0o644
			}
			if err := os.Chmod(p, perm); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// snapshot describes a tree: every file and symlink with its type,
// permission bits and contents (directories are implied).
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "symlink -> " + target
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := blake3.Sum256(data)
		out[rel] = fmt.Sprintf("file %v %d %x", fi.Mode(), len(data), sum[:8])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testKey(t testing.TB) *SecretKey {
	t.Helper()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	k, err := NewSecretKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// generated returns a pseudo-random tree: files of varied sizes (with
// compressible and random data), empty files, symlinks, and a path close
// to pkgar's 255-byte limit.
func generated(seed uint64) []node {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var nodes []node
	dirs := []string{"", "usr/bin", "usr/lib", "usr/share/doc/pkg", "etc", "a/b/c/d/e/f/g/h"}
	perms := []fs.FileMode{0o644, 0o755, 0o600, 0o444, 0o700, 0o755 | fs.ModeSetuid, 0o750 | fs.ModeSetgid}
	for i := range 40 {
		d := dirs[r.IntN(len(dirs))]
		name := fmt.Sprintf("f%02d", i)
		p := strings.TrimPrefix(d+"/"+name, "/")
		var data []byte
		switch r.IntN(4) {
		case 0: // empty
		case 1:
			data = randBytes(r, r.IntN(5000))
		case 2:
			data = bytes.Repeat([]byte("redox "), r.IntN(20000))
		default:
			data = randBytes(r, r.IntN(300000))
		}
		nodes = append(nodes, node{path: p, data: data, perm: perms[r.IntN(len(perms))]})
	}
	deep := strings.Repeat("d123456789/", 22) + "leaf" // 246 bytes
	nodes = append(nodes,
		node{path: deep, data: []byte("deep\n"), perm: 0o640},
		node{path: "usr/lib/libx.so", target: "libx.so.1"},
		node{path: "bin", target: "usr/bin"},
		node{path: "usr/lib/dangling", target: "/nowhere/at/all"},
		node{path: "empty/dir", dir: true},
	)
	return nodes
}

var trees = []struct {
	name  string
	nodes []node
}{
	{"empty", nil},
	{"one empty file", []node{{path: "e"}}},
	{"files and symlinks", []node{
		{path: "usr/bin/hello", data: []byte("#!/bin/sh\necho hello\n"), perm: 0o755},
		{path: "usr/lib/libhello.so.1", data: bytes.Repeat([]byte{0x7f, 'E', 'L', 'F'}, 1000), perm: 0o755},
		{path: "usr/lib/libhello.so", target: "libhello.so.1"},
		{path: "etc/hello.conf", data: []byte("greeting = hi\n"), perm: 0o600},
		{path: "etc/empty"},
	}},
	{"special modes", []node{
		{path: "usr/bin/su", data: []byte("su"), perm: 0o755 | fs.ModeSetuid},
		{path: "usr/bin/wall", data: []byte("wall"), perm: 0o755 | fs.ModeSetgid},
		{path: "ro", data: []byte("ro"), perm: 0o444},
		{path: "none", data: []byte("none"), perm: 0o000},
	}},
	{"generated 1", generated(1)},
	{"generated 2", generated(2)},
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	for _, tc := range trees {
		for _, p := range []Packaging{Uncompressed, LZMA2} {
			t.Run(tc.name+"/"+p.String(), func(t *testing.T) {
				dir := t.TempDir()
				stage := filepath.Join(dir, "stage")
				if err := os.MkdirAll(stage, 0o755); err != nil {
					t.Fatal(err)
				}
				writeTree(t, stage, tc.nodes)
				pkg := filepath.Join(dir, "out", "stage.pkgar")
				info, err := Create(ctx, pkg, stage, key, WithPackaging(p))
				if err != nil {
					t.Fatal(err)
				}
				st, err := os.Stat(pkg)
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() != info.Size {
					t.Errorf("Info.Size = %d, file is %d bytes", info.Size, st.Size())
				}
				f, err := Open(pkg, key.Public())
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if f.Header != info.Header {
					t.Errorf("header read back differs from header written")
				}
				if diff := cmp.Diff(info.Entries, f.Entries, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("entries (-written +read):\n%s", diff)
				}
				if got, err := f.StorageSize(); err != nil || got != info.StorageSize {
					t.Errorf("StorageSize = %d, %v; Create said %d", got, err, info.StorageSize)
				}
				if err := f.Verify(ctx); err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(dir, "extracted")
				if err := f.Extract(ctx, out); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(snapshot(t, stage), snapshot(t, out)); diff != "" {
					t.Errorf("extracted tree differs (-stage +extracted):\n%s", diff)
				}
				// Deterministic: packaging the extracted tree gives the same bytes.
				pkg2 := filepath.Join(dir, "again.pkgar")
				if _, err := Create(ctx, pkg2, out, key, WithPackaging(p)); err != nil {
					t.Fatal(err)
				}
				a, _ := os.ReadFile(pkg)
				b, _ := os.ReadFile(pkg2)
				if !bytes.Equal(a, b) {
					t.Errorf("packaging the extracted tree gave different bytes")
				}
				// The streaming writer (any io.WriteSeeker) and the parallel
				// one (files) give the same bytes.
				var buf seekBuffer
				if _, err := Write(ctx, &buf, stage, key, WithPackaging(p)); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, buf.b) {
					t.Errorf("Write to a buffer and Create to a file gave different bytes")
				}
			})
		}
	}
}

func TestEntryOrder(t *testing.T) {
	// Upstream sorts each directory's children by name and recurses in
	// place, so "a/b" (under directory "a") comes before "a-b" and "a.txt",
	// unlike a sort of whole paths.
	stage := t.TempDir()
	writeTree(t, stage, []node{
		{path: "a.txt"}, {path: "a-b"}, {path: "a/b"}, {path: "B"}, {path: "a/a/z"}, {path: "_"},
	})
	var buf seekBuffer
	info, err := Write(context.Background(), &buf, stage, testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range info.Entries {
		got = append(got, e.Path)
	}
	want := []string{"B", "_", "a/a/z", "a/b", "a-b", "a.txt"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entry order (-want +got):\n%s", diff)
	}
}

func TestGolden(t *testing.T) {
	stage := t.TempDir()
	writeTree(t, stage, trees[2].nodes)
	dir := t.TempDir()
	var b strings.Builder
	for _, p := range []Packaging{Uncompressed, LZMA2} {
		pkg := filepath.Join(dir, p.String()+".pkgar")
		info, err := Create(context.Background(), pkg, stage, testKey(t), WithPackaging(p))
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(pkg)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "[%s]\nfile_blake3 = %x\nheader_blake3 = %s\nsize = %d\nstorage_size = %d\n",
			p, blake3.Sum256(data), info.Header.Blake3, info.Size, info.StorageSize)
		if p == Uncompressed {
			fmt.Fprintf(&b, "head = %s\n", hex.EncodeToString(data[:HeaderSize]))
		}
		for _, e := range info.Entries {
			fmt.Fprintf(&b, "%06o %8d %8d %s %s\n", e.Mode, e.Offset, e.Size, e.Blake3, e.Path)
		}
	}
	golden.Check(t, filepath.Join("testdata", "golden.txt"), b.String())
}

// seekBuffer is an in-memory io.WriteSeeker.
type seekBuffer struct {
	b   []byte
	off int64
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if end := s.off + int64(len(p)); end > int64(len(s.b)) {
		s.b = append(s.b, make([]byte, end-int64(len(s.b)))...)
	}
	copy(s.b[s.off:], p)
	s.off += int64(len(p))
	return len(p), nil
}

func (s *seekBuffer) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 0:
		s.off = off
	case 1:
		s.off += off
	case 2:
		s.off = int64(len(s.b)) + off
	}
	return s.off, nil
}

func buildPackage(t *testing.T, nodes []node, opts ...CreateOption) ([]byte, *Info) {
	t.Helper()
	stage := t.TempDir()
	writeTree(t, stage, nodes)
	var buf seekBuffer
	info, err := Write(context.Background(), &buf, stage, testKey(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return buf.b, info
}

func TestTamper(t *testing.T) {
	nodes := trees[2].nodes
	orig, info := buildPackage(t, nodes)
	head := info.Header.HeadSize()
	second := info.Entries[1]
	tests := []struct {
		name string
		off  int64
		part Part
		path string
		msg  string
	}{
		{"signature", 10, PartSignature, "", "signature: header signature does not verify"},
		{"public key", 64 + 5, PartPublicKey, "", "public key: package is signed by key"},
		{"entry table hash", 96, PartSignature, "", "signature:"},
		{"entry count", 128, PartSignature, "", "signature:"},
		{"entry hash", HeaderSize + EntrySize + 3, PartEntryTable, "", "entry table: BLAKE3 is"},
		{"entry path", HeaderSize + 52, PartEntryTable, "", "entry table: BLAKE3 is"},
		{"entry mode", HeaderSize + 48, PartEntryTable, "", "entry table: BLAKE3 is"},
		{"data", head + int64(second.Offset) + 7, PartData, second.Path, "data of " + second.Path + ": BLAKE3 is"},
		{"last data byte", int64(len(orig)) - 1, PartData, info.Entries[len(info.Entries)-1].Path, "BLAKE3 is"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(orig)
			b[tc.off] ^= 0x01
			rd, err := NewReader(bytes.NewReader(b), int64(len(b)), testKey(t).Public())
			if err == nil {
				err = rd.Verify(context.Background())
			}
			if err == nil {
				t.Fatal("tampered package verified")
			}
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is not a *VerifyError", err)
			}
			if ve.Part != tc.part || ve.Path != tc.path {
				t.Errorf("error names part %q path %q, want %q %q (%v)", ve.Part, ve.Path, tc.part, tc.path, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
	t.Run("other trusted key", func(t *testing.T) {
		other, err := GenerateSecretKey()
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewReader(bytes.NewReader(orig), int64(len(orig)), other.Public())
		var ve *VerifyError
		if !errors.As(err, &ve) || ve.Part != PartPublicKey {
			t.Errorf("got %v, want a public key error", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		b := orig[:len(orig)-1]
		_, err := NewReader(bytes.NewReader(b), int64(len(b)), testKey(t).Public())
		var ve *VerifyError
		if !errors.As(err, &ve) || ve.Part != PartEntry {
			t.Errorf("got %v, want an entry out of bounds error", err)
		}
	})
	t.Run("extract stops before writing", func(t *testing.T) {
		b := bytes.Clone(orig)
		b[len(b)-1] ^= 1
		rd, err := NewReader(bytes.NewReader(b), int64(len(b)), testKey(t).Public())
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		if err := rd.Extract(context.Background(), out); err == nil {
			t.Fatal("extracting a package with bad data succeeded")
		}
		if got := snapshot(t, out); len(got) != 0 {
			t.Errorf("files left behind after a failed extract: %v", got)
		}
	})
}

// craft signs a package made of arbitrary entries and data, bypassing
// Write's checks, as an attacker could.
func craft(t *testing.T, key *SecretKey, entries []Entry, data [][]byte) []byte {
	return craftFlags(t, key, 0, entries, data, data)
}

// craftFlags is craft with header flags; stored[i] is what is written for
// entry i, data[i] what its hash is computed over.
func craftFlags(t *testing.T, key *SecretKey, flags Flags, entries []Entry, data, stored [][]byte) []byte {
	t.Helper()
	h := Header{PublicKey: key.Public(), Count: uint32(len(entries)), Flags: flags}
	head := make([]byte, h.HeadSize())
	var region []byte
	for i := range entries {
		e := &entries[i]
		e.Offset = uint64(len(region))
		e.Size = uint64(len(stored[i]))
		e.Blake3 = Hash(blake3.Sum256(data[i]))
		region = append(region, stored[i]...)
		if err := e.put(head[HeaderSize+i*EntrySize:]); err != nil {
			t.Fatal(err)
		}
	}
	h.Blake3 = Hash(blake3.Sum256(head[HeaderSize:]))
	h.put(head)
	copy(h.Signature[:], key.sign(head[64:HeaderSize]))
	h.put(head)
	return append(head, region...)
}

func TestExtractRefusesUnsafePaths(t *testing.T) {
	key := testKey(t)
	for _, p := range []string{"../escape", "a/../../escape", "/etc/passwd", "./x", "a/./b", "", "a/.."} {
		t.Run(p, func(t *testing.T) {
			pkg := craft(t, key, []Entry{{Mode: ModeFile | 0o644, Path: "ok"}, {Mode: ModeFile | 0o644, Path: p}}, [][]byte{[]byte("fine"), []byte("evil")})
			rd, err := NewReader(bytes.NewReader(pkg), int64(len(pkg)), key.Public())
			if err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			out := filepath.Join(parent, "root")
			err = rd.Extract(context.Background(), out)
			if !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("Extract = %v, want an unsafe path error", err)
			}
			if got := snapshot(t, parent); len(got) != 0 {
				t.Errorf("files written despite the refusal: %v", got)
			}
		})
	}
}

func TestExtractStaysInsideThroughSymlinks(t *testing.T) {
	key := testKey(t)
	for _, target := range []string{"/", "../../..", "/../outside", "sub/../../.."} {
		t.Run(target, func(t *testing.T) {
			parent := t.TempDir()
			root := filepath.Join(parent, "root")
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(root, "lib")); err != nil {
				t.Fatal(err)
			}
			pkg := craft(t, key, []Entry{{Mode: ModeFile | 0o644, Path: "lib/x"}}, [][]byte{[]byte("x")})
			rd, err := NewReader(bytes.NewReader(pkg), int64(len(pkg)), key.Public())
			if err != nil {
				t.Fatal(err)
			}
			if err := rd.Extract(context.Background(), root); err != nil {
				t.Fatal(err)
			}
			snap := snapshot(t, parent)
			for p := range snap {
				if !strings.HasPrefix(p, "root"+string(filepath.Separator)) {
					t.Errorf("%s written outside the root", p)
				}
			}
		})
	}
	t.Run("package symlink then file through it", func(t *testing.T) {
		parent := t.TempDir()
		root := filepath.Join(parent, "root")
		pkg := craft(t, key, []Entry{
			{Mode: ModeSymlink | 0o777, Path: "evil"},
			{Mode: ModeFile | 0o644, Path: "evil/x"},
		}, [][]byte{[]byte("../.."), []byte("x")})
		rd, err := NewReader(bytes.NewReader(pkg), int64(len(pkg)), key.Public())
		if err != nil {
			t.Fatal(err)
		}
		_ = rd.Extract(context.Background(), root) // may fail; must not escape
		for p := range snapshot(t, parent) {
			if !strings.HasPrefix(p, "root"+string(filepath.Separator)) {
				t.Errorf("%s written outside the root", p)
			}
		}
	})
}

func TestHead(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	dir := t.TempDir()
	stage := filepath.Join(dir, "stage")
	writeTree(t, stage, trees[2].nodes)
	pkg := filepath.Join(dir, "p.pkgar")
	info, err := Create(ctx, pkg, stage, key)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(pkg, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	headPath := filepath.Join(dir, "p.pkgar_head")
	if err := f.WriteHead(headPath); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(headPath)
	if int64(len(data)) != info.Header.HeadSize() {
		t.Fatalf("head is %d bytes, want %d", len(data), info.Header.HeadSize())
	}
	h, err := Open(headPath, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.HasData() {
		t.Error("a head reports data")
	}
	if diff := cmp.Diff(info.Entries, h.Entries); diff != "" {
		t.Errorf("head entries differ:\n%s", diff)
	}
	if err := h.Extract(ctx, filepath.Join(dir, "x")); err == nil {
		t.Error("extracting a head succeeded")
	}
}

func TestInstall(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	dir := t.TempDir()
	stage := filepath.Join(dir, "stage")
	writeTree(t, stage, trees[2].nodes)
	pkg := filepath.Join(dir, "hello.pkgar")
	if _, err := Create(ctx, pkg, stage, key); err != nil {
		t.Fatal(err)
	}
	f, err := Open(pkg, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root := filepath.Join(dir, "root")
	if err := f.Install(ctx, root, "hello"); err != nil {
		t.Fatal(err)
	}
	head, err := os.ReadFile(filepath.Join(root, "var", "lib", "packages", "hello.pkgar_head"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(head, f.Head()) {
		t.Error("installed head differs from the package's head")
	}
	if _, err := os.Stat(filepath.Join(root, "usr", "bin", "hello")); err != nil {
		t.Error(err)
	}
	if err := f.Install(ctx, root, "../x"); err == nil {
		t.Error("a package name with a slash was accepted")
	}
}

func TestExtractModes(t *testing.T) {
	key := testKey(t)
	pkg := craft(t, key, []Entry{
		{Mode: ModeFile | 0o666, Path: "d/rw"},
		{Mode: ModeFile | 0o4755, Path: "d/suid"},
		{Mode: ModeFile | 0o400, Path: "ro"},
	}, [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	rd, err := NewReader(bytes.NewReader(pkg), int64(len(pkg)), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		opts  []ExtractOption
		modes map[string]fs.FileMode
	}{
		{"as packaged", nil, map[string]fs.FileMode{"d": fs.ModeDir | 0o755, "d/rw": 0o666, "d/suid": fs.ModeSetuid | 0o755, "ro": 0o400}},
		{"umask 002", []ExtractOption{WithUmask(0o002)}, map[string]fs.FileMode{"d": fs.ModeDir | 0o775, "d/rw": 0o664, "d/suid": fs.ModeSetuid | 0o755, "ro": 0o400}},
		{"umask 022 and dir mode", []ExtractOption{WithUmask(0o022), WithDirMode(0o700)}, map[string]fs.FileMode{"d": fs.ModeDir | 0o700, "d/rw": 0o644, "d/suid": fs.ModeSetuid | 0o755, "ro": 0o400}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			if err := rd.Extract(context.Background(), out, tc.opts...); err != nil {
				t.Fatal(err)
			}
			for p, want := range tc.modes {
				st, err := os.Lstat(filepath.Join(out, p))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode() != want {
					t.Errorf("%s: mode %v, want %v", p, st.Mode(), want)
				}
			}
		})
	}
	if err := rd.Extract(context.Background(), t.TempDir(), WithUmask(fs.ModeDir)); err == nil {
		t.Error("a umask with a type bit was accepted")
	}
}

func TestVerifyReportsUnsafePaths(t *testing.T) {
	key := testKey(t)
	pkg := craft(t, key, []Entry{{Mode: ModeFile | 0o644, Path: "../x"}}, [][]byte{[]byte("x")})
	rd, err := NewReader(bytes.NewReader(pkg), int64(len(pkg)), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	var ve *VerifyError
	if err := rd.Verify(context.Background()); !errors.As(err, &ve) || ve.Part != PartEntry || ve.Path != "../x" {
		t.Errorf("Verify = %v, want an entry error for ../x", err)
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	k1, err := EnsureKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, SecretKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secret key mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := EnsureKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Public() != k2.Public() {
		t.Error("second EnsureKeys made a new key")
	}
	pub, err := LoadPublicKey(filepath.Join(dir, PublicKeyFile))
	if err != nil || pub != k1.Public() {
		t.Errorf("public key file: %v, %v", pub, err)
	}
	// A missing public key is rewritten from the secret key.
	os.Remove(filepath.Join(dir, PublicKeyFile))
	if _, err := EnsureKeys(dir); err != nil {
		t.Fatal(err)
	}
	if pub, err := LoadPublicKey(filepath.Join(dir, PublicKeyFile)); err != nil || pub != k1.Public() {
		t.Errorf("rewritten public key: %v, %v", pub, err)
	}

	// Upstream's format, as pkgar-keys writes it.
	k := testKey(t)
	sec := fmt.Sprintf("salt = \"%s\"\nnonce = \"%s\"\nskey = \"%s\"\n",
		strings.Repeat("ab", 32), strings.Repeat("cd", 24), hex.EncodeToString(k.priv))
	got, err := ParseSecretKey([]byte(sec))
	if err != nil || got.Public() != k.Public() {
		t.Errorf("ParseSecretKey(upstream file) = %v, %v", got, err)
	}
	if string(MarshalPublicKey(k.Public())) != "pkey = \"79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664\"\n" {
		t.Errorf("MarshalPublicKey = %q", MarshalPublicKey(k.Public()))
	}

	bad := []struct{ name, text, msg string }{
		{"encrypted", fmt.Sprintf("salt = \"00\"\nnonce = \"00\"\nskey = \"%s\"\n", strings.Repeat("00", 80)), "encrypted"},
		{"short", "skey = \"0011\"\n", "2 bytes"},
		{"not hex", "skey = \"zz\"\n", "skey"},
		{"mismatched halves", fmt.Sprintf("skey = \"%s\"\n", hex.EncodeToString(append(bytes.Clone(k.priv[:32]), make([]byte, 32)...))), "does not match"},
	}
	for _, tc := range bad {
		_, err := ParseSecretKey([]byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: ParseSecretKey = %v, want an error saying %q", tc.name, err, tc.msg)
		}
	}
}

func TestEnsureKeysConcurrently(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	keys := make(chan PublicKey, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			k, err := EnsureKeys(dir)
			if err != nil {
				errs <- err
				return
			}
			keys <- k.Public()
		}()
	}
	var first PublicKey
	for i := range n {
		select {
		case err := <-errs:
			t.Fatal(err)
		case k := <-keys:
			if i == 0 {
				first = k
			} else if k != first {
				t.Fatal("concurrent EnsureKeys calls returned different keys")
			}
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestCreateCancelled(t *testing.T) {
	stage := t.TempDir()
	writeTree(t, stage, generated(4))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	for _, p := range []Packaging{Uncompressed, LZMA2} {
		if _, err := Create(ctx, filepath.Join(dir, "p.pkgar"), stage, testKey(t), WithPackaging(p)); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Create with a cancelled context = %v", p, err)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("files left after a cancelled Create: %v", left)
	}
}

func TestCreateRefuses(t *testing.T) {
	key := testKey(t)
	long := strings.Repeat("x", 256)
	stage := t.TempDir()
	writeTree(t, stage, []node{{path: long[:200] + "/" + long[:60]}})
	_, err := Create(context.Background(), filepath.Join(t.TempDir(), "p.pkgar"), stage, key)
	if err == nil || !strings.Contains(err.Error(), "longer than pkgar's limit") {
		t.Errorf("long path: %v", err)
	}
	if _, err := Create(context.Background(), filepath.Join(t.TempDir(), "p.pkgar"), filepath.Join(stage, "missing"), key); err == nil {
		t.Error("missing stage dir: no error")
	}
}

func TestCreateRefusesSpecialFiles(t *testing.T) {
	stage := t.TempDir()
	writeTree(t, stage, []node{{path: "a/file"}, {path: "z/file"}})
	if err := unix.Mkfifo(filepath.Join(stage, "m-fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Create(context.Background(), filepath.Join(t.TempDir(), "p.pkgar"), stage, testKey(t))
	if err == nil || !strings.Contains(err.Error(), "m-fifo: unsupported file type p") {
		t.Errorf("a FIFO in the stage: %v", err)
	}
}
