package sysroot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A stage is what a (stranger's) build script wrote. One holding the
// sysroot's own tag directory must not make cook write a tag through its
// symlink (to a file outside), nor read a tag from a device or FIFO it
// links to when the sysroot is next checked.
func TestStageWithTags(t *testing.T) {
	base := t.TempDir()
	victim := filepath.Join(base, "victim")
	if err := os.WriteFile(victim, []byte("the user's file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, target string }{{"victim", victim}, {"device", "/dev/zero"}} {
		t.Run(tc.name, func(t *testing.T) {
			stage := filepath.Join(t.TempDir(), "stage")
			if err := os.MkdirAll(filepath.Join(stage, TagDir), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(tc.target, filepath.Join(stage, TagDir, "evil")); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "sysroot")
			in := []Input{{"evil", stage, "d1"}}
			done := make(chan error, 1)
			go func() {
				_, err := Assemble(context.Background(), dir, in)
				if err == nil {
					_, err = Assemble(context.Background(), dir, in) // checks the tags
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("still assembling after 5s")
			}
			if b, _ := os.ReadFile(victim); string(b) != "the user's file\n" {
				t.Fatalf("the file a stage's tag linked to now holds %q", b)
			}
			if err == nil || !strings.Contains(err.Error(), TagDir) {
				t.Fatalf("Assemble = %v, want an error naming %s", err, TagDir)
			}
		})
	}
}
