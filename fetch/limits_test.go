package fetch

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redox-cook/cook/workdir"
)

// bombTarGz is a small .tar.gz that unpacks to files of zeros, size bytes
// each: a decompression bomb.
func bombTarGz(t testing.TB, files int, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	zeros := make([]byte, 1<<20)
	for i := range files {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("b/zero%d", i), Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		for left := size; left > 0; {
			n := min(left, int64(len(zeros)))
			tw.Write(zeros[:n])
			left -= n
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// TestExtractLimit unpacks archives bigger than the limit: extraction
// stops with an error naming the recipe, the URL and the limit, and the
// previous source is kept.
func TestExtractLimit(t *testing.T) {
	up := newUpstream(t)
	const u = "https://example.org/bomb.tar.gz"
	bomb := bombTarGz(t, 3, 4<<20) // 12 MiB from a few KiB
	up.addBody(u, bomb)
	tree := testTree(t, map[string]string{"bomb": tarRecipe(u, b3hex(bomb))})
	dl, err := NewDownloader(WithCacheDir(t.TempDir()), WithMirrors(up.mirrors(u)), WithLogger(testLogger(t)), WithMaxSourceSize(10<<20))
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(tree, workdir.New(t.TempDir()), dl)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Fetch(context.Background(), "bomb")
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Fetch = %v, want ErrTooLarge", err)
	}
	for _, want := range []string{"fetch bomb", u, "10 MiB"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if isDir(f.Source("bomb")) {
		t.Error("a partial source tree was left in place")
	}
	assertNoTmp(t, f)

	// Within the limit it unpacks.
	dl2, _ := NewDownloader(WithCacheDir(dl.Dir()), WithLogger(testLogger(t)), WithMaxSourceSize(13<<20))
	g, _ := New(tree, f.work, dl2)
	if _, err := g.Fetch(context.Background(), "bomb"); err != nil {
		t.Fatal(err)
	}
	// The default limit is generous.
	if DefaultMaxSourceSize != 16<<30 {
		t.Errorf("DefaultMaxSourceSize = %d", DefaultMaxSourceSize)
	}
}

// TestExtractLimitCountsEntries charges each entry, so that millions of
// empty files hit the limit too.
func TestExtractLimitCountsEntries(t *testing.T) {
	bomb := bombTarGz(t, 300, 0)
	file := filepath.Join(t.TempDir(), "empty.tar.gz")
	os.WriteFile(file, bomb, 0o644)
	err := Extract(context.Background(), file, filepath.Join(t.TempDir(), "x"), WithExtractLimit(100*512))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Extract = %v, want ErrTooLarge", err)
	}
	if err := Extract(context.Background(), file, filepath.Join(t.TempDir(), "y"), WithExtractLimit(300*512)); err != nil {
		t.Fatal(err)
	}
}

// TestExtractCraftedZipSize: a zip entry whose ZIP64 size does not fit an
// int64 (a negative size as the entry reports it) is a damaged archive, an
// error, not a panic making a buffer of that size.
func TestExtractCraftedZipSize(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "t/f", Method: zip.Store, UncompressedSize64: math.MaxUint64, CompressedSize64: 1})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x"))
	zw.Close()
	file := filepath.Join(t.TempDir(), "neg.zip")
	os.WriteFile(file, buf.Bytes(), 0o644)
	err = Extract(context.Background(), file, filepath.Join(t.TempDir(), "x"))
	if err == nil || !strings.Contains(err.Error(), "t/f") || !strings.Contains(err.Error(), "size") {
		t.Fatalf("Extract = %v, want an error naming the entry and its size", err)
	}
}

// TestDownloadLimit downloads more than the limit, with and without a
// Content-Length: the download stops, naming the URL and the limit, and
// is not retried.
func TestDownloadLimit(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/sized" {
			w.Header().Set("Content-Length", fmt.Sprint(3<<20))
		}
		chunk := make([]byte, 64<<10)
		for range 48 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	for _, p := range []string{"sized", "chunked"} {
		t.Run(p, func(t *testing.T) {
			hits.Store(0)
			dl, err := NewDownloader(WithCacheDir(t.TempDir()), WithMirrors(map[string]string{"https://example.org": srv.URL}),
				WithRetries(2, time.Millisecond), WithLogger(testLogger(t)), WithMaxSourceSize(1<<20))
			if err != nil {
				t.Fatal(err)
			}
			u := "https://example.org/" + p
			_, err = dl.Get(context.Background(), u, "")
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), u) || !strings.Contains(err.Error(), "1 MiB") {
				t.Fatalf("Get = %v, want ErrTooLarge naming the URL and the limit", err)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("%d requests, want 1 (no retry)", n)
			}
			entries, _ := os.ReadDir(filepath.Join(dl.Dir(), "tmp"))
			if len(entries) != 0 {
				t.Errorf("temporary files left: %v", entries)
			}
		})
	}
}

