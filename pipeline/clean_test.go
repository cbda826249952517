package pipeline

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/workdir"
)

// TestCleanStopsWhenCancelled: cook clean stops at the next recipe once
// ctx ends (Ctrl-C), instead of removing every recipe's tree regardless.
func TestCleanStopsWhenCancelled(t *testing.T) {
	w := workdir.New(t.TempDir())
	const target = "x86_64-unknown-redox"
	var nodes []cookbook.Node
	for _, name := range []string{"a", "b"} {
		if err := os.MkdirAll(w.Target(name, target), 0o755); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, cookbook.Node{Name: name})
	}
	p := New(Config{Work: w, Target: target})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	removed, err := p.Clean(ctx, nodes)
	if !errors.Is(err, context.Canceled) || removed != 0 {
		t.Errorf("Clean after cancel = %d, %v; want 0, context.Canceled", removed, err)
	}
	for _, n := range nodes {
		if _, err := os.Stat(w.Target(n.Name, target)); err != nil {
			t.Errorf("%s removed after the cancel: %v", n.Name, err)
		}
	}
	if removed, err := p.Clean(t.Context(), nodes); err != nil || removed != 2 {
		t.Errorf("Clean = %d, %v; want 2 paths removed", removed, err)
	}
}
