package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/sync/singleflight"

	"github.com/redox-cook/cook/internal/fsutil"
)

// Downloader fetches URLs into a content-addressed cache shared by every
// recipe and work directory:
//
//	<cache>/blobs/<b3[:2]>/<b3>       file contents, named by their BLAKE3
//	<cache>/urls/<sha256(url)[:2]>/…  "<b3> <url>" — the last content seen for a URL
//
// The same URL requested by two recipes at once is downloaded once. Mirror
// rules pick where a URL is fetched from; the cache is keyed by the URL as
// the recipe spells it, so mirrored and direct fetches share entries.
type Downloader struct {
	dir     string
	client  *http.Client
	mirrors Mirrors
	offline bool
	retries int
	backoff time.Duration
	stall   time.Duration
	maxSize int64 // per source, see WithMaxSourceSize
	log     *slog.Logger
	group   singleflight.Group
	// progress, when set, is told about the bytes of each network download.
}

// ProgressCounter receives a download's size once known and its bytes as they arrive.
type ProgressCounter interface {
	SetTotal(n int64)
	Add(n int)
	Done()
}

// DownloaderOption configures a Downloader.
type DownloaderOption func(*Downloader) error

// WithCacheDir sets the cache directory (default: <user cache dir>/cook/downloads).
func WithCacheDir(dir string) DownloaderOption {
	return func(d *Downloader) error {
		abs, err := filepath.Abs(dir)
		d.dir = abs
		return err
	}
}

// WithHTTPClient sets the HTTP client (default: one with connect and header timeouts).
func WithHTTPClient(c *http.Client) DownloaderOption {
	return func(d *Downloader) error { d.client = c; return nil }
}

// WithMirrors sets the mirror rules (prefix → replacement). An empty map
// means upstream's default rule (DefaultMirrors).
func WithMirrors(m map[string]string) DownloaderOption {
	return func(d *Downloader) error {
		if len(m) == 0 {
			m = DefaultMirrors
		}
		d.mirrors = NewMirrors(m)
		return nil
	}
}

// WithOffline forbids the network: only cached content is served.
func WithOffline(offline bool) DownloaderOption {
	return func(d *Downloader) error { d.offline = offline; return nil }
}

// WithRetries sets how many times a transient failure is retried and the
// first backoff delay, which doubles on each retry (default 3, 500ms).
func WithRetries(n int, backoff time.Duration) DownloaderOption {
	return func(d *Downloader) error { d.retries, d.backoff = n, backoff; return nil }
}

// WithStallTimeout fails a download that receives no data for d (default
// 60s); it is retried like other transient failures.
func WithStallTimeout(d time.Duration) DownloaderOption {
	return func(dl *Downloader) error { dl.stall = d; return nil }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) DownloaderOption {
	return func(d *Downloader) error { d.log = l; return nil }
}

// Logger is where the downloader, and the fetcher and shims using it, log.
func (d *Downloader) Logger() *slog.Logger { return d.log }

// DefaultCacheDir is <user cache dir>/cook/downloads, or COOK_CACHE when set.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("COOK_CACHE"); d != "" {
		return filepath.Join(d, "downloads"), nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no download cache directory: %w (set COOK_CACHE)", err)
	}
	return filepath.Join(c, "cook", "downloads"), nil
}

// NewDownloader returns a Downloader.
func NewDownloader(opts ...DownloaderOption) (*Downloader, error) {
	d := &Downloader{
		retries: 3,
		backoff: 500 * time.Millisecond,
		stall:   60 * time.Second,
		maxSize: DefaultMaxSourceSize,
		log:     slog.Default(),
		mirrors: NewMirrors(DefaultMirrors),
	}
	for _, o := range opts {
		if err := o(d); err != nil {
			return nil, err
		}
	}
	if d.dir == "" {
		dir, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		d.dir = dir
	}
	if d.client == nil {
		d.client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
		}}
	}
	// A copy, so that the caller's client is not changed: redirect loops
	// and redirects to schemes cook cannot fetch fail with errors that
	// are not retried.
	c := *d.client
	c.CheckRedirect = checkRedirect(c.CheckRedirect)
	d.client = &c
	for _, sub := range []string{"blobs", "urls", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("download cache: %w", err)
		}
	}
	return d, nil
}

