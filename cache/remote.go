package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Remote is a store on a server speaking bazel-remote's HTTP protocol:
// GET, HEAD and PUT of <url>/ac/<key> and <url>/cas/<sha256>.
//
// A remote is never allowed to fail a build: a request that stalls is abandoned,
// transient failures (connection errors, 5xx, timeouts) are retried a few
// times with backoff, and once they persist the remote is switched off for
// the rest of the run with a one-line warning. Its errors then simply read
// as misses.
type Remote struct {
	base     *url.URL // without credentials
	user     string
	pass     string
	token    string
	client   *http.Client
	timeout  time.Duration
	retries  int
	readOnly bool
	warn     func(string)

	down     atomic.Bool
	downOnce sync.Once
}

// Option configures a Remote.
type Option func(*Remote) error

// WithToken sends "Authorization: Bearer token" (from COOK_CACHE_TOKEN).
func WithToken(token string) Option {
	return func(r *Remote) error { r.token = token; return nil }
}

// WithBasicAuth sends HTTP basic credentials (user:pass@ in the URL does too).
func WithBasicAuth(user, pass string) Option {
	return func(r *Remote) error { r.user, r.pass = user, pass; return nil }
}

// WithTimeout sets how long a request may go without progress — no
// answer, no bytes moving — before it is abandoned (default 10s). Large
// blobs take as long as they need while they keep moving.
func WithTimeout(d time.Duration) Option {
	return func(r *Remote) error {
		if d <= 0 {
			return fmt.Errorf("remote cache: timeout must be positive, not %v", d)
		}
		r.timeout = d
		return nil
	}
}

// WithRetries sets how many times a failed request is retried (default 2).
func WithRetries(n int) Option {
	return func(r *Remote) error {
		if n < 0 {
			return fmt.Errorf("remote cache: negative retries")
		}
		r.retries = n
		return nil
	}
}

// WithReadOnly never writes to the server (for untrusted clients).
func WithReadOnly(ro bool) Option {
	return func(r *Remote) error { r.readOnly = ro; return nil }
}

// WithWarnings receives the one-line warnings (default: none).
func WithWarnings(f func(string)) Option {
	return func(r *Remote) error { r.warn = f; return nil }
}

// NewRemote returns the store at rawURL (http or https; a path prefix is
// kept, as bazel-remote's instance names). Credentials in the URL are used
// for basic auth and never shown.
func NewRemote(rawURL string, opts ...Option) (*Remote, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("remote cache: bad URL: %w", redact(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("remote cache: URL must be http:// or https://HOST[:PORT][/PREFIX]")
	}
	r := &Remote{timeout: 10 * time.Second, retries: 2}
	if u.User != nil {
		r.user = u.User.Username()
		r.pass, _ = u.User.Password()
		u.User = nil
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	r.base = u
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	if r.client == nil {
		r.client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       60 * time.Second,
			ResponseHeaderTimeout: r.timeout,
			TLSHandshakeTimeout:   r.timeout,
		}}
	}
	return r, nil
}

// redact drops a *url.Error's URL, which may carry credentials.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// String is the server's URL, without credentials.
func (r *Remote) String() string { return r.base.String() }

// ReadOnly reports whether the store never writes.
func (r *Remote) ReadOnly() bool { return r.readOnly }

// Down reports whether the remote was switched off after persistent failures.
func (r *Remote) Down() bool { return r.down.Load() }

// ErrUnavailable is returned once the remote is switched off (after one warning).
var ErrUnavailable = errors.New("remote cache unavailable")

func (r *Remote) url(kind Kind, hash string) string {
	return r.base.String() + "/" + string(kind) + "/" + hash
}

type statusError struct {
	code   int
	status string
}

func (e *statusError) Error() string { return "server said " + e.status }

// transient reports whether a request that failed with err is worth retrying.
func transient(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests || se.code == http.StatusRequestTimeout
	}
	return !errors.Is(err, context.Canceled)
}

// fail switches the remote off after a transient failure outlived its retries.
func (r *Remote) fail(op string, err error) error {
	if transient(err) {
		r.downOnce.Do(func() {
			r.down.Store(true)
			if r.warn != nil {
				r.warn(fmt.Sprintf("warning: remote cache %s: %s: %v; building locally without it", r, op, err))
			}
		})
	}
	if r.down.Load() {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err) // already warned
	}
	return fmt.Errorf("remote cache %s: %s: %w", r, op, err)
}

