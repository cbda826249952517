package fetch

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// DefaultMaxSourceSize is how much one source may take unless
// WithMaxSourceSize says otherwise: bytes received for a download, bytes
// written (plus 512 an entry) when an archive is unpacked.
const DefaultMaxSourceSize int64 = 16 << 30

// ErrTooLarge is matched by the error of a download or an extraction that
// went over the size limit.
var ErrTooLarge = errors.New("source too large")

// WithMaxSourceSize sets the size limit for one source (default
// DefaultMaxSourceSize; n <= 0 keeps it): a download that receives more, or
// an archive that unpacks to more, stops with an error matching
// ErrTooLarge instead of filling the disk. Fetchers using the Downloader
// apply the same limit to the archives they unpack.
func WithMaxSourceSize(n int64) DownloaderOption {
	return func(d *Downloader) error {
		if n > 0 {
			d.maxSize = n
		}
		return nil
	}
}

// MaxSourceSize is the size limit for one source.
func (d *Downloader) MaxSourceSize() int64 { return d.maxSize }

// ExtractOption configures Extract.
type ExtractOption func(*extractOptions)

type extractOptions struct {
	limit int64
}

// WithExtractLimit sets how much an archive may unpack to (default
// DefaultMaxSourceSize; n <= 0 keeps it): file contents plus 512 bytes an
// entry, so that a flood of empty files counts too.
func WithExtractLimit(n int64) ExtractOption {
	return func(o *extractOptions) {
		if n > 0 {
			o.limit = n
		}
	}
}

// entryCost is what each archive entry is charged besides its contents.
const entryCost = 512

// tooLarge is the error for going over limit while doing what.
func tooLarge(what string, limit int64) error {
	return fmt.Errorf("%s more than %s, the limit for one source (see [limits] source_size in cook.toml): %w", what, formatSize(limit), ErrTooLarge)
}

// formatSize writes n bytes in the largest binary unit that divides it,
// else with one decimal.
func formatSize(n int64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	u, v := 0, float64(n)
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), units[u])
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}

// capReader returns ErrTooLarge once more than left bytes have been read
// from r.
type capReader struct {
	r     io.Reader
	left  int64
	limit int64
	what  string
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, tooLarge(c.what, c.limit)
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, tooLarge(c.what, c.limit)
	}
	return n, err
}

// Errors that no retry can mend.
var (
	errRedirects         = errors.New("too many redirects")
	errUnsupportedScheme = errors.New("unsupported URL scheme")
)

// maxRedirects is how many redirects a download follows (as net/http does).
const maxRedirects = 10

func checkScheme(scheme string) error {
	switch strings.ToLower(scheme) {
	case "http", "https":
		return nil
	}
	return fmt.Errorf("%w %q (cook downloads http://, https:// and file:// URLs)", errUnsupportedScheme, scheme)
}

// checkRedirect refuses redirect loops and redirects to other schemes
// with errors transient reports as permanent, then asks next (the
// client's own policy), if any.
func checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if err := checkScheme(req.URL.Scheme); err != nil {
			return fmt.Errorf("redirected to %s: %w", req.URL.Redacted(), err)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("%w: stopped after %d redirects (a redirect loop?), the last to %s", errRedirects, len(via), req.URL.Redacted())
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// transient reports whether a failed request may succeed when retried: not
// when the name does not resolve, redirects loop or lead to a scheme cook
// cannot fetch, the certificate is refused, or the source is too large.
func transient(err error) bool {
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &dns),
		errors.Is(err, errRedirects), errors.Is(err, errUnsupportedScheme), errors.Is(err, ErrTooLarge),
		errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return false
	}
	return true
}
