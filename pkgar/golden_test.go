package pkgar

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/redox-cook/cook/internal/golden"
)

// goldenTree is a fixed stage tree that exercises every path of the
// writers: empty files (also last), files around the sizes where a writer may
// change how it reads (into a buffer, or mapped), 3 MiB in all, symlinks (to files, to
// directories, dangling), nested directories whose names sort differently
// as whole paths, and several permission bits. Its contents come from a
// seeded generator, so they are the same on every machine.
func goldenTree(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "stage")
	r := rand.New(rand.NewPCG(17, 42))
	// mostly text, with runs of random bytes: LZMA2 has something to
	// compress without taking seconds over it
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			if i%4096 < 512 {
				b[i] = byte(r.UintN(256))
			} else {
				b[i] = "etaoin shrdlu\n"[r.UintN(14)]
			}
		}
		return b
	}
	var nodes []node
	perms := []os.FileMode{0o644, 0o755, 0o600, 0o444, 0o4755}
	// around the sizes writers may treat differently (pages, 32 KiB, 64 KiB,
	// 256 KiB), given as numbers: the tree must not change with the writer
	sizes := []int{0, 1, 4095, 4096, 4097, 32<<10 - 1, 32 << 10, 32<<10 + 1, 64<<10 + 1, 256<<10 - 1, 256 << 10, 256<<10 + 1, 1<<20 + 17}
	for i, size := range sizes {
		nodes = append(nodes, node{path: fmt.Sprintf("usr/lib/big/f%02d.bin", i), data: data(size), perm: perms[i%len(perms)]})
	}
	for i := range 300 {
		dir := fmt.Sprintf("usr/share/d%02d", i%23)
		if i%7 == 0 {
			dir += fmt.Sprintf("/sub%d", i%3)
		}
		nodes = append(nodes, node{path: fmt.Sprintf("%s/f%03d", dir, i), data: data(int(r.UintN(9000))), perm: perms[i%len(perms)]})
	}
	nodes = append(nodes,
		node{path: "a.txt", data: []byte("a\n")}, node{path: "a-b", data: []byte("a-b\n")},
		node{path: "a/b", data: []byte("a/b\n")}, node{path: "a/a/z"},
		node{path: "usr/lib/libx.so", target: "big/f12.bin"},
		node{path: "usr/lib/dir-link", target: "big"},
		node{path: "usr/lib/dangling", target: "../nowhere/" + strings.Repeat("x", 200)},
		node{path: "zz/last-empty"},
	)
	writeTree(t, root, nodes)
	return root
}

// TestGoldenLarge pins the exact bytes (their BLAKE3 and size) and the
// entry table of packages of goldenTree, written by Create (the parallel
// writer for uncompressed packages) and by Write to a non-file (the
// sequential one), so that no change to the writers can change a byte of
// their output. go test -update rewrites testdata/golden-large.txt.
func TestGoldenLarge(t *testing.T) {
	stage := goldenTree(t)
	dir := t.TempDir()
	ctx := context.Background()
	var b strings.Builder
	for _, p := range []Packaging{Uncompressed, LZMA2} {
		pkg := filepath.Join(dir, p.String()+".pkgar")
		info, err := Create(ctx, pkg, stage, testKey(t), WithPackaging(p))
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(pkg)
		if err != nil {
			t.Fatal(err)
		}
		var buf seekBuffer
		if _, err := Write(ctx, &buf, stage, testKey(t), WithPackaging(p)); err != nil {
			t.Fatal(err)
		}
		if string(buf.b) != string(data) {
			t.Errorf("%s: Write to a buffer and Create to a file gave different bytes", p)
		}
		table := blake3.New()
		for _, e := range info.Entries {
			fmt.Fprintf(table, "%06o %d %d %s %s\n", e.Mode, e.Offset, e.Size, e.Blake3, e.Path)
		}
		fmt.Fprintf(&b, "[%s]\nentries = %d\nsize = %d\nstorage_size = %d\nfile_blake3 = %x\nheader_blake3 = %s\nentries_blake3 = %x\n",
			p, len(info.Entries), info.Size, info.StorageSize, blake3.Sum256(data), info.Header.Blake3, table.Sum(nil))
	}
	golden.Check(t, filepath.Join("testdata", "golden-large.txt"), b.String())
}

// TestGoldenStreamed writes goldenTree with a tiny aheadLimit, so that the
// writer streams most entries itself between ones encoded ahead, and
// checks the bytes are those of Create (pinned by TestGoldenLarge).
func TestGoldenStreamed(t *testing.T) {
	stage := goldenTree(t)
	ctx := context.Background()
	for _, p := range []Packaging{Uncompressed, LZMA2} {
		want := filepath.Join(t.TempDir(), "p.pkgar")
		if _, err := Create(ctx, want, stage, testKey(t), WithPackaging(p)); err != nil {
			t.Fatal(err)
		}
		wantData, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		old := aheadLimit
		aheadLimit = 3000
		var buf seekBuffer
		_, err = Write(ctx, &buf, stage, testKey(t), WithPackaging(p))
		aheadLimit = old
		if err != nil {
			t.Fatal(err)
		}
		if string(buf.b) != string(wantData) {
			t.Errorf("%s: streaming large entries changed the package", p)
		}
	}
}

// TestWalkErrorsInOrder puts special files in several directories of a
// stage (which the walk reads concurrently) and checks that packaging
// reports the first in entry order, as a walk in order would, and leaves
// nothing behind.
func TestWalkErrorsInOrder(t *testing.T) {
	stage := t.TempDir()
	var nodes []node
	for i := range 60 {
		nodes = append(nodes, node{path: fmt.Sprintf("d%02d/e%02d/f", i%6, i), data: []byte(strings.Repeat("x", i*100))})
	}
	writeTree(t, stage, nodes)
	for _, p := range []string{"d04/e10/fifo", "d02/e20/fifo", "d02/e50/fifo"} {
		if err := unix.Mkfifo(filepath.Join(stage, p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for range 5 {
		for _, p := range []Packaging{Uncompressed, LZMA2} {
			dir := t.TempDir()
			_, err := Create(ctx, filepath.Join(dir, "p.pkgar"), stage, testKey(t), WithPackaging(p))
			if err == nil || !strings.Contains(err.Error(), filepath.Join("d02", "e20", "fifo")+": unsupported file type p") {
				t.Errorf("%s: error %v, want one about d02/e20/fifo", p, err)
			}
			if left, _ := os.ReadDir(dir); len(left) > 0 {
				t.Errorf("%s: files left: %v", p, left)
			}
		}
	}
}
