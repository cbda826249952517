package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/redox-cook/cook/internal/golden"
)

// TestReference fails when docs/reference.md no longer matches the command
// tree (run with -update to regenerate it).
func TestReference(t *testing.T) {
	var b bytes.Buffer
	writeReference(&b, newApp(&b, &b).rootCommand())
	path := filepath.Join("..", "..", "docs", "reference.md")
	if golden.Update() {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("docs/reference.md is out of date with the command tree; run: go test ./cmd/cook -run TestReference -update")
	}
}
