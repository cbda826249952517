package cookbook

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
