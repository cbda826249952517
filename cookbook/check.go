package cookbook

import (
	"fmt"
	"io"
	"strings"

	"github.com/redox-cook/cook/internal/termtext"
)

// CheckDiagnostic is one diagnostic of a check, as JSON shows it.
type CheckDiagnostic struct {
	Recipe  string `json:"recipe"`
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// CheckReport is what checking a tree (or some recipes and everything they
// depend on) found.
type CheckReport struct {
	Recipes    int               `json:"recipes"`
	Loaded     int               `json:"loaded"`
	Errors     []CheckDiagnostic `json:"errors"`
	Warnings   []CheckDiagnostic `json:"warnings"`
	Unresolved []string          `json:"unresolved"`
	Cycles     [][]string        `json:"cycles"`
	// Failing counts the recipes with errors.
	Failing int `json:"-"`
}

// OK reports a check without errors or cycles.
func (r *CheckReport) OK() bool { return len(r.Errors) == 0 && len(r.Cycles) == 0 }

// Check validates the recipes of roots' graph (every recipe when roots is
// nil) with upstream's schema rules and checks their dependency graph for
// unresolved names and cycles. With strict, warnings are errors.
func (t *Tree) Check(roots []Node, strict bool) *CheckReport {
	g := t.NewGraph(roots, AllEdges)
	inScope := func(string) bool { return true }
	if roots != nil {
		names := map[string]bool{}
		for _, n := range g.Nodes {
			names[n.Name] = true
		}
		inScope = func(name string) bool { return names[name] }
	}
	rep := &CheckReport{Errors: []CheckDiagnostic{}, Warnings: []CheckDiagnostic{}, Unresolved: []string{}, Cycles: [][]string{}}
	failing := map[string]bool{}
	for _, d := range t.AllDiagnostics(strict) {
		if d.Recipe != "" && !inScope(d.Recipe) {
			continue
		}
		cd := CheckDiagnostic{Recipe: d.Recipe, Path: d.Path, Line: d.Line, Column: d.Column, Message: d.Message}
		if d.Severity == Error {
			rep.Errors = append(rep.Errors, cd)
			if d.Recipe != "" {
				failing[d.Recipe] = true
			}
		} else {
			rep.Warnings = append(rep.Warnings, cd)
		}
	}
	for _, name := range t.Names {
		if inScope(name) {
			rep.Recipes++
			if !failing[name] {
				rep.Loaded++
			}
		}
	}
	rep.Failing = len(failing)
	rep.Unresolved = t.Unresolved(inScope)
	for _, c := range g.Cycles() {
		s := make([]string, len(c))
		for i, n := range c {
			s[i] = n.String()
		}
		rep.Cycles = append(rep.Cycles, s)
	}
	return rep
}

// WriteText prints the report for people: each error (and with
// showWarnings each warning) as FILE:LINE:COLUMN: severity: message, each
// cycle, then the counts. Text from the tree is escaped.
func (r *CheckReport) WriteText(w io.Writer, showWarnings bool) error {
	var b strings.Builder
	for _, d := range r.Errors {
		b.WriteString(d.diagnostic(Error).String() + "\n")
	}
	if showWarnings {
		for _, d := range r.Warnings {
			b.WriteString(d.diagnostic(Warning).String() + "\n")
		}
	}
	for _, c := range r.Cycles {
		fmt.Fprintf(&b, "error: dependency cycle: %s\n", termtext.Escape(strings.Join(c, " → ")))
	}
	fmt.Fprintf(&b, "%d recipes, %d load, %d error(s), %d warning(s), %d unresolved dependency name(s), %d cycle(s)\n",
		r.Recipes, r.Loaded, len(r.Errors), len(r.Warnings), len(r.Unresolved), len(r.Cycles))
	if len(r.Warnings) > 0 && !showWarnings {
		b.WriteString("(warnings not shown: use -v, or name recipes, to see them)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary is the one-line verdict of a failed check.
func (r *CheckReport) Summary() string {
	s := fmt.Sprintf("check found %d error(s) in %d recipe(s)", len(r.Errors), r.Failing)
	if len(r.Cycles) > 0 {
		s += fmt.Sprintf(" and %d dependency cycle(s)", len(r.Cycles))
	}
	return s
}

// diagnostic is d as a Diagnostic of severity s, which prints itself.
func (d CheckDiagnostic) diagnostic(s Severity) Diagnostic {
	return Diagnostic{Severity: s, Recipe: d.Recipe, Path: d.Path, Line: d.Line, Column: d.Column, Message: d.Message}
}