// Dir is the cache directory.
func (d *Downloader) Dir() string { return d.dir }

// Offline reports whether the network is forbidden.
func (d *Downloader) Offline() bool { return d.offline }

// Mirror returns the URL that rawURL is fetched from.
func (d *Downloader) Mirror(rawURL string) string { u, _ := d.mirrors.Translate(rawURL); return u }

// Blob is a file in the download cache.
type Blob struct {
	Path   string // the cached file; read it, never write it
	Blake3 string // hex
	Size   int64
	Cached bool // served from the cache without a network request
}

// ErrOffline is wrapped by errors for downloads refused because the network is off.
var ErrOffline = errors.New("offline")

// HashMismatchError reports a download whose BLAKE3 is not the pinned one.
type HashMismatchError struct {
	URL, Expected, Actual string
}

func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("BLAKE3 mismatch for %s: expected %s, got %s", e.URL, e.Expected, e.Actual)
}

// HTTPStatusError is a download that got a non-success HTTP status.
type HTTPStatusError struct {
	URL        string
	StatusCode int
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d %s: %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode), explainStatus(e.StatusCode))
}

func explainStatus(code int) string {
	switch {
	case code == 404 || code == 410:
		return "the file is not on the server (moved or removed upstream?); check the URL or add a mirror rule"
	case code == 401 || code == 403:
		return "the server refuses access; the file may need credentials or be blocked for this client"
	case code == 429:
		return "the server is rate-limiting requests; try again later or use a mirror"
	case code >= 500:
		return "the server failed; this is usually temporary"
	case code >= 300 && code < 400:
		return "a redirect without a usable Location"
	}
	return "unexpected response"
}

func transientStatus(code int) bool {
	return code == 408 || code == 425 || code == 429 || code >= 500
}

func (d *Downloader) blobPath(b3 string) string {
	return filepath.Join(d.dir, "blobs", b3[:2], b3)
}

// isHash reports whether s is a BLAKE3 as the cache names blobs: 64
// lower-case hex digits.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (d *Downloader) urlPath(rawURL string) string {
	s := sha256.Sum256([]byte(rawURL))
	h := hex.EncodeToString(s[:])
	return filepath.Join(d.dir, "urls", h[:2], h)
}

// Lookup returns the cached blob for rawURL: the one with BLAKE3 want when
// want is set, else the last content downloaded for rawURL.
func (d *Downloader) Lookup(rawURL, want string) (*Blob, bool) {
	b3 := strings.ToLower(want)
	if b3 == "" {
		data, err := os.ReadFile(d.urlPath(rawURL))
		if err != nil {
			return nil, false
		}
		b3, _, _ = strings.Cut(strings.TrimSpace(string(data)), " ")
	}
	if !isHash(b3) { // a crafted pin or record must not name a path outside blobs/
		return nil, false
	}
	st, err := os.Stat(d.blobPath(b3))
	if err != nil || !st.Mode().IsRegular() {
		return nil, false
	}
	return &Blob{Path: d.blobPath(b3), Blake3: b3, Size: st.Size(), Cached: true}, true
}

// Get returns rawURL's content from the cache, downloading it (through the
// mirror rules) when it is not there. With want set, the content must have
// that BLAKE3: a download that does not is a *HashMismatchError and is not
// cached. Concurrent calls for the same URL share one download.
func (d *Downloader) Get(ctx context.Context, rawURL, want string) (*Blob, error) {
	if b, ok := d.Lookup(rawURL, want); ok {
		return b, nil
	}
	v, err, _ := d.group.Do(rawURL+"\x00"+want, func() (any, error) {
		if b, ok := d.Lookup(rawURL, want); ok {
			return b, nil
		}
		return d.download(ctx, rawURL, want)
	})
	if err != nil {
		return nil, err
	}
	return v.(*Blob), nil
}

// Refresh downloads rawURL again even when a copy is cached (for unpinned
// URLs whose content may have changed).
func (d *Downloader) Refresh(ctx context.Context, rawURL string) (*Blob, error) {
	v, err, _ := d.group.Do(rawURL+"\x00refresh", func() (any, error) { return d.download(ctx, rawURL, "") })
	if err != nil {
		return nil, err
	}
	return v.(*Blob), nil
}

