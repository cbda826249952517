package cache

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/redox-cook/cook/build"
	"github.com/redox-cook/cook/workdir"
)

func TestActionResultRoundTrip(t *testing.T) {
	d1 := DigestBytes([]byte("one"))
	d2 := DigestBytes([]byte(""))
	ar := &actionResult{Files: []outputFile{{Path: entryPath, Digest: d1}, {Path: "stage.pkgar", Digest: d2, Executable: true}}, Stdout: &d1}
	got, err := decodeActionResult(ar.encode())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ar, got, cmp.AllowUnexported(actionResult{})); diff != "" {
		t.Fatal(diff)
	}
	for _, bad := range [][]byte{{0x12}, {0x12, 0x05, 0x0a}, {0x12, 0x02, 0x0a, 0x00, 0x12, 0x01}} {
		if _, err := decodeActionResult(bad); err == nil {
			t.Errorf("decoded %x", bad)
		}
	}
}

func TestTreeRoundTrip(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "usr/bin"), 0o755)
	os.MkdirAll(filepath.Join(src, "ro"), 0o755)
	os.WriteFile(filepath.Join(src, "usr/bin/tool"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(src, "ro/file"), []byte("x"), 0o444)
	os.Chmod(filepath.Join(src, "ro"), 0o555)
	defer os.Chmod(filepath.Join(src, "ro"), 0o755)
	os.Symlink("bin/tool", filepath.Join(src, "usr/link"))
	os.Symlink("/nonexistent/abs", filepath.Join(src, "dangling"))
	var buf bytes.Buffer
	if err := writeTree(context.Background(), &buf, src); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	writeTree(context.Background(), &again, src)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("the same tree gave different archives")
	}
	dst := filepath.Join(t.TempDir(), "out")
	os.Mkdir(dst, 0o700)
	if err := readTree(bytes.NewReader(buf.Bytes()), dst); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(filepath.Join(dst, "ro"), 0o755)
	ctx := context.Background()
	want, _ := build.TreeDigest(ctx, src)
	got, _ := build.TreeDigest(ctx, dst)
	if want != got {
		t.Fatal("restored tree differs")
	}
	st, _ := os.Stat(filepath.Join(dst, "usr/bin/tool"))
	st0, _ := os.Stat(filepath.Join(src, "usr/bin/tool"))
	if !st.ModTime().Equal(st0.ModTime()) {
		t.Errorf("mtime %v, want %v", st.ModTime(), st0.ModTime())
	}
}

func TestTreeRefusesEscapes(t *testing.T) {
	for name, entries := range map[string][]tar.Header{
		"dotdot":  {{Name: "../evil", Typeflag: tar.TypeReg}},
		"abs":     {{Name: "/etc/evil", Typeflag: tar.TypeReg}},
		"symlink": {{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/tmp"}, {Name: "l/evil", Typeflag: tar.TypeReg}},
		"device":  {{Name: "dev", Typeflag: tar.TypeChar}},
		"dup":     {{Name: "a", Typeflag: tar.TypeReg}, {Name: "a", Typeflag: tar.TypeReg}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			h.Mode = 0o644
			tw.WriteHeader(&h)
		}
		tw.Close()
		dst := t.TempDir()
		if err := readTree(&buf, dst); err == nil {
			t.Errorf("%s: extracted", name)
		}
	}
}

func TestLocalStore(t *testing.T) {
	ctx := context.Background()
	l := NewLocal(t.TempDir())
	blob := []byte("content")
	d := DigestBytes(blob)
	if _, _, err := l.Get(ctx, CAS, d.Hash); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty store: %v", err)
	}
	if err := l.Put(ctx, CAS, DigestBytes([]byte("other")).Hash, d.Size, bytes.NewReader(blob)); err == nil {
		t.Fatal("a blob under the wrong hash was stored")
	}
	if err := l.Put(ctx, CAS, d.Hash, d.Size, bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	ar := (&actionResult{Files: []outputFile{{Path: entryPath, Digest: d}}}).encode()
	key := DigestBytes([]byte("key")).Hash
	if err := l.Put(ctx, AC, key, int64(len(ar)), bytes.NewReader(ar)); err != nil {
		t.Fatal(err)
	}
	rc, _, err := l.Get(ctx, CAS, d.Hash)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "content" {
		t.Fatalf("got %q", got)
	}
	s, _ := l.Stats()
	if s.ActionEntries != 1 || s.Blobs != 1 || s.BlobBytes != 7 {
		t.Fatalf("stats %+v", s)
	}
	if probs, err := l.Verify(ctx, false); err != nil || len(probs) != 0 {
		t.Fatalf("verify: %v %v", probs, err)
	}
	// damage the blob: verify finds it, and with fix drops it and the entry naming it
	os.WriteFile(l.path(CAS, d.Hash), []byte("damaged"), 0o644)
	probs, err := l.Verify(ctx, true)
	if err != nil || len(probs) != 2 {
		t.Fatalf("verify damaged: %v %v", probs, err)
	}
	if s, _ := l.Stats(); s.ActionEntries+s.Blobs != 0 {
		t.Fatalf("after fix: %+v", s)
	}
	// trim keeps the most recently used
	for _, b := range []string{"a", "b", "c"} {
		d := DigestBytes([]byte(b))
		l.Put(ctx, CAS, d.Hash, d.Size, strings.NewReader(b))
	}
	n, freed, err := l.Trim(1)
	if err != nil || n != 2 || freed != 2 {
		t.Fatalf("trim: %d %d %v", n, freed, err)
	}
}

// Credentials: the token is sent, user:pass in the URL becomes basic auth,
// and neither shows in the store's name.
func TestRemoteAuth(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		http.NotFound(w, r)
	}))
	defer srv.Close()
	ctx := context.Background()
	h := DigestBytes(nil).Hash
	r, _ := NewRemote(srv.URL, WithToken("tok"))
	r.Has(ctx, CAS, h)
	r, _ = NewRemote(strings.Replace(srv.URL, "http://", "http://u:p@", 1))
	r.Has(ctx, CAS, h)
	if strings.Contains(r.String(), "p@") {
		t.Fatalf("credentials in %s", r)
	}
	if diff := cmp.Diff([]string{"Bearer tok", "Basic dTpw"}, got); diff != "" {
		t.Fatal(diff)
	}
}