// countingTransport counts round trips and can fail them.
type countingTransport struct {
	n    atomic.Int64
	fail error
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	if c.fail != nil {
		return nil, c.fail
	}
	return c.next.RoundTrip(r)
}

// TestPermanentFailuresNotRetried: DNS failures, redirect loops and
// unsupported URL schemes fail at once; a server error is still retried.
func TestPermanentFailuresNotRetried(t *testing.T) {
	loop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/again", http.StatusFound)
	}))
	defer loop.Close()
	toFTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://example.org/x.tar.gz", http.StatusFound)
	}))
	defer toFTP.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer broken.Close()
	dnsErr := &net.DNSError{Err: "no such host", Name: "nowhere.example", IsNotFound: true}
	tests := []struct {
		name  string
		url   string
		fail  error
		want  string
		tries int64
	}{
		{"dns", "https://nowhere.example/x.tar.gz", &net.OpError{Op: "dial", Net: "tcp", Err: dnsErr}, "no such host", 1},
		{"redirect loop", loop.URL + "/x.tar.gz", nil, "redirects", 10},
		{"unsupported scheme", "ftp://example.org/x.tar.gz", nil, `unsupported URL scheme "ftp"`, 0},
		{"redirect to an unsupported scheme", toFTP.URL + "/x.tar.gz", nil, `unsupported URL scheme "ftp"`, 1},
		{"server error", broken.URL + "/x.tar.gz", nil, "HTTP 502", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &countingTransport{fail: tt.fail, next: http.DefaultTransport}
			dl, err := NewDownloader(WithCacheDir(t.TempDir()), WithHTTPClient(&http.Client{Transport: tr}),
				WithRetries(2, time.Millisecond), WithLogger(testLogger(t)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = dl.Get(context.Background(), tt.url, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Get = %v, want an error saying %q", err, tt.want)
			}
			if n := tr.n.Load(); n != tt.tries {
				t.Errorf("%d round trips, want %d", n, tt.tries)
			}
		})
	}
}

// TestTruncatedWithoutLength: a chunked response whose connection closes
// before the last chunk is reported as truncated.
func TestTruncatedWithoutLength(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	dl, err := NewDownloader(WithCacheDir(t.TempDir()), WithMirrors(map[string]string{"https://example.org": srv.URL}),
		WithRetries(0, 0), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = dl.Get(context.Background(), "https://example.org/cut.tar.gz", "")
	if err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "1000 bytes") {
		t.Fatalf("Get = %v, want a truncation after 1000 bytes", err)
	}
}

// TestOfflineDamagedBlob: offline, a damaged cached download is reported
// as damaged, not as missing from the cache.
func TestOfflineDamagedBlob(t *testing.T) {
	up := newUpstream(t)
	body := makeTarGz(t, tarEntry{name: "s/f", body: "fine"})
	const u = "https://example.org/d.tar.gz"
	up.addBody(u, body)
	f := newTestFetcher(t, testTree(t, map[string]string{"d": tarRecipe(u, b3hex(body))}), "", up.mirrors(u))
	if _, err := f.Fetch(context.Background(), "d"); err != nil {
		t.Fatal(err)
	}
	blob, _ := f.dl.Lookup(u, b3hex(body))
	os.Chmod(blob.Path, 0o644)
	os.WriteFile(blob.Path, []byte("rot"), 0o444)
	if err := f.Unfetch("d"); err != nil {
		t.Fatal(err)
	}
	off, _ := NewDownloader(WithCacheDir(f.dl.Dir()), WithOffline(true), WithLogger(testLogger(t)))
	g, _ := New(f.tree, f.work, off)
	_, err := g.Fetch(context.Background(), "d")
	if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "--offline") || strings.Contains(err.Error(), "not in the download cache") {
		t.Fatalf("Fetch = %v, want an error saying the cached download is damaged", err)
	}
}

// TestFileURLNotRegular: a file:// URL (a recipe's own, or a mirror's)
// naming a FIFO or a device is an error at once: a FIFO would block the
// fetch past Ctrl-C, /dev/zero fill the cache up to the size limit.
func TestFileURLNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.tar.gz")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	dl, err := NewDownloader(WithCacheDir(t.TempDir()), WithRetries(0, 0), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero"} {
		done := make(chan error, 1)
		go func() { _, err := dl.Get(context.Background(), "file://"+p, ""); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: Get = %v, want an error saying it is not a regular file", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Get did not return", p)
		}
	}
}

// TestFileURLCancel: copying a large file:// source stops when ctx ends
// (Ctrl-C), like an HTTP download, and keeps nothing.
func TestFileURLCancel(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.tar")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(big, 8<<30) // sparse: free on disk, seconds to copy and hash
	cacheDir := t.TempDir()
	dl, err := NewDownloader(WithCacheDir(cacheDir), WithRetries(0, 0), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = dl.Get(ctx, "file://"+big, "")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("Get = %v after %v, want the deadline within a second or so", err, time.Since(start))
	}
}
