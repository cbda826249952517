package builder

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/triple"
)

// A cache entry is a remote answer: one naming a file or a stage the
// recipe does not have (a name climbing out of the target directory
// included) is a miss, and nothing of it is left anywhere; the same entry
// without them restores.
func TestRestoreRefusesForeignNames(t *testing.T) {
	ctx := context.Background()
	b := testBuilder(t, triple.Host())
	store := cache.NewLocal(t.TempDir())
	a, err := NewActionCache(store, WithWarnings(func(s string) { t.Log(s) }))
	if err != nil {
		t.Fatal(err)
	}
	c := cache.New(store)
	n := cookbook.Node{Name: "meta"} // no build: an empty main stage
	out, err := b.OutputsOf(n)
	if err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	var tarBuf bytes.Buffer
	if err := writeTree(ctx, &tarBuf, empty); err != nil {
		t.Fatal(err)
	}
	stage, err := c.PutBytes(ctx, tarBuf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	output, err := b.stagesDigest(ctx, n, func(string) string { return empty })
	if err != nil {
		t.Fatal(err)
	}
	planted, err := c.PutBytes(ctx, []byte("planted"))
	if err != nil {
		t.Fatal(err)
	}
	key := cache.NewActionKey([]byte("meta's inputs"))
	restore := func(stages []StageBlob, files []FileBlob) bool {
		t.Helper()
		e := Entry{Version: entryVersion, Node: n.String(), Target: string(b.TargetOf(n)), Key: key,
			Output: output, Stages: stages, Files: files}
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		ed, err := c.PutBytes(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetAction(ctx, key, &cache.ActionResult{Files: []cache.OutputFile{{Path: entryPath, Digest: ed}}}); err != nil {
			t.Fatal(err)
		}
		_, ok := a.restore(ctx, b, n, key)
		return ok
	}
	main := []StageBlob{{Package: "", Tar: stage}}
	for name, e := range map[string]struct {
		stages []StageBlob
		files  []FileBlob
	}{
		"file outside the target directory": {main, []FileBlob{{Name: "../../planted", Mode: 0o644, Digest: planted}}},
		"file the recipe has not":           {main, []FileBlob{{Name: "planted", Mode: 0o644, Digest: planted}}},
		"stage the recipe has not":          {[]StageBlob{{Package: "dev", Tar: stage}}, nil},
	} {
		if restore(e.stages, e.files) {
			t.Errorf("%s: restored", name)
		}
	}
	for _, p := range []string{filepath.Join(out.Dir, "../../planted"), filepath.Join(out.Dir, "planted"), out.Stage("dev")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}
	if !restore(main, nil) {
		t.Fatal("the entry without foreign names was not restored")
	}
}
