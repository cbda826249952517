package builder

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/triple"
	"github.com/redox-cook/cook/workdir"
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

// The state files under <work>/state may be planted (or damaged) by
// another process: a FIFO must not hang cook, nor a huge sparse file be
// read into memory. A state file that cannot be read is ignored (its
// recipes are rebuilt), and recorded inputs that cannot be read are an
// error of their own.
func TestHostileStateFiles(t *testing.T) {
	const tt = triple.Triple("x86_64-unknown-redox")
	n := cookbook.Node{Name: "hello"}
	newBuilder := func(t *testing.T) (*Builder, string) {
		w := workdir.New(t.TempDir())
		if err := os.MkdirAll(filepath.Join(w.State(), string(tt)), 0o755); err != nil {
			t.Fatal(err)
		}
		return &Builder{Work: w, Target: tt}, filepath.Join(w.State(), string(tt)+".json")
	}
	t.Run("fifo state file", func(t *testing.T) {
		b, p := newBuilder(t)
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		within(t, "Record", func() {
			if rec, err := b.Record(n); rec != nil || err != nil {
				t.Errorf("Record = %v, %v; want no record", rec, err)
			}
		})
	})
	t.Run("sparse state file", func(t *testing.T) {
		b, p := newBuilder(t)
		if err := os.WriteFile(p, []byte(`{"hello": {"node": "hello"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, maxStateFile+1); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rec, err := b.Record(n)
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
			t.Errorf("reading a %d MiB sparse state file allocated %d MiB", maxStateFile>>20, got>>20)
		}
		if rec != nil || err != nil {
			t.Errorf("Record = %v, %v; want no record", rec, err)
		}
	})
	rec := func(b *Builder) *Record { return &Record{Node: "hello", inputs: b.inputsPath(n)} }
	t.Run("fifo inputs", func(t *testing.T) {
		b, _ := newBuilder(t)
		if err := syscall.Mkfifo(b.inputsPath(n), 0o644); err != nil {
			t.Fatal(err)
		}
		within(t, "ReadInputs", func() {
			if _, err := rec(b).ReadInputs(); !errors.Is(err, fsutil.ErrNotRegular) {
				t.Errorf("ReadInputs = %v, want ErrNotRegular", err)
			}
		})
	})
	t.Run("sparse inputs", func(t *testing.T) {
		b, _ := newBuilder(t)
		p := b.inputsPath(n)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, maxInputsFile+1); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := rec(b).ReadInputs()
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
			t.Errorf("reading a %d MiB sparse inputs file allocated %d MiB", maxInputsFile>>20, got>>20)
		}
		if !errors.Is(err, fsutil.ErrTooLarge) {
			t.Errorf("ReadInputs = %v, want ErrTooLarge", err)
		}
	})
}
