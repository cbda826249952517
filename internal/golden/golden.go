// Package golden compares what a test produced with a file kept in the test's testdata/, rewriting the file when the tests run with -update.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// Update reports whether this run rewrites golden files (go test -update).
func Update() bool { return *update }

// Check compares got with the file at path (relative to the package under
// test, like testdata/x.golden) and reports a difference as a diff; with
// -update it writes got there instead, creating directories.
func Check[T string | []byte](t testing.TB, path string, got T) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs from what the test produced (-want +got; go test -update rewrites it after review):\n%s", path, d)
	}
}
