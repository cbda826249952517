package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/redox-cook/cook/internal/fsutil"
)

// loadWithin runs load, failing the test when it has not returned after 5s.
func loadWithin(t *testing.T, load func() (*Config, error)) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := load(); done <- err }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("still loading the config after 5s")
		return nil
	}
}

// A filesystem config comes from a cookbook's config/ directory, which may
// be a stranger's: an include must not name a FIFO (a hang), a device or a
// huge file (read into memory), and includes must not multiply: a file
// including itself twice made 2^33 loads within the depth limit.
func TestHostileConfigIncludes(t *testing.T) {
	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		top := filepath.Join(dir, "top.toml")
		os.WriteFile(top, []byte("include = [\"fifo.toml\"]\n"), 0o644)
		if err := syscall.Mkfifo(filepath.Join(dir, "fifo.toml"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := loadWithin(t, func() (*Config, error) { return LoadConfig(top) })
		if !errors.Is(err, fsutil.ErrNotRegular) || !strings.Contains(err.Error(), "fifo.toml") {
			t.Fatalf("LoadConfig = %v, want ErrNotRegular naming fifo.toml", err)
		}
	})
	t.Run("device", func(t *testing.T) {
		dir := t.TempDir()
		top := filepath.Join(dir, "top.toml")
		os.WriteFile(top, []byte("include = [\"/dev/zero\"]\n"), 0o644)
		err := loadWithin(t, func() (*Config, error) { return LoadConfig(top) })
		if !errors.Is(err, fsutil.ErrNotRegular) || !strings.Contains(err.Error(), "/dev/zero") {
			t.Fatalf("LoadConfig = %v, want ErrNotRegular naming /dev/zero", err)
		}
	})
	t.Run("sparse", func(t *testing.T) {
		dir := t.TempDir()
		top := filepath.Join(dir, "top.toml")
		os.WriteFile(top, []byte("include = [\"big.toml\"]\n"), 0o644)
		big := filepath.Join(dir, "big.toml")
		os.WriteFile(big, nil, 0o644)
		if err := os.Truncate(big, maxConfigSize+1); err != nil {
			t.Fatal(err)
		}
		err := loadWithin(t, func() (*Config, error) { return LoadConfig(top) })
		if !errors.Is(err, fsutil.ErrTooLarge) || !strings.Contains(err.Error(), "big.toml") {
			t.Fatalf("LoadConfig = %v, want ErrTooLarge naming big.toml", err)
		}
	})
	t.Run("doubling", func(t *testing.T) {
		// f0 includes f1 twice, f1 includes f2 twice, …: 2^31 loads of
		// 32 files of a few bytes, each within the depth limit
		fsys := fstest.MapFS{"f31.toml": {Data: nil}}
		for i := range 31 {
			fsys[fmt.Sprintf("f%d.toml", i)] = &fstest.MapFile{Data: fmt.Appendf(nil, "include = [\"f%d.toml\", \"f%[1]d.toml\"]\n", i+1)}
		}
		err := loadWithin(t, func() (*Config, error) { return LoadConfigFS(fsys, "f0.toml") })
		if err == nil || !strings.Contains(err.Error(), "f0.toml") {
			t.Fatalf("LoadConfigFS = %v, want an error naming f0.toml", err)
		}
	})
}
