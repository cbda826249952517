package cookbook

import (
	"fmt"

	"github.com/redox-cook/cook/internal/termtext"
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
	loc := termtext.Escape(d.Path)
	if d.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, d.Line)
		if d.Column > 0 {
			loc = fmt.Sprintf("%s:%d", loc, d.Column)
		}
	}
	return fmt.Sprintf("%s: %s: %s", loc, d.Severity, termtext.Escape(d.Message))
}

// Error lets a Diagnostic be returned as an error.
func (d Diagnostic) Error() string { return d.String() }
