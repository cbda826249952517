package fetch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/workdir"
)

// A recipe's patches come from its tree, which may be a stranger's: a FIFO
// must not hang the fetch, a device or a huge (sparse) file must not be
// read into memory. Each is an error naming the patch, before any download.
func TestHostilePatches(t *testing.T) {
	const u = "https://example.org/never-downloaded.tar.gz"
	pin := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name, patch string
		make        func(t *testing.T, p string) // makes the patch file at p
		want        error
	}{
		{"fifo", "p.patch", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, fsutil.ErrNotRegular},
		{"sparse", "p.patch", func(t *testing.T, p string) {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, maxPatchSize+1); err != nil {
				t.Fatal(err)
			}
		}, fsutil.ErrTooLarge},
		{"device", "../../../../../../../../../../../../../../dev/zero", nil, fsutil.ErrNotRegular},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := testTree(t, map[string]string{"x": tarRecipe(u, pin, `patches = ["`+tc.patch+`"]`), "x/p.patch": ""})
			patch := filepath.Join(tree.Root, "recipes", "x", tc.patch)
			if tc.make != nil {
				os.Remove(patch)
				tc.make(t, patch)
			}
			dl, err := NewDownloader(WithCacheDir(t.TempDir()), WithOffline(true), WithLogger(testLogger(t)))
			if err != nil {
				t.Fatal(err)
			}
			f, err := New(tree, workdir.New(t.TempDir()), dl)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := f.Fetch(context.Background(), "x"); done <- err }()
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the fetch is still reading the patch after 5s")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "patch") {
				t.Fatalf("Fetch = %v, want an error naming the patch, wrapping %v", err, tc.want)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
}
