package fetch

import (
	"sort"
	"strings"
)

// DefaultMirrors is what upstream inserts when no mirror is configured.
var DefaultMirrors = map[string]string{"ftp.gnu.org/gnu": "https://mirrors.ocf.berkeley.edu/gnu"}

// Mirrors rewrites source URLs: the longest rule whose prefix matches wins.
// A rule's prefix may carry a scheme ("https://host/path") or not
// ("host/path", matched after stripping http:// or https:// as upstream
// does); its replacement is a full URL prefix (settings.CheckMirror).
type Mirrors struct {
	rules []mirrorRule // longest prefix first
}

type mirrorRule struct{ from, to string }

// NewMirrors returns the mirror rules of m (prefix → replacement).
func NewMirrors(m map[string]string) Mirrors {
	var ms Mirrors
	for from, to := range m {
		ms.rules = append(ms.rules, mirrorRule{from, to})
	}
	sort.Slice(ms.rules, func(i, j int) bool {
		if len(ms.rules[i].from) != len(ms.rules[j].from) {
			return len(ms.rules[i].from) > len(ms.rules[j].from)
		}
		return ms.rules[i].from < ms.rules[j].from
	})
	return ms
}

// Translate returns the URL to fetch instead of u and whether a rule matched.
func (ms Mirrors) Translate(u string) (string, bool) {
	bare := u
	for _, s := range []string{"https://", "http://"} {
		if strings.HasPrefix(u, s) {
			bare = u[len(s):]
			break
		}
	}
	for _, r := range ms.rules {
		switch {
		case strings.HasPrefix(u, r.from):
			return join(r.to, u[len(r.from):]), true
		case strings.HasPrefix(bare, r.from):
			return join(r.to, bare[len(r.from):]), true
		}
	}
	return u, false
}

// join glues a replacement prefix and the rest of a URL textually (prefixes
// match as text, as upstream's do), collapsing a doubled slash.
func join(to, rest string) string {
	if strings.HasSuffix(to, "/") && strings.HasPrefix(rest, "/") {
		return to + rest[1:]
	}
	return to + rest
}