// An entry whose blobs all hash right but whose trees do not give the
// recorded output digest is a miss, and nothing is put in place.
func TestRestoreChecksOutputDigest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds recipes")
	}
	mem := &memServer{}
	srv := httptest.NewServer(mem)
	defer srv.Close()
	store := func(w workdir.Dir) Store {
		r, _ := NewRemote(srv.URL)
		return r
	}
	a := newMachine(t, machineOpt{store: store, noSandbox: true})
	wantAll(t, a.buildAll(t, "split"), build.Built)
	// forge: a consistent entry claiming another output digest
	mem.mu.Lock()
	for k, v := range mem.blobs {
		var e Entry
		if !strings.HasPrefix(k, "cas/") || json.Unmarshal(v, &e) != nil || e.Node != "split" {
			continue
		}
		e.Output = strings.Repeat("0", 64)
		raw, _ := json.Marshal(e)
		d := DigestBytes(raw)
		mem.blobs["cas/"+d.Hash] = raw
		ar := &actionResult{Files: []outputFile{{Path: entryPath, Digest: d}}}
		mem.blobs["ac/"+e.Key] = ar.encode()
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

func TestRemoveAllReadOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	os.MkdirAll(filepath.Join(dir, "ro/sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "ro/sub/f"), nil, 0o444)
	os.Chmod(filepath.Join(dir, "ro/sub"), 0o555)
	os.Chmod(filepath.Join(dir, "ro"), 0o555)
	if err := removeAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Fatalf("still there: %v", err)
	}
}

// A download that keeps moving may take longer than the timeout; one that
// stalls is abandoned.
func TestRemoteWatchdog(t *testing.T) {
	blob := bytes.Repeat([]byte("x"), 10)
	d := DigestBytes(blob)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(200)
		for i := 0; i < 10; i++ {
			if strings.HasSuffix(r.URL.Path, d.Hash) || i < 3 { // the other blob stalls after 3 bytes
				w.Write(blob[i : i+1])
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
				continue
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Second):
			}
		}
	}))
	defer srv.Close()
	r, err := NewRemote(srv.URL, WithTimeout(300*time.Millisecond), WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rc, _, err := r.Get(ctx, CAS, d.Hash)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("steady download: %q %v", got, err)
	}
	rc, _, err = r.Get(ctx, CAS, DigestBytes([]byte("other")).Hash)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, errStalled) || time.Since(start) > 2*time.Second {
		t.Fatalf("stalled download: %v after %v", err, time.Since(start))
	}
}
