package cookbook

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Severity says whether a Diagnostic stops a recipe from loading.
type Severity uint8

const (
	// Error is what upstream refuses to load.
	Error Severity = iota
	// Warning is what upstream silently accepts but is almost surely a
	// mistake; --strict turns warnings into errors.
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diagnostic is an error or warning about one recipe file.
type Diagnostic struct {
	Severity Severity
	Recipe   string // recipe name ("" when not about one recipe)
	Path     string // file, relative to the cookbook root
	Line     int    // 1-based; 0 when unknown
	Column   int    // 1-based; 0 when unknown
	Message  string
}

// String formats d as path:line:col: severity: message, with control
// characters and invalid UTF-8 in the path and message escaped (Escape).
func (d Diagnostic) String() string {
	loc := Escape(d.Path)
	if d.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, d.Line)
		if d.Column > 0 {
			loc = fmt.Sprintf("%s:%d", loc, d.Column)
		}
	}
	return fmt.Sprintf("%s: %s: %s", loc, d.Severity, Escape(d.Message))
}

// Escape returns s with every control character, and every byte that is not
// UTF-8, written as a Go escape (\n, \x1b, \u0085, \xff), as strconv.Quote
// writes them, so that a name or path printed to a terminal cannot move the
// cursor, recolour the screen or hide what follows. Printable text,
// including spaces, quotes and backslashes, is left as it is.
func Escape(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) && r != ' ' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == ' ' || strconv.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r) // '\x1b'
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// Error lets a Diagnostic be returned as an error.
func (d Diagnostic) Error() string { return d.String() }