// errStalled cancels a request that stopped making progress.
var errStalled = errors.New("no progress")

// watchdog cancels a request when no bytes moved for its timeout: slow
// but steady transfers of large blobs go on, stalled ones end.
type watchdog struct {
	t      *time.Timer
	d      time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func newWatchdog(ctx context.Context, d time.Duration) *watchdog {
	w := &watchdog{d: d}
	w.ctx, w.cancel = context.WithCancelCause(ctx)
	w.t = time.AfterFunc(d, func() { w.cancel(errStalled) })
	return w
}

func (w *watchdog) kick() { w.t.Reset(w.d) }

func (w *watchdog) stop() {
	w.t.Stop()
	w.cancel(context.Canceled)
}

// err explains a failure caused by the watchdog.
func (w *watchdog) err(err error) error {
	if err != nil && errors.Is(context.Cause(w.ctx), errStalled) {
		return fmt.Errorf("%w for %v", errStalled, w.d)
	}
	return err
}

// progress kicks the watchdog as bytes go through.
type progress struct {
	r io.Reader
	w *watchdog
}

func (p progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.w.kick()
	}
	return n, p.w.err(err)
}

// do runs one request with a watchdog and retries; body, when not nil, is
// rewound before each attempt. The response (2xx only) is returned with a
// func to call when its body is done.
func (r *Remote) do(ctx context.Context, method string, kind Kind, hash string, size int64, body io.ReadSeeker) (*http.Response, func(), error) {
	if r.down.Load() {
		return nil, nil, ErrUnavailable
	}
	if err := checkHash(hash); err != nil {
		return nil, nil, err
	}
	var err error
	for attempt := 0; attempt <= r.retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(100<<(2*(attempt-1))) * time.Millisecond):
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		wd := newWatchdog(ctx, r.timeout)
		var resp *http.Response
		resp, err = r.attempt(wd, method, kind, hash, size, body)
		if err == nil {
			resp.Body = progressBody{progress{resp.Body, wd}, resp.Body}
			return resp, wd.stop, nil
		}
		wd.stop()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if errors.Is(err, ErrNotFound) || !transient(err) {
			return nil, nil, err
		}
	}
	return nil, nil, r.fail(strings.ToLower(method)+" "+string(kind), err)
}

type progressBody struct {
	io.Reader
	io.Closer
}

func (r *Remote) attempt(wd *watchdog, method string, kind Kind, hash string, size int64, body io.ReadSeeker) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		rd = progress{body, wd} // not a Closer: the transport must not close our file
	}
	req, err := http.NewRequestWithContext(wd.ctx, method, r.url(kind, hash), rd)
	if err != nil {
		return nil, redact(err)
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	switch {
	case r.token != "":
		req.Header.Set("Authorization", "Bearer "+r.token)
	case r.user != "":
		req.SetBasicAuth(r.user, r.pass)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, wd.err(redact(err))
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, ErrNotFound
	}
	return nil, &statusError{code: resp.StatusCode, status: resp.Status}
}

type cancelBody struct {
	io.ReadCloser
	cancel func()
}

func (b cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// Get implements Store.
func (r *Remote) Get(ctx context.Context, kind Kind, hash string) (io.ReadCloser, int64, error) {
	resp, cancel, err := r.do(ctx, http.MethodGet, kind, hash, 0, nil)
	if err != nil {
		return nil, 0, err
	}
	return cancelBody{resp.Body, cancel}, resp.ContentLength, nil
}

// Has implements Store.
func (r *Remote) Has(ctx context.Context, kind Kind, hash string) (bool, error) {
	resp, cancel, err := r.do(ctx, http.MethodHead, kind, hash, 0, nil)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	cancel()
	return true, nil
}

// Put implements Store; it does nothing in read-only mode.
func (r *Remote) Put(ctx context.Context, kind Kind, hash string, size int64, body io.ReadSeeker) error {
	if r.readOnly {
		return nil
	}
	if kind == CAS {
		// upload only what is missing
		if ok, err := r.Has(ctx, kind, hash); err != nil || ok {
			return err
		}
	}
	resp, cancel, err := r.do(ctx, http.MethodPut, kind, hash, size, body)
	if err != nil {
		return err
	}
	resp.Body.Close()
	cancel()
	return nil
}
