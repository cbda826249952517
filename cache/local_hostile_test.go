package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redox-cook/cook/internal/fsutil"
)

// within runs f, failing the test when it has not returned after 5s.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: still reading after 5s", what)
	}
}

// The local store is a directory another process may write to: an entry
// that is a FIFO must not hang a lookup or a verify, and a huge (sparse)
// action entry must not be read whole by verify. Such entries are damaged.
func TestLocalHostileEntries(t *testing.T) {
	ctx := context.Background()
	plant := func(t *testing.T, l *Local, kind Kind, hash string, make func(p string) error) string {
		t.Helper()
		p := l.path(kind, hash)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := make(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := func(p string) error { return syscall.Mkfifo(p, 0o644) }
	key := NewActionKey([]byte("fifo"))
	blob := DigestBytes([]byte("blob"))

	t.Run("get", func(t *testing.T) {
		l := NewLocal(t.TempDir())
		c := New(l)
		plant(t, l, AC, key.String(), fifo)
		plant(t, l, CAS, blob.Hash, fifo)
		within(t, "Action", func() {
			if _, err := c.Action(ctx, key); !errors.Is(err, fsutil.ErrNotRegular) {
				t.Errorf("Action = %v, want ErrNotRegular", err)
			}
		})
		within(t, "Blob", func() {
			err := c.Blob(ctx, blob, func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err })
			if !errors.Is(err, fsutil.ErrNotRegular) {
				t.Errorf("Blob = %v, want ErrNotRegular", err)
			}
		})
	})
	t.Run("verify", func(t *testing.T) {
		l := NewLocal(t.TempDir())
		good := NewActionKey([]byte("good"))
		ar := (&ActionResult{Files: []OutputFile{{Path: "x", Digest: DigestBytes(nil)}}}).Marshal()
		if err := l.Put(ctx, CAS, DigestBytes(nil).Hash, 0, bytes.NewReader(nil)); err != nil {
			t.Fatal(err)
		}
		if err := l.Put(ctx, AC, good.String(), int64(len(ar)), bytes.NewReader(ar)); err != nil {
			t.Fatal(err)
		}
		plant(t, l, AC, key.String(), fifo)
		plant(t, l, CAS, blob.Hash, fifo)
		huge := NewActionKey([]byte("huge"))
		plant(t, l, AC, huge.String(), func(p string) error {
			if err := os.WriteFile(p, ar, 0o644); err != nil {
				return err
			}
			return os.Truncate(p, 1<<30) // a GiB of zeros: decodes as empty fields
		})
		var probs []Problem
		var err error
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		within(t, "Verify", func() { probs, err = l.Verify(ctx, true) })
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
			t.Errorf("Verify allocated %d MiB", got>>20)
		}
		want := map[string]string{key.String(): "not a regular file", blob.Hash: "not a regular file", huge.String(): "larger than"}
		for _, p := range probs {
			if w, ok := want[p.Hash]; ok && strings.Contains(p.What, w) {
				delete(want, p.Hash)
			} else {
				t.Errorf("unexpected problem %+v", p)
			}
		}
		for h, w := range want {
			t.Errorf("%s: no problem saying %q", h, w)
		}
		for _, p := range []string{l.path(AC, key.String()), l.path(CAS, blob.Hash), l.path(AC, huge.String())} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("--fix kept %s", p)
			}
		}
		if ok, _ := l.Has(ctx, AC, good.String()); !ok {
			t.Error("--fix removed a good entry")
		}
	})
}
