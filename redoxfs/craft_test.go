package redoxfs

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/internal/golden"
)

// patcher changes structures of a built image in place, as an attacker
// would, and then fixes every hash from the changed block up to the
// header, so that the damage passes the reader's hash checks.
type patcher struct {
	t    testing.TB
	img  []byte
	fsys *FS
}

func newPatcher(t testing.TB, img []byte) *patcher {
	t.Helper()
	fsys, err := Open(bytes.NewReader(img), 0)
	if err != nil {
		t.Fatal(err)
	}
	return &patcher{t: t, img: img, fsys: fsys}
}

func (p *patcher) block(ptr blockPtr) []byte {
	at := int(ptr.index()) * BlockSize
	return p.img[at : at+ptr.size()]
}

// rehash returns ptr with the hash of the bytes now at its address.
func (p *patcher) rehash(ptr blockPtr) blockPtr {
	ptr.hash = seaHash(p.block(ptr))
	return ptr
}

// resolve returns the node id of name, looking each element up without
// the reader's checks of the nodes on the way (no symlinks, no "..").
func (p *patcher) resolve(name string) nodeID {
	p.t.Helper()
	id := rootID
	for _, elem := range strings.Split(name, "/") {
		next, ok, err := p.fsys.lookup(id, p.node(id), elem)
		if err != nil || !ok {
			p.t.Fatalf("%s: %s: not found (%v)", name, elem, err)
		}
		id = next
	}
	return id
}

// node returns a copy of node id's decoded block.
func (p *patcher) node(id nodeID) *node {
	p.t.Helper()
	ptr, err := p.fsys.nodePtr(id)
	if err != nil {
		p.t.Fatal(err)
	}
	return unmarshalNode(p.block(ptr))
}

// setNode writes n as node id and fixes the tree lists and the header.
func (p *patcher) setNode(id nodeID, n *node) {
	p.t.Helper()
	ptr, err := p.fsys.nodePtr(id)
	if err != nil {
		p.t.Fatal(err)
	}
	n.marshal(p.block(ptr))
	newPtr := p.rehash(ptr)
	// The tree lists from the root down to the node.
	lists := []blockPtr{p.fsys.hdr.tree}
	idx := id.indexes()
	for d := range 3 {
		lists = append(lists, getPtr(p.block(lists[d])[idx[d]*16:]))
	}
	for d := 3; d >= 0; d-- {
		putPtr(p.block(lists[d])[idx[d]*16:], newPtr)
		newPtr = p.rehash(lists[d])
	}
	h := *p.fsys.hdr
	h.tree = newPtr
	h.generation++
	h.marshal(p.img[p.fsys.slot*BlockSize:])
	fsys, err := Open(bytes.NewReader(p.img), 0)
	if err != nil {
		p.t.Fatal(err)
	}
	p.fsys = fsys
}

// setDirIDs points the entries of directory dir named in ids at other
// nodes, fixing the H-tree, the node and everything above.
func (p *patcher) setDirIDs(dir nodeID, ids map[string]nodeID) {
	p.t.Helper()
	n := p.node(dir)
	done := 0
	patchList := func(list blockPtr) blockPtr {
		b := p.block(list)
		count := int(binary.LittleEndian.Uint16(b[dirListDataLen:]))
		off := 0
		for range count {
			l := int(b[off+4])
			if id, ok := ids[string(b[off+5:off+5+l])]; ok {
				binary.LittleEndian.PutUint32(b[off:], uint32(id))
				done++
			}
			off += 5 + l
		}
		return p.rehash(list)
	}
	root := n.levelPtr(1)
	switch d := n.levelPtr(0).addr & 0xF; d {
	case 0:
		root = patchList(root)
	case 1:
		hb := p.block(root)
		for i := range htreeEntries {
			e := hb[i*20 : i*20+20]
			if binary.LittleEndian.Uint32(e) == htreeEmptyHash {
				break
			}
			putPtr(e[4:], patchList(getPtr(e[4:])))
		}
		root = p.rehash(root)
	default:
		p.t.Fatalf("directory node %d has an H-tree of depth %d", dir, d)
	}
	if done != len(ids) {
		p.t.Fatalf("directory node %d: %d of %d names found", dir, done, len(ids))
	}
	n.setLevelPtr(1, root)
	p.setNode(dir, n)
}

func buildImage(t testing.TB, tree *Tree, size int64) []byte {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "img")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Build(context.Background(), f, tree, Options{Size: size, UUID: [16]byte{0xc0, 0x0c}, Time: epoch}); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dagLevels and dagFanout shape the DAG image: dagLevels directories, each
// with dagFanout entries that all name the next one, so that a walk that
// follows every entry meets dagFanout^dagLevels paths.
const (
	dagLevels = 8
	dagFanout = 10
)

