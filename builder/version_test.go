package builder

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/redox-cook/cook/cookbook"
)

func TestGuessVersionFromCargoToml(t *testing.T) {
	r := &cookbook.Recipe{Build: cookbook.Build{Template: cookbook.TemplateCargo}, Source: &cookbook.Source{}}
	for _, tc := range []struct{ manifest, want string }{
		{"[package]\nname = \"a\"\nversion = \"1.2.3\"\n", "1.2.3"},
		{"[workspace.package]\nversion = \"0.4.0\"\n", "0.4.0"},
		{"[package]\nversion.workspace = true\n", "TODO"},
		{"not toml", "TODO"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "Cargo.toml"), []byte(tc.manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := GuessVersion(r, dir); got != tc.want {
			t.Errorf("%q: GuessVersion = %q, want %q", tc.manifest, got, tc.want)
		}
	}
	if got := GuessVersion(r, t.TempDir()); got != "TODO" {
		t.Errorf("no Cargo.toml: GuessVersion = %q, want TODO", got)
	}
}

// The source tree is a stranger's: a Cargo.toml that is a FIFO must not
// hang the packaging, nor one that is a device or huge sparse file be read
// into memory. The version is then unknown ("TODO"), as for a manifest
// that does not parse.
func TestGuessVersionHostileCargoToml(t *testing.T) {
	r := &cookbook.Recipe{Build: cookbook.Build{Template: cookbook.TemplateCargo}, Source: &cookbook.Source{}}
	guess := func(t *testing.T, dir string) string {
		t.Helper()
		done := make(chan string, 1)
		go func() { done <- GuessVersion(r, dir) }()
		select {
		case v := <-done:
			return v
		case <-time.After(5 * time.Second):
			t.Fatal("GuessVersion is still reading Cargo.toml after 5s")
			return ""
		}
	}
	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		if err := syscall.Mkfifo(filepath.Join(dir, "Cargo.toml"), 0o644); err != nil {
			t.Fatal(err)
		}
		if v := guess(t, dir); v != "TODO" {
			t.Errorf("GuessVersion = %q, want TODO", v)
		}
	})
	t.Run("device", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Symlink("/dev/zero", filepath.Join(dir, "Cargo.toml")); err != nil {
			t.Fatal(err)
		}
		if v := guess(t, dir); v != "TODO" {
			t.Errorf("GuessVersion = %q, want TODO", v)
		}
	})
	t.Run("sparse", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "Cargo.toml")
		if err := os.WriteFile(p, []byte("[package]\nversion = \"1.0.0\"\n#"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, 64<<20); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		v := guess(t, dir)
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
			t.Errorf("reading a 64 MiB sparse Cargo.toml allocated %d MiB", got>>20)
		}
		if v != "TODO" {
			t.Errorf("GuessVersion = %q, want TODO", v)
		}
	})
}
