package builder_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/pkgar"
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
	wantAll(t, a.buildAll(t, "split"), builder.Built)
	// forge: a consistent entry claiming another output digest
	mem.mu.Lock()
	for k, v := range mem.blobs {
		var e builder.Entry
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
	wantAll(t, b.buildAll(t, "split"), builder.Built)
	if ws := w.all(); len(ws) != 1 || !strings.Contains(ws[0], "the entry says") {
		t.Fatalf("warnings %q", ws)
	}
	// uploads skip blobs the server has: B's identical build uploaded only
	// its entry and action result... and any blob that differs
	if mem.heads.Load() == 0 {
		t.Fatal("no presence checks before uploads")
	}
}

// A source whose script downloaded different bytes (gnu-config's
// config.sub from a moving URL) has another identity: its action key
// changes, so neither the local state nor the shared cache hands back the
// build of the old bytes.
func TestScriptDownloadChangesActionKey(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes")
	}
	srv := httptest.NewServer(&memServer{})
	defer srv.Close()
	info := func(m *machine, blake3 string) {
		t.Helper()
		text := "source_identifier = \"tree\"\n\n[[downloads]]\nurl = \"https://example.invalid/config.sub\"\nblake3 = \"" + blake3 + "\"\n"
		if err := os.WriteFile(m.b.Work.SourceInfo("libhello"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := newMachine(t, machineOpt{noSandbox: true, store: remoteStore(t, srv.URL)})
	a.stageSources(t)
	info(a, strings.Repeat("a", 64))
	wantAll(t, a.buildAll(t, "libhello"), builder.Built)
	keyA := a.key(t, "libhello")

	b := newMachine(t, machineOpt{keysFrom: a.b, noSandbox: true, store: remoteStore(t, srv.URL)})
	b.stageSources(t)
	info(b, strings.Repeat("a", 64))
	wantAll(t, b.buildAll(t, "libhello"), builder.RemoteCached)

	c := newMachine(t, machineOpt{keysFrom: a.b, noSandbox: true, store: remoteStore(t, srv.URL)})
	c.stageSources(t)
	info(c, strings.Repeat("b", 64))
	if c.key(t, "libhello") == keyA {
		t.Fatal("a different script download left the action key unchanged")
	}
	wantAll(t, c.buildAll(t, "libhello"), builder.Built)
	// and in one work directory, the changed download makes the build stale
	info(a, strings.Repeat("b", 64))
	if ok, _, _, err := a.b.Check(context.Background(), cookbook.Node{Name: "libhello"}); err != nil || ok {
		t.Fatalf("after the download changed: up to date %v (%v)", ok, err)
	}
}

// A cache entry whose package is signed by a foreign key — everything else
// consistent: blob hashes, stage trees, output digest — is a miss, and
// the recipe is built; nothing of the forged entry is put in place.
func TestRestoreRefusesForeignPackage(t *testing.T) {
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
	wantAll(t, a.buildAll(t, "libhello"), builder.Built)
	foreign, err := pkgar.GenerateSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	stage := a.b.Work.Stage("libhello", string(a.b.Target), "")
	trojan := filepath.Join(t.TempDir(), "stage.pkgar")
	if _, err := pkgar.Create(context.Background(), trojan, stage, foreign); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(trojan)
	td := cache.DigestBytes(raw)
	mem.mu.Lock()
	mem.blobs["cas/"+td.Hash] = raw
	forged := 0
	for k, v := range mem.blobs {
		var e builder.Entry
		if !strings.HasPrefix(k, "cas/") || json.Unmarshal(v, &e) != nil || e.Node != "libhello" {
			continue
		}
		ar := &cache.ActionResult{}
		for i, f := range e.Files {
			if f.Name == "stage.pkgar" {
				e.Files[i].Digest = td
				forged++
			}
			ar.Files = append(ar.Files, cache.OutputFile{Path: f.Name, Digest: e.Files[i].Digest})
		}
		raw, _ := json.Marshal(e)
		d := cache.DigestBytes(raw)
		mem.blobs["cas/"+d.Hash] = raw
		ar.Files = append([]cache.OutputFile{{Path: "cook/entry.json", Digest: d}}, ar.Files...)
		for _, s := range e.Stages {
			ar.Files = append(ar.Files, cache.OutputFile{Path: "stage.tar", Digest: s.Tar})
		}
		mem.blobs["ac/"+e.Key.String()] = ar.Marshal()
	}
	mem.mu.Unlock()
	if forged != 1 {
		t.Fatalf("forged %d entries", forged)
	}
	var w warnings
	b := newMachine(t, machineOpt{keysFrom: a.b, store: store, noSandbox: true, warn: w.add})
	wantAll(t, b.buildAll(t, "libhello"), builder.Built)
	if ws := w.all(); len(ws) != 1 || !strings.Contains(ws[0], "package") {
		t.Fatalf("warnings %q", ws)
	}
	// what B has is its own build, signed with its key
	if err := pkgar.VerifyStage(context.Background(), b.b.Work.Pkgar("libhello", string(b.b.Target), ""),
		b.b.Work.Stage("libhello", string(b.b.Target), ""), b.b.Key.Public()); err != nil {
		t.Fatal(err)
	}
}