// craftDAG returns a filesystem whose directories share their children:
// /dag/0 … /dag/9 are one directory, whose entries 0 … 9 are one
// directory, and so on dagLevels deep — 10^8 paths from a handful of
// nodes, every hash valid.
func craftDAG(t testing.TB) []byte {
	tree := NewTree()
	dir := "dag"
	var dirs []string
	for range dagLevels {
		dirs = append(dirs, dir)
		for i := range dagFanout {
			p := fmt.Sprintf("%s/%d", dir, i)
			mode := fs.FileMode(0o644)
			if i == 0 {
				mode = fs.ModeDir | 0o755
			}
			if err := tree.Add(Entry{Path: p, Mode: mode}); err != nil {
				t.Fatal(err)
			}
		}
		dir += "/0"
	}
	p := newPatcher(t, buildImage(t, tree, 2<<20))
	for _, d := range dirs {
		target := p.resolve(d + "/0")
		ids := map[string]nodeID{}
		for i := 1; i < dagFanout; i++ {
			ids[fmt.Sprint(i)] = target
		}
		p.setDirIDs(p.resolve(d), ids)
	}
	return p.img
}

// craftSize returns a filesystem whose file /big says it is size bytes
// long; its data is one 128 KiB record of 'x' and then holes.
func craftSize(t testing.TB, size uint64) []byte {
	tree := NewTree()
	tree.Add(Entry{Path: "etc/hostname", Mode: 0o644, Open: BytesOpener([]byte("redox\n"))})
	tree.Add(Entry{Path: "big", Mode: 0o644, Open: BytesOpener(bytes.Repeat([]byte("x"), InlineMax+1))})
	p := newPatcher(t, buildImage(t, tree, 2<<20))
	id := p.resolve("big")
	n := p.node(id)
	n.size = size
	p.setNode(id, n)
	return p.img
}

// Sizes of the crafted files.
const (
	craftedSparse = 1 << 50 // 1 PiB, almost all holes
	craftedHuge   = 1<<64 - 1
)

// crafted lists the hostile images kept in testdata/crafted for the tests
// of this package and of the cook command.
var crafted = map[string]func(testing.TB) []byte{
	"dag.img.gz":         craftDAG,
	"sparse-1pib.img.gz": func(t testing.TB) []byte { return craftSize(t, craftedSparse) },
	"size-max.img.gz":    func(t testing.TB) []byte { return craftSize(t, craftedHuge) },
}

// loadCrafted returns a crafted image from testdata/crafted (made afresh
// with -update).
func loadCrafted(t testing.TB, name string) []byte {
	t.Helper()
	path := filepath.Join("testdata", "crafted", name)
	if golden.Update() {
		img := crafted[name](t)
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(img)
		zw.Close()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return img
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run go test ./redoxfs -run TestCrafted -update)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	img, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestCraftedImages checks that the crafted images are what their names
// say: every block hash valid, and the damage in place.
func TestCraftedImages(t *testing.T) {
	t.Run("dag", func(t *testing.T) {
		img := loadCrafted(t, "dag.img.gz")
		fsys, err := Open(bytes.NewReader(img), 0)
		if err != nil {
			t.Fatal(err)
		}
		dir := "dag"
		for range dagLevels {
			ents, err := fsys.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != dagFanout {
				t.Fatalf("%s has %d entries", dir, len(ents))
			}
			ino := ents[0].(*fileInfo).st.Inode
			for _, e := range ents {
				if !e.IsDir() || e.(*fileInfo).st.Inode != ino {
					t.Fatalf("%s/%s is not the shared directory node %d", dir, e.Name(), ino)
				}
			}
			dir += "/" + ents[dagFanout-1].Name()
		}
	})
	for name, size := range map[string]uint64{"sparse-1pib.img.gz": craftedSparse, "size-max.img.gz": craftedHuge} {
		t.Run(strings.TrimSuffix(name, ".img.gz"), func(t *testing.T) {
			img := loadCrafted(t, name)
			fsys, err := Open(bytes.NewReader(img), 0)
			if err != nil {
				t.Fatal(err)
			}
			p := &patcher{t: t, img: img, fsys: fsys}
			if n := p.node(p.resolve("big")); n.size != size {
				t.Fatalf("/big is %d bytes, want %d", n.size, size)
			}
			if b, err := fs.ReadFile(fsys, "etc/hostname"); err != nil || string(b) != "redox\n" {
				t.Fatalf("etc/hostname: %q %v", b, err)
			}
		})
	}
}
