package redoxfs

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sharedDir returns $COOK_SHARED or skips the test.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("COOK_SHARED")
	if dir == "" {
		t.Skip("COOK_SHARED is not set (e.g. COOK_SHARED=/work/shared)")
	}
	return dir
}

// openReference decompresses ref-v8.img.gz into a temporary file.
func openReference(t testing.TB) *os.File {
	t.Helper()
	src, err := os.Open(filepath.Join(sharedDir(t), "testdata/redoxfs/ref-v8.img.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	zr, err := gzip.NewReader(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "ref-v8.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := io.Copy(f, zr); err != nil {
		t.Fatal(err)
	}
	return f
}

type manifestEntry struct {
	path, typ string
	perm      uint16
	size      int64
	target    string
	sha       string
}

func readManifest(t testing.TB) []manifestEntry {
	t.Helper()
	f, err := os.Open(filepath.Join(sharedDir(t), "testdata/redoxfs/ref-v8.manifest"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []manifestEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) < 4 {
			t.Fatalf("manifest line %q: want at least 4 fields", line)
		}
		perm, err := strconv.ParseUint(fields[2], 8, 16)
		if err != nil {
			t.Fatalf("manifest line %q: %v", line, err)
		}
		e := manifestEntry{path: fields[0], typ: fields[1], perm: uint16(perm)}
		switch e.typ {
		case "file":
			if e.size, err = strconv.ParseInt(fields[3], 10, 64); err != nil || len(fields) < 5 {
				t.Fatalf("manifest line %q: bad size or missing sha256", line)
			}
			e.sha = fields[4]
		case "symlink":
			e.target = fields[3]
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReferenceImage(t *testing.T) {
	img := openReference(t)
	manifest := readManifest(t)
	fsys, err := Open(img, 0)
	if err != nil {
		t.Fatal(err)
	}
	if info := fsys.Info(); info.Generation == 0 || info.Size != 16<<20 {
		t.Errorf("Info() = %+v, want a non-zero generation and size 16 MiB", info)
	}
	if err := fsys.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}

	want := map[string]bool{}
	for _, e := range manifest {
		want[e.path] = true
		t.Run(e.path, func(t *testing.T) {
			name := strings.TrimPrefix(e.path, "/")
			fi, err := fsys.Lstat(name)
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*Stat)
			if st.Mode&modePerm != e.perm {
				t.Errorf("perm = %#o, want %#o", st.Mode&modePerm, e.perm)
			}
			if st.UID != 0 || st.GID != 0 {
				t.Errorf("owner = %d:%d, want 0:0", st.UID, st.GID)
			}
			switch e.typ {
			case "dir":
				if !fi.IsDir() {
					t.Errorf("mode %v, want a directory", fi.Mode())
				}
			case "symlink":
				if fi.Mode().Type() != fs.ModeSymlink {
					t.Fatalf("mode %v, want a symlink", fi.Mode())
				}
				target, err := fsys.ReadLink(name)
				if err != nil || target != e.target {
					t.Errorf("ReadLink = %q, %v; want %q", target, err, e.target)
				}
			case "file":
				if !fi.Mode().IsRegular() || fi.Size() != e.size {
					t.Fatalf("mode %v size %d, want a regular file of %d bytes", fi.Mode(), fi.Size(), e.size)
				}
				f, err := fsys.Open(name)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				h := sha256.New()
				if n, err := io.Copy(h, f); err != nil || n != e.size {
					t.Fatalf("read %d bytes, %v; want %d", n, err, e.size)
				}
				if got := hex.EncodeToString(h.Sum(nil)); got != e.sha {
					t.Errorf("sha256 = %s, want %s", got, e.sha)
				}
			default:
				t.Fatalf("unknown manifest type %q", e.typ)
			}
		})
	}

	// Nothing in the image beyond the manifest.
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && !want["/"+p] {
			t.Errorf("%s is in the image but not in the manifest", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWriterMatchesReference builds the reference tree with Build and
// compares every node's metadata with what the upstream library wrote:
// type, mode, links, size, blocks, record level and inline flag. File
// contents differ (only their digests are known), so files get generated
// non-zero bodies of the same size, except the all-zero sparse file.
// Directories stored as H-trees may use a different number of DirLists
// (upstream splits lists as entries arrive; Build packs them), so their
// size and blocks are not compared.
func TestWriterMatchesReference(t *testing.T) {
	ref, err := Open(openReference(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	tree := NewTree()
	for i, e := range readManifest(t) {
		entry := Entry{Path: e.path, Mode: fs.FileMode(e.perm & 0o777)}
		if e.perm&0o4000 != 0 {
			entry.Mode |= fs.ModeSetuid
		}
		switch e.typ {
		case "dir":
			entry.Mode |= fs.ModeDir
		case "symlink":
			entry.Mode |= fs.ModeSymlink
			entry.Target = e.target
		case "file":
			g := gen{seed: uint64(i) + 1, size: e.size}
			if e.sha == "30e14955ebf1352266dc2ff8067e68104607e750abb9d3b36582b8af909fcb58" { // 1 MiB of zeros
				g.zero = func(int64) bool { return true }
			}
			entry.Open = g.open
		}
		if err := tree.Add(entry); err != nil {
			t.Fatal(err)
		}
	}
	_, ours := build(t, tree, 16<<20)
	err = fs.WalkDir(ref, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		_, rn, err := ref.resolve("x", p, false)
		if err != nil {
			return err
		}
		_, on, err := ours.resolve("x", p, false)
		if err != nil {
			return err
		}
		type meta struct {
			mode               uint16
			links              uint32
			size, blocks       uint64
			recordLevel, flags uint32
			depth              uint64
		}
		get := func(n *node) meta {
			m := meta{n.mode, n.links, n.size, n.blocks, n.recordLevel, n.flags, 0}
			if n.mode&modeType == modeDir && n.levelPtr(0).isMarker() {
				m.depth = n.levelPtr(0).addr & 0xF
				if m.depth > 0 {
					m.size, m.blocks = 0, 0
				}
			}
			return m
		}
		if r, o := get(rn), get(on); r != o {
			t.Errorf("%s: upstream %+v, ours %+v", p, r, o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
