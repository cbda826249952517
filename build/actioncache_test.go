package build_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redox-cook/cook/build"
	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/workdir"
)

// An entry whose blobs all hash right but whose trees do not give the
// recorded output digest is a miss, and nothing is put in place.
func TestRestoreChecksOutputDigest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes")
	}
	mem := &memServer{}
	srv := httptest.NewServer(mem)
	defer srv.Close()
	store := func(w workdir.Dir) cache.Store {
		r, _ := cache.NewRemote(srv.URL)
		return r
	}
	a := newMachine(t, machineOpt{store: store, noSandbox: true})
	wantAll(t, a.buildAll(t, "split"), build.Built)
	// forge: a consistent entry claiming another output digest
	mem.mu.Lock()
	for k, v := range mem.blobs {
		var e build.Entry
		if !strings.HasPrefix(k, "cas/") || json.Unmarshal(v, &e) != nil || e.Node != "split" {
			continue
		}
		e.Output = strings.Repeat("0", 64)
		raw, _ := json.Marshal(e)
		d := cache.DigestBytes(raw)
		mem.blobs["cas/"+d.Hash] = raw
		ar := &cache.ActionResult{Files: []cache.OutputFile{{Path: "cook/entry.json", Digest: d}}}
		mem.blobs["ac/"+e.Key.String()] = ar.Marshal()
	}
	mem.mu.Unlock()
	var w warnings
	b := newMachine(t, machineOpt{keysFrom: a.b, store: store, noSandbox: true, warn: w.add})
	wantAll(t, b.buildAll(t, "split"), build.Built)
	if ws := w.all(); len(ws) != 1 || !strings.Contains(ws[0], "the entry says") {
		t.Fatalf("warnings %q", ws)
	}
	// uploads skip blobs the server has: B's identical build uploaded only
	// its entry and action result... and any blob that differs
	if mem.heads.Load() == 0 {
		t.Fatal("no presence checks before uploads")
	}
}