func (d *Downloader) download(ctx context.Context, rawURL, want string) (*Blob, error) {
	from := d.Mirror(rawURL)
	if d.offline {
		return nil, fmt.Errorf("%s is not in the download cache, and the network is off (--offline): %w", rawURL, ErrOffline)
	}
	u, err := url.Parse(from)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %w", from, err)
	}
	if u.Scheme != "file" {
		if err := checkScheme(u.Scheme); err != nil {
			return nil, fmt.Errorf("download %s: %w", from, err)
		}
	}
	var lastErr error
	delay := d.backoff
	for attempt := 0; attempt <= d.retries; attempt++ {
		if attempt > 0 {
			d.log.Warn("retrying download", "url", from, "attempt", attempt+1, "after", delay, "error", lastErr)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(delay):
			}
			delay *= 2
		}
		b, retry, err := d.once(ctx, rawURL, from, want)
		if err == nil {
			return b, nil
		}
		lastErr = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// once makes one download attempt; retry says whether a failure is
// transient. The request goes out first: the cache's temporary file is
// made only once there is something to write to it.
func (d *Downloader) once(ctx context.Context, rawURL, from, want string) (b *Blob, retry bool, err error) {
	via := ""
	if from != rawURL {
		via = " (via mirror " + from + ")"
	}
	start := time.Now()
	fail := func(retry bool, err error) (*Blob, bool, error) {
		return nil, retry, fmt.Errorf("download %s%s: %w", rawURL, via, err)
	}
	var r receipt
	if strings.HasPrefix(from, "file://") {
		r, err = d.receiveFile(ctx, from)
		if err != nil {
			return fail(false, err)
		}
	} else {
		var retry bool
		if r, retry, err = d.receiveHTTP(ctx, from); err != nil {
			return fail(retry, err)
		}
	}
	defer r.tmp.Close()
	defer os.Remove(r.tmp.Name())
	if want != "" && !strings.EqualFold(r.sum, want) {
		return nil, false, &HashMismatchError{URL: rawURL + via, Expected: strings.ToLower(want), Actual: r.sum}
	}
	if err := d.store(r, rawURL); err != nil {
		return nil, false, err
	}
	d.log.Info("downloaded", "url", rawURL, "from", from, "bytes", r.n, "blake3", r.sum, "took", time.Since(start).Round(time.Millisecond))
	return &Blob{Path: d.blobPath(r.sum), Blake3: r.sum, Size: r.n}, false, nil
}

// receipt is a download received into the cache's temporary directory.
type receipt struct {
	tmp *os.File
	sum string // hex BLAKE3
	n   int64
}

// receive copies body into a new temporary file of the cache, hashing it.
func (d *Downloader) receive(body io.Reader, also ...io.Writer) (r receipt, err error) {
	r.tmp, err = os.CreateTemp(filepath.Join(d.dir, "tmp"), "dl-*")
	if err != nil {
		return r, fmt.Errorf("download cache: %w", err)
	}
	h := blake3.New()
	r.n, err = io.Copy(io.MultiWriter(append([]io.Writer{r.tmp, h}, also...)...), body)
	r.sum = hex.EncodeToString(h.Sum(nil))
	if err != nil {
		r.tmp.Close()
		os.Remove(r.tmp.Name())
	}
	return r, err
}

// receiveFile copies a file:// URL's file, until ctx ends.
func (d *Downloader) receiveFile(ctx context.Context, from string) (receipt, error) {
	u, err := url.Parse(from)
	if err != nil {
		return receipt{}, err
	}
	// A regular file only: a FIFO would block, a device never end.
	f, err := fsutil.OpenRegular(u.Path)
	if err != nil {
		return receipt{}, err
	}
	defer f.Close()
	return d.receive(&capReader{r: fsutil.ContextReader(ctx, f), left: d.maxSize, limit: d.maxSize, what: "is"})
}

