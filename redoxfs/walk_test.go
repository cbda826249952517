package redoxfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func TestWalk(t *testing.T) {
	tt := sampleTree(t)
	_, fsys := build(t, tt.tree, 32<<20)
	var got []string
	leaves := 0
	err := fsys.Walk(context.Background(), ".", func(e EntryInfo) error {
		got = append(got, e.Path)
		if e.Depth != strings.Count(e.Path, "/")+1 && e.Path != "." {
			t.Errorf("%s: depth %d", e.Path, e.Depth)
		}
		if e.Dir {
			ents, err := fsys.ReadDir(e.Path)
			if err != nil || len(ents) != e.Children {
				t.Errorf("%s: %d children, ReadDir has %d (%v)", e.Path, e.Children, len(ents), err)
			}
		}
		if e.Info.Mode()&fs.ModeSymlink != 0 && e.Target != tt.wants[e.Path].target {
			t.Errorf("%s: target %q, want %q", e.Path, e.Target, tt.wants[e.Path].target)
		}
		return nil
	}, func(e EntryInfo) error { leaves++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	// Every path of the sample tree, depth first in name order, as
	// fs.WalkDir visits them.
	var want []string
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		want = append(want, p)
		return err
	})
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Walk visits\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if dirs := countDirs(tt); leaves != dirs {
		t.Errorf("leave called %d times for %d directories", leaves, dirs)
	}
}

func countDirs(tt *testTree) int {
	n := 0
	for _, w := range tt.wants {
		if w.mode.IsDir() {
			n++
		}
	}
	return n
}

// TestWalkDAG walks the crafted filesystem whose directories share their
// children (10^8 paths from a few nodes): the walk stops at the first
// node reached twice, having streamed what it met before.
func TestWalkDAG(t *testing.T) {
	fsys, err := Open(bytes.NewReader(loadCrafted(t, "dag.img.gz")), 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = fsys.Walk(context.Background(), ".", func(EntryInfo) error { n++; return nil }, nil)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "reached twice (first as /dag/0/0/0/0/0/0/0/0)") {
		t.Fatalf("Walk = %v, want ErrCorrupt for a node reached twice", err)
	}
	if n != dagLevels+2 {
		t.Errorf("%d entries before the error, want %d", n, dagLevels+2)
	}
	// Check refuses it too; ls of one directory is fine.
	if err := fsys.Check(context.Background()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Check = %v, want ErrCorrupt", err)
	}
	if ents, err := fsys.List("dag"); err != nil || len(ents) != dagFanout {
		t.Errorf("List = %d entries, %v", len(ents), err)
	}
}

// TestHugeSize opens a file whose node says it is 2^64-1 bytes long: more
// than its block pointers can address, so the node is corrupt.
func TestHugeSize(t *testing.T) {
	fsys, err := Open(bytes.NewReader(loadCrafted(t, "size-max.img.gz")), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []func() error{
		func() error { _, err := fsys.Open("big"); return err },
		func() error { _, err := fsys.Stat("big"); return err },
		func() error { _, err := fsys.List("."); return err },
	} {
		if err := op(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "size 18446744073709551615 is over the 4539061041627136 bytes") {
			t.Errorf("got %v, want ErrCorrupt naming the size", err)
		}
	}
	if b, err := fs.ReadFile(fsys, "etc/hostname"); err != nil || string(b) != "redox\n" {
		t.Errorf("etc/hostname: %q %v", b, err)
	}
}

// TestReadCancel reads a 1 PiB sparse file (all holes after 128 KiB)
// until the context is cancelled: the read stops at once.
func TestReadCancel(t *testing.T) {
	fsys, err := Open(bytes.NewReader(loadCrafted(t, "sparse-1pib.img.gz")), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f, err := fsys.WithContext(ctx).Open("big")
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := f.Stat(); fi.Size() != craftedSparse {
		t.Fatalf("size %d", fi.Size())
	}
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, f); done <- err }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read = %v, want context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Fatal("read still running a second after cancel")
	}
}

// TestWalkCancel cancels a walk whose consumer is slow.
func TestWalkCancel(t *testing.T) {
	tree := NewTree()
	for i := range 2000 {
		tree.Add(Entry{Path: fmt.Sprintf("d%d/f%d", i%20, i), Mode: 0o644})
	}
	_, fsys := build(t, tree, 16<<20)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	n := 0
	err := fsys.Walk(ctx, ".", func(EntryInfo) error { n++; time.Sleep(time.Millisecond); return nil }, nil)
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second || n > 1000 {
		t.Errorf("Walk = %v after %v and %d entries, want context.Canceled within a second", err, time.Since(start), n)
	}
	// A cancelled context stops Check too.
	if err := fsys.Check(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Check = %v", err)
	}
}

// TestListingDotNames: names that start with a dot keep it in the paths
// listings show ("/.profile", not "/profile").
func TestListingDotNames(t *testing.T) {
	tree := NewTree()
	tree.Add(Entry{Path: ".profile", Mode: 0o644, Open: BytesOpener([]byte("x"))})
	tree.Add(Entry{Path: ".config/app", Mode: 0o644})
	_, fsys := build(t, tree, 8<<20)
	list, err := fsys.List(".")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range list {
		paths = append(paths, NewListEntry(e).Path)
	}
	root, err := fsys.EntryInfo(".")
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, NewListEntry(root).Path)
	if got := strings.Join(paths, " "); got != "/.config /.profile /" {
		t.Errorf("listed paths %s", got)
	}
	var b bytes.Buffer
	if err := fsys.Walk(context.Background(), ".config", TextTree(&b), nil); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "/.config\n└── app\n" {
		t.Errorf("tree:\n%s", got)
	}
}

// TestListingEscapesNames: names in an image are a stranger's bytes; the
// text tree and ls lines escape their control characters (a name could
// otherwise clear the screen or retitle the terminal).
func TestListingEscapesNames(t *testing.T) {
	tree := NewTree()
	tree.Add(Entry{Path: "d/\x1b[2Jclear", Mode: 0o644})
	tree.Add(Entry{Path: "d/link", Mode: fs.ModeSymlink | 0o777, Target: "\x1b]0;pwned\a"})
	_, fsys := build(t, tree, 8<<20)
	var b bytes.Buffer
	if err := fsys.Walk(context.Background(), "d", TextTree(&b), nil); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "/d\n├── \\x1b[2Jclear\n└── link -> \\x1b]0;pwned\\a\n"; got != want {
		t.Errorf("tree:\n%q\nwant\n%q", got, want)
	}
	list, err := fsys.List("d")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if line := NewListEntry(e).Line(e.Info.Name()); strings.ContainsAny(line, "\x1b\a") {
			t.Errorf("ls line %q holds a control character", line)
		}
	}
}
