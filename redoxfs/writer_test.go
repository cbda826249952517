package redoxfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const recSize = BlockSize << recordLevel

// gen is a deterministic file body: pseudo-random bytes, except for the
// records zero reports as all zero.
type gen struct {
	seed uint64
	size int64
	zero func(rec int64) bool
}

func (g gen) open() (io.ReadCloser, error) { return io.NopCloser(&genReader{g: g}), nil }

type genReader struct {
	g   gen
	off int64
}

func (r *genReader) Read(p []byte) (int, error) {
	if r.off >= r.g.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.g.size-r.off))
	p = p[:n]
	for i := 0; i < n; {
		pos := r.off + int64(i)
		rec := pos / recSize
		end := min(n, i+int(recSize-pos%recSize))
		if r.g.zero != nil && r.g.zero(rec) {
			clear(p[i:end])
		} else {
			for ; i < end && (r.off+int64(i))%8 != 0; i++ {
				p[i] = r.g.byteAt(r.off + int64(i))
			}
			for j := i; j < end; j++ {
				p[j] = r.g.byteAt(r.off + int64(j))
			}
		}
		i = end
	}
	r.off += int64(n)
	return n, nil
}

func (g gen) byteAt(pos int64) byte {
	x := g.seed*0x9E3779B97F4A7C15 + uint64(pos/8)
	x ^= x >> 31
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 29
	return byte(x >> (8 * (pos % 8)))
}

func (g gen) sum() string {
	h := sha256.New()
	r, _ := g.open()
	io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil))
}

var epoch = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// want is what the reader should report for one path.
type want struct {
	mode     fs.FileMode
	uid, gid uint32
	size     int64
	blocks   uint64 // 0: not checked
	target   string
	body     *gen
	mtime    time.Time
}

type testTree struct {
	tree  *Tree
	wants map[string]want
}

func newTestTree() *testTree {
	return &testTree{tree: NewTree(), wants: map[string]want{".": {mode: fs.ModeDir | 0o755, mtime: epoch}}}
}

func (tt *testTree) file(t testing.TB, p string, perm fs.FileMode, g gen, w want) {
	t.Helper()
	e := Entry{Path: p, Mode: perm, UID: w.uid, GID: w.gid, ModTime: w.mtime, Open: g.open}
	if err := tt.tree.Add(e); err != nil {
		t.Fatal(err)
	}
	w.mode, w.size, w.body = perm, g.size, &g
	if w.mtime.IsZero() {
		w.mtime = epoch
	}
	tt.wants[p] = w
	tt.parents(p)
}

func (tt *testTree) dir(t testing.TB, p string, perm fs.FileMode, uid, gid uint32) {
	t.Helper()
	if err := tt.tree.Add(Entry{Path: p, Mode: fs.ModeDir | perm, UID: uid, GID: gid}); err != nil {
		t.Fatal(err)
	}
	tt.wants[p] = want{mode: fs.ModeDir | perm, uid: uid, gid: gid, mtime: epoch}
	tt.parents(p)
}

func (tt *testTree) symlink(t testing.TB, p, target string) {
	t.Helper()
	if err := tt.tree.Add(Entry{Path: p, Mode: fs.ModeSymlink | 0o777, Target: target}); err != nil {
		t.Fatal(err)
	}
	tt.wants[p] = want{mode: fs.ModeSymlink | 0o777, size: int64(len(target)), target: target, mtime: epoch}
	tt.parents(p)
}

// parents records the implicitly created parent directories.
func (tt *testTree) parents(p string) {
	for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
		if _, ok := tt.wants[d]; !ok {
			tt.wants[d] = want{mode: fs.ModeDir | 0o755, mtime: epoch}
		}
	}
}

func build(t testing.TB, tree *Tree, size int64) (*os.File, *FS) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "fs.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := Build(context.Background(), f, tree, Options{Size: size, UUID: [16]byte{1, 2, 3}, Time: epoch}); err != nil {
		t.Fatal(err)
	}
	fsys, err := Open(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f, fsys
}

