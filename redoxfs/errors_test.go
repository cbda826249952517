package redoxfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
)

func TestAddErrors(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
		want string
	}{
		{"colon", Entry{Path: "etc/a:b"}, "contains ':'"},
		{"too long", Entry{Path: "x/" + strings.Repeat("n", MaxNameLen+1)}, "253 bytes, over the limit of 252"},
		{"empty element", Entry{Path: "a//b"}, "invalid name"},
		{"dot dot", Entry{Path: "a/../b"}, "invalid name"},
		{"not utf-8", Entry{Path: "bad\xff"}, "not UTF-8"},
		{"device", Entry{Path: "dev/null", Mode: fs.ModeDevice | 0o666}, "unsupported file type"},
		{"file root", Entry{Path: "/"}, "root must be a directory"},
		{"dot file root", Entry{Path: "./."}, "root must be a directory"},
		{"under a file", Entry{Path: "f/x"}, "f is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := NewTree()
			if err := tree.Add(Entry{Path: "f"}); err != nil {
				t.Fatal(err)
			}
			err := tree.Add(tt.e)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Add(%q) = %v, want an error containing %q", tt.e.Path, err, tt.want)
			}
			if strings.Contains(tt.want, "name") || strings.Contains(tt.want, "limit") || strings.Contains(tt.want, "contains") || strings.Contains(tt.want, "UTF") {
				if !errors.Is(err, ErrName) {
					t.Errorf("error %v is not ErrName", err)
				}
			}
		})
	}
}

func TestBuildNoSpace(t *testing.T) {
	tree := NewTree()
	tree.Add(Entry{Path: "small"})
	tree.Add(Entry{Path: "boot/kernel", Open: gen{seed: 1, size: 4 << 20}.open})
	f, err := os.Create(t.TempDir() + "/fs.img")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Build(context.Background(), f, tree, Options{Size: 4 << 20})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "/boot/kernel") {
		t.Fatalf("Build = %v, want ErrNoSpace naming /boot/kernel", err)
	}
	_, err = Build(context.Background(), f, tree, Options{Size: 100 << 10})
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Build of 100 KiB = %v, want ErrNoSpace", err)
	}
}

func TestBuildCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, err := os.Create(t.TempDir() + "/fs.img")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Build(ctx, f, sampleTree(t).tree, Options{Size: 32 << 20}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Build = %v, want context.Canceled", err)
	}
}

// damage builds the sample tree, lets change spoil the image, and reopens it.
func damage(t *testing.T, change func(f *os.File, fsys *FS)) (*FS, error) {
	t.Helper()
	f, fsys := build(t, sampleTree(t).tree, 32<<20)
	change(f, fsys)
	return Open(f, 0)
}

func flip(t *testing.T, f *os.File, at int64) {
	t.Helper()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptHeader(t *testing.T) {
	_, err := damage(t, func(f *os.File, _ *FS) { flip(t, f, 100) })
	if !errors.Is(err, ErrNoFilesystem) || !strings.Contains(err.Error(), "header hash") {
		t.Fatalf("Open = %v, want ErrNoFilesystem with a header hash mismatch", err)
	}
	_, err = damage(t, func(f *os.File, _ *FS) { f.WriteAt([]byte("NotRedox"), 0) })
	if !errors.Is(err, ErrNoFilesystem) || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("Open = %v, want ErrNoFilesystem with a bad signature", err)
	}
}

func TestWrongHash(t *testing.T) {
	var rec blockPtr
	fsys, err := damage(t, func(f *os.File, fsys *FS) {
		_, n, err := fsys.resolve("x", "files/kernel", false)
		if err != nil {
			t.Fatal(err)
		}
		rec = n.levelPtr(1)
		flip(t, f, int64(rec.index())*BlockSize+77)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = fs.ReadFile(fsys, "files/kernel")
	if !errors.Is(err, ErrHash) || !strings.Contains(err.Error(), "record 1") {
		t.Fatalf("ReadFile = %v, want ErrHash naming record 1", err)
	}
	if err := fsys.Check(context.Background()); !errors.Is(err, ErrHash) || !strings.Contains(err.Error(), "/files/kernel") {
		t.Fatalf("Check = %v, want ErrHash naming /files/kernel", err)
	}
	// Other files still read.
	if _, err := fs.ReadFile(fsys, "usr/bin/tool10k"); err != nil {
		t.Error(err)
	}
}

func TestTruncated(t *testing.T) {
	var img *os.File
	_, err := damage(t, func(f *os.File, _ *FS) {
		img = f
		f.Truncate(headerRing*BlockSize + 64<<10)
	})
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "image ends at byte 1114112") {
		t.Fatalf("Open = %v, want ErrTruncated saying where the image ends", err)
	}
	// A reader that cannot tell its size finds out block by block.
	fsys, err := Open(struct{ io.ReaderAt }{img}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.Check(context.Background()); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "reading block") {
		t.Fatalf("Check = %v, want ErrTruncated naming the block", err)
	}
	_, err = damage(t, func(f *os.File, _ *FS) { f.Truncate(1000) })
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("Open of a 1000-byte image = %v, want ErrTruncated", err)
	}
}

func TestNotRedoxFS(t *testing.T) {
	_, err := Open(io.NewSectionReader(zeroReader{}, 0, 4<<20), 0)
	if !errors.Is(err, ErrNoFilesystem) {
		t.Fatalf("Open of zeros = %v, want ErrNoFilesystem", err)
	}
}

type zeroReader struct{}

func (zeroReader) ReadAt(p []byte, _ int64) (int, error) { clear(p); return len(p), nil }

func TestCheckSharedBlock(t *testing.T) {
	f, fsys := build(t, sampleTree(t).tree, 32<<20)
	_, kernel, err := fsys.resolve("x", "files/kernel", false)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := fsys.resolve("x", "files/record", false)
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := fsys.nodeAt(id)
	if err != nil {
		t.Fatal(err)
	}
	// Point files/record at the first record of files/kernel.
	b := make([]byte, 16)
	putPtr(b, kernel.levelPtr(0))
	if _, err := f.WriteAt(b, int64(p.index())*BlockSize+nodeDataOffset); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Check(context.Background()); !errors.Is(err, ErrHash) {
		t.Fatalf("Check = %v, want ErrHash for the changed node", err)
	}
	fsys.skipHash = true
	err = fsys.Check(context.Background())
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "used twice") {
		t.Fatalf("Check = %v, want ErrCorrupt for a block used twice", err)
	}
}
