package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestActionResultRoundTrip(t *testing.T) {
	d1 := DigestBytes([]byte("one"))
	d2 := DigestBytes([]byte(""))
	ar := &ActionResult{Files: []OutputFile{{Path: "cook/entry.json", Digest: d1}, {Path: "stage.pkgar", Digest: d2, Executable: true}}, Stdout: &d1}
	got, err := UnmarshalActionResult(ar.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ar, got, cmp.AllowUnexported(ActionResult{})); diff != "" {
		t.Fatal(diff)
	}
	for _, bad := range [][]byte{{0x12}, {0x12, 0x05, 0x0a}, {0x12, 0x02, 0x0a, 0x00, 0x12, 0x01}} {
		if _, err := UnmarshalActionResult(bad); err == nil {
			t.Errorf("decoded %x", bad)
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
	ar := (&ActionResult{Files: []OutputFile{{Path: "cook/entry.json", Digest: d}}}).Marshal()
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

// Cache.Blob verifies as it streams: a damaged local copy is reported as
// ErrDamaged and dropped, so that the next read asks again.
func TestCacheBlobVerifies(t *testing.T) {
	ctx := context.Background()
	l := NewLocal(t.TempDir())
	c := New(l)
	d, err := c.PutBytes(ctx, []byte("stage bytes"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.SmallBlob(ctx, d, 100)
	if err != nil || string(got) != "stage bytes" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := c.SmallBlob(ctx, d, 3); err == nil {
		t.Error("a blob over the limit was read")
	}
	os.WriteFile(l.path(CAS, d.Hash), []byte("stage bytez"), 0o644)
	if _, err := c.SmallBlob(ctx, d, 100); !errors.Is(err, ErrDamaged) {
		t.Fatalf("damaged blob: %v", err)
	}
	if ok, _ := l.Has(ctx, CAS, d.Hash); ok {
		t.Error("the damaged blob was kept")
	}
	if _, err := c.SmallBlob(ctx, d, 100); !errors.Is(err, ErrNotFound) {
		t.Errorf("after dropping: %v", err)
	}
	// action results round-trip under typed keys
	key := NewActionKey([]byte("inputs"))
	ar := &ActionResult{Files: []OutputFile{{Path: "x", Digest: d}}}
	if err := c.SetAction(ctx, key, ar); err != nil {
		t.Fatal(err)
	}
	back, err := c.Action(ctx, key)
	if err != nil || len(back.Files) != 1 || back.Files[0].Digest != d {
		t.Fatalf("%+v %v", back, err)
	}
	text, _ := key.MarshalText()
	var k2 ActionKey
	if err := k2.UnmarshalText(text); err != nil || k2 != key {
		t.Fatalf("key text round trip: %v", err)
	}
	if _, err := ParseActionKey("../../etc"); err == nil {
		t.Error("a path parsed as a key")
	}
}

// A shared directory used as the remote names itself in messages.
func TestLocalStoreName(t *testing.T) {
	l := &Local{Dir: t.TempDir(), Name: "remote cache file:///shared"}
	err := l.Put(context.Background(), CAS, DigestBytes([]byte("x")).Hash, 1, bytes.NewReader([]byte("y")))
	if err == nil || !strings.Contains(err.Error(), "remote cache file:///shared") || strings.Contains(err.Error(), "local cache") {
		t.Errorf("error %v", err)
	}
}