func (tt *testTree) verify(t *testing.T, fsys *FS) {
	t.Helper()
	if err := fsys.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	accountBlocks(t, fsys)
	seen := 0
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		seen++
		w, ok := tt.wants[p]
		if !ok {
			t.Errorf("%s: in the image but not in the tree", p)
			return nil
		}
		fi, err := fsys.Lstat(p)
		if err != nil {
			t.Error(err)
			return nil
		}
		st := fi.Sys().(*Stat)
		if fi.Mode() != w.mode || st.UID != w.uid || st.GID != w.gid || !st.Mtime.Equal(w.mtime) || !st.Ctime.Equal(w.mtime) {
			t.Errorf("%s: mode %v owner %d:%d mtime %v ctime %v; want %v %d:%d %v", p, fi.Mode(), st.UID, st.GID, st.Mtime, st.Ctime, w.mode, w.uid, w.gid, w.mtime)
		}
		if st.Links != 1 {
			t.Errorf("%s: links %d, want 1", p, st.Links)
		}
		if w.blocks != 0 && st.Blocks != w.blocks {
			t.Errorf("%s: blocks %d, want %d", p, st.Blocks, w.blocks)
		}
		switch {
		case w.mode.IsDir():
		case w.mode.Type() == fs.ModeSymlink:
			if target, err := fsys.ReadLink(p); err != nil || target != w.target || fi.Size() != w.size {
				t.Errorf("%s: ReadLink = %.40q…, %v; size %d; want %.40q…", p, target, err, fi.Size(), w.target)
			}
		default:
			if fi.Size() != w.size {
				t.Errorf("%s: size %d, want %d", p, fi.Size(), w.size)
			}
			f, err := fsys.Open(p)
			if err != nil {
				t.Error(err)
				return nil
			}
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != w.body.sum() {
				t.Errorf("%s: contents differ", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(tt.wants) {
		t.Errorf("walked %d paths, want %d", seen, len(tt.wants))
	}
}

// sampleTree covers the layouts a writer must get right.
func sampleTree(t testing.TB) *testTree {
	tt := newTestTree()
	zeroRec := func(z ...int64) func(int64) bool {
		return func(r int64) bool {
			for _, x := range z {
				if x == r {
					return true
				}
			}
			return false
		}
	}
	all := func(int64) bool { return true }
	files := []struct {
		path   string
		perm   fs.FileMode
		g      gen
		blocks uint64
	}{
		{"files/empty", 0o644, gen{seed: 1}, 1},
		{"files/one", 0o644, gen{seed: 2, size: 1}, 1},
		{"files/inline_max", 0o644, gen{seed: 3, size: InlineMax - 1}, 1},
		{"files/first_record", 0o644, gen{seed: 4, size: InlineMax}, 2},
		{"files/page", 0o644, gen{seed: 5, size: BlockSize}, 2},
		{"usr/bin/tool10k", 0o755 | fs.ModeSetuid, gen{seed: 6, size: 10000}, 5},
		{"usr/bin/sg", 0o755 | fs.ModeSetgid, gen{seed: 7, size: 100}, 1},
		{"files/record", 0o600, gen{seed: 8, size: recSize}, 33},
		{"files/record_plus_one", 0o644, gen{seed: 9, size: recSize + 1}, 34},
		{"files/kernel", 0o644, gen{seed: 10, size: 300000}, 81},
		{"files/sparse", 0o644, gen{seed: 11, size: 1 << 20, zero: all}, 1},
		{"files/zeros_inline", 0o644, gen{seed: 12, size: 100, zero: all}, 1},
		{"files/hole", 0o644, gen{seed: 13, size: 3*recSize + 5, zero: zeroRec(1)}, 1 + 32 + 32 + 1},
		// 130 records: two go through a single-indirect BlockList.
		{"files/indirect", 0o644, gen{seed: 14, size: 130*recSize - 7}, 1 + 130*32 + 1},
	}
	for _, f := range files {
		tt.file(t, f.path, f.perm, f.g, want{blocks: f.blocks, uid: 1000, gid: 100})
	}
	tt.dir(t, "empty", 0o755, 0, 0)
	tt.dir(t, "tmp", 0o777|fs.ModeSticky, 0, 0)
	tt.dir(t, "home/user", 0o700, 1000, 1000)
	tt.file(t, "home/user/.profile", 0o644, gen{seed: 20, size: 42}, want{uid: 1000, gid: 1000, mtime: epoch.Add(-time.Hour + 12345)})
	tt.symlink(t, "bin", "usr/bin")
	tt.symlink(t, "etc/os-release", "../usr/lib/os-release")
	tt.symlink(t, "abs", "/usr/bin/tool10k")
	tt.symlink(t, "long", strings.Repeat("x/", 2600)+"end") // over InlineMax: stored in 4 KiB records
	tt.symlink(t, "loop", "loop")
	if err := tt.tree.Add(Entry{Path: "./etc/./motd", Mode: 0o644, Open: gen{seed: 40, size: 3}.open}); err != nil {
		t.Fatal(err)
	}
	tt.wants["etc/motd"] = want{mode: 0o644, size: 3, body: &gen{seed: 40, size: 3}, mtime: epoch}

	// A deep path and names at the length limit.
	deep := strings.Repeat("d/", 60) + "leaf"
	tt.file(t, deep, 0o644, gen{seed: 30, size: 7}, want{})
	tt.file(t, "names/"+strings.Repeat("n", MaxNameLen), 0o644, gen{seed: 31, size: 1}, want{})
	tt.file(t, "names/ünïcødé ✓", 0o644, gen{seed: 32, size: 1}, want{})
	return tt
}

func TestRoundTrip(t *testing.T) {
	tt := sampleTree(t)
	_, fsys := build(t, tt.tree, 64<<20)
	tt.verify(t, fsys)

	// Symlinks are followed by Open and Stat.
	b, err := fs.ReadFile(fsys, "bin/tool10k")
	if err != nil || len(b) != 10000 {
		t.Errorf("ReadFile through a relative symlink: %d bytes, %v", len(b), err)
	}
	if fi, err := fsys.Stat("abs"); err != nil || fi.Size() != 10000 {
		t.Errorf("Stat through an absolute symlink: %v, %v", fi, err)
	}
	if _, err := fsys.Stat("loop"); err == nil {
		t.Error("Stat of a symlink loop succeeded")
	}
	if info := fsys.Info(); info.Size != 64<<20 || info.Generation != 0 || info.Slot != 0 || info.UUIDString() != "01020300-0000-0000-0000-000000000000" {
		t.Errorf("Info() = %+v (%s)", info, info.UUIDString())
	}
}

func TestRoundTripCompressed(t *testing.T) {
	tt := sampleTree(t)
	text := func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(strings.Repeat("compressible text, ", 20000))), nil
	}
	tt.tree.Add(Entry{Path: "text", Mode: 0o644, Open: text})
	tt.wants["text"] = want{mode: 0o644, size: 19 * 20000, mtime: epoch, body: nil}
	f, err := os.Create(filepath.Join(t.TempDir(), "fs.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Build(context.Background(), f, tt.tree, Options{Size: 64 << 20, Time: epoch, Compress: true}); err != nil {
		t.Fatal(err)
	}
	fsys, err := Open(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, n, err := fsys.resolve("x", "text", false)
	if err != nil {
		t.Fatal(err)
	}
	// 380,000 bytes: three records, the last one 117,856 bytes (level 5).
	for i := range 3 {
		if p := n.levelPtr(i); p.decompLevel() != 5 || p.level() >= p.decompLevel() {
			t.Errorf("record %d: level %d, decompressed level %d; want a compressed record", i, p.level(), p.decompLevel())
		}
	}
	b, err := fs.ReadFile(fsys, "text")
	if err != nil || string(b) != strings.Repeat("compressible text, ", 20000) {
		t.Fatalf("ReadFile(text) = %d bytes, %v", len(b), err)
	}
	// Everything else (random data) reads back the same.
	for p, w := range tt.wants {
		if w.body == nil {
			continue
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != w.body.sum() {
			t.Errorf("%s: contents differ", p)
		}
	}
	accountBlocks(t, fsys)
	if err := fsys.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestLargeDirectory(t *testing.T) {
	for _, n := range []int{1, 300, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			tt := newTestTree()
			for i := range n {
				tt.file(t, fmt.Sprintf("big/entry-%05d.txt", i), 0o644, gen{seed: uint64(i), size: int64(i % 50)}, want{})
			}
			_, fsys := build(t, tt.tree, 64<<20)
			tt.verify(t, fsys)
			ents, err := fsys.ReadDir("big")
			if err != nil || len(ents) != n {
				t.Fatalf("ReadDir: %d entries, %v", len(ents), err)
			}
			if _, err := fsys.Stat("big/no-such-entry"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat of a missing name: %v, want ErrNotExist", err)
			}
		})
	}
}

// A directory deep enough to need a two-level H-tree (more than 204
// DirLists).
func TestHugeDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	tt := newTestTree()
	for i := range 50000 {
		tt.file(t, fmt.Sprintf("huge/a-fairly-long-file-name-%06d", i), 0o644, gen{size: 0}, want{})
	}
	_, fsys := build(t, tt.tree, 512<<20)
	_, n, err := fsys.resolve("x", "huge", false)
	if err != nil {
		t.Fatal(err)
	}
	if depth := n.levelPtr(0).addr & 0xF; depth != 2 {
		t.Errorf("H-tree depth %d, want 2", depth)
	}
	tt.verify(t, fsys)
}

// Records past the single-indirect range go through double-indirect
// BlockLists; the file is mostly sparse so the test stays small on disk.
func TestDoubleIndirect(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	first2 := int64(128 + 64*256)
	data := map[int64]bool{0: true, 127: true, 128: true, 383: true, first2 - 1: true, first2: true, first2 + 300: true}
	tt := newTestTree()
	tt.file(t, "sparse-huge", 0o644, gen{seed: 99, size: (first2+301)*recSize + 10, zero: func(r int64) bool { return !data[r] }},
		want{blocks: 1 + uint64(len(data))*32 + 2 + 2 + 1}) // lists: 2 single, 2+1 double
	_, fsys := build(t, tt.tree, 64<<20)
	tt.verify(t, fsys)
}

func TestDeterministic(t *testing.T) {
	digest := func() string {
		tt := sampleTree(t)
		f, _ := build(t, tt.tree, 32<<20)
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, 32<<20)); err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	a, b := digest(), digest()
	if a != b {
		t.Fatalf("two builds differ: %s, %s", a, b)
	}
	// Changing this digest changes the bytes of every image cook writes.
	const golden = "a0ad6d3cefb5989847ea58fac31949a164b9f25866b8a363a7e3b01639ba046f"
	if a != golden {
		t.Errorf("image digest %s, want %s", a, golden)
	}
}

func TestBuildAtOffset(t *testing.T) {
	tt := sampleTree(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Garbage where the filesystem goes must not matter.
	junk := bytes.Repeat([]byte("junk"), 1<<20)
	f.WriteAt(junk, 0)
	const off = 2 << 20
	if _, err := Build(context.Background(), f, tt.tree, Options{Offset: off, Size: 32<<20 + 100, Time: epoch}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := f.Stat(); fi.Size() != off+32<<20 {
		t.Errorf("file size %d, want %d", fi.Size(), off+32<<20)
	}
	fsys, err := Open(f, off)
	if err != nil {
		t.Fatal(err)
	}
	tt.verify(t, fsys)
}

// An FS may be read from several goroutines at once.
func TestConcurrentReads(t *testing.T) {
	tt := sampleTree(t)
	_, fsys := build(t, tt.tree, 64<<20)
	var paths []string
	for p, w := range tt.wants {
		if w.body != nil {
			paths = append(paths, p)
		}
	}
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := range paths {
				p := paths[(i+g*3)%len(paths)]
				b, err := fs.ReadFile(fsys, p)
				if err != nil {
					errs <- err
					return
				}
				sum := sha256.Sum256(b)
				if hex.EncodeToString(sum[:]) != tt.wants[p].body.sum() {
					errs <- fmt.Errorf("%s: contents differ", p)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