// receiveHTTP gets from over HTTP, with a watchdog that cancels the
// request when no data arrives for d.stall; retry says whether a failure
// is transient.
func (d *Downloader) receiveHTTP(ctx context.Context, from string) (r receipt, retry bool, err error) {
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stalled := fmt.Errorf("stalled: no data for %s", d.stall)
	watchdog := time.AfterFunc(d.stall, func() { cancel(stalled) })
	defer watchdog.Stop()
	ctx = rctx
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, from, nil)
	if err != nil {
		return r, false, err
	}
	req.Header.Set("User-Agent", "cook (Redox OS build system)")
	resp, err := d.client.Do(req)
	if err != nil && context.Cause(ctx) == stalled {
		return r, true, fmt.Errorf("%w before the response", stalled)
	}
	if err != nil {
		return r, ctx.Err() == nil && transient(err), err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r, transientStatus(resp.StatusCode), &HTTPStatusError{URL: from, StatusCode: resp.StatusCode}
	}
	total := resp.ContentLength
	if total > d.maxSize {
		return r, false, tooLarge(fmt.Sprintf("is %d bytes (Content-Length),", total), d.maxSize)
	}
	also := []io.Writer{kick{watchdog, d.stall}}
	if pc, _ := ctx.Value(progressKey{}).(ProgressCounter); pc != nil {
		pc.SetTotal(total)
		also = append(also, progressWriter{pc})
	}
	r, err = d.receive(&capReader{r: resp.Body, left: d.maxSize, limit: d.maxSize, what: "sends"}, also...)
	if err != nil && r.tmp == nil { // no temporary file
		return r, false, err
	}
	n := r.n
	switch {
	case err != nil && context.Cause(ctx) == stalled:
		return r, true, fmt.Errorf("%w after %d bytes", stalled, n)
	case errors.Is(err, io.ErrUnexpectedEOF) && total >= 0:
		return r, ctx.Err() == nil, fmt.Errorf("truncated: got %d of %d bytes", n, total)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return r, ctx.Err() == nil, fmt.Errorf("truncated: the connection closed after %d bytes, before the end of the response (no Content-Length)", n)
	case err != nil:
		return r, ctx.Err() == nil && transient(err), err
	case total >= 0 && n != total:
		r.tmp.Close()
		os.Remove(r.tmp.Name())
		return r, true, fmt.Errorf("truncated: got %d of %d bytes", n, total)
	}
	return r, false, nil
}

// store moves a verified download into the blobs, read-only, and records
// it as rawURL's latest content.
func (d *Downloader) store(r receipt, rawURL string) error {
	if err := r.tmp.Chmod(0o444); err != nil {
		return err
	}
	if err := r.tmp.Close(); err != nil {
		return err
	}
	dst := d.blobPath(r.sum)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Rename(r.tmp.Name(), dst); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(d.urlPath(rawURL), []byte(r.sum+" "+rawURL+"\n"), 0o644)
}

type progressWriter struct{ pc ProgressCounter }

func (p progressWriter) Write(b []byte) (int, error) { p.pc.Add(len(b)); return len(b), nil }

type progressKey struct{}

// withProgress makes downloads under ctx report to pc.
func withProgress(ctx context.Context, pc ProgressCounter) context.Context {
	return context.WithValue(ctx, progressKey{}, pc)
}

// kick resets a watchdog timer on every write.
type kick struct {
	t *time.Timer
	d time.Duration
}

func (k kick) Write(p []byte) (int, error) { k.t.Reset(k.d); return len(p), nil }

// Download gets url into the download cache and returns the cached file's
// path; refresh asks the network even when a copy is cached. With Extract
// it is what toolchain.Install takes as its Source.
func (d *Downloader) Download(ctx context.Context, url string, refresh bool) (string, error) {
	get := func(ctx context.Context, url string) (*Blob, error) { return d.Get(ctx, url, "") }
	if refresh {
		get = d.Refresh
	}
	b, err := get(ctx, url)
	if err != nil {
		return "", err
	}
	return b.Path, nil
}

// Extract unpacks archive into dir (see the package function Extract).
func (d *Downloader) Extract(ctx context.Context, archive, dir string) error {
	return Extract(ctx, archive, dir, WithExtractLimit(d.maxSize))
}
