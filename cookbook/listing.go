package cookbook

import (
	"io"
	"text/tabwriter"

	"github.com/redox-cook/cook/internal/termtext"
)

// ListEntry is one recipe as `cook list` shows it.
type ListEntry struct {
	Name     string `json:"name"`
	Path     string `json:"path"`
	Template string `json:"template"`
	Source   string `json:"source"` // the source kind, or "none"
	Errors   int    `json:"errors,omitempty"`
}

// Listing is every recipe of a tree, in name order.
type Listing []ListEntry

// List returns the tree's recipes as a Listing.
func (t *Tree) List() Listing {
	out := make(Listing, 0, len(t.Names))
	for _, name := range t.Names {
		r := t.Recipes[name]
		e := ListEntry{Name: name, Path: r.Path, Template: string(r.Build.Template), Source: "none"}
		if r.Source != nil {
			e.Source = string(r.Source.Kind)
		}
		for _, d := range r.Diagnostics {
			if d.Severity == Error {
				e.Errors++
			}
		}
		out = append(out, e)
	}
	return out
}

// WriteText writes a column each for name, template ("(invalid)" marks a
// recipe upstream refuses), source kind and path, escaped for a terminal.
func (l Listing) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, e := range l {
		tmpl := e.Template
		if e.Errors > 0 {
			tmpl += " (invalid)"
		}
		if _, err := io.WriteString(tw, termtext.Escape(e.Name)+"\t"+termtext.Escape(tmpl)+"\t"+e.Source+"\t"+termtext.Escape(e.Path)+"\n"); err != nil {
			return err
		}
	}
	return tw.Flush()
}
