package depgraph

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Colours and dashes shared by the dot and SVG output.
const (
	colBuild    = "#3d4752"
	colDev      = "#2f6fba"
	colPackage  = "#159e8f"
	colHost     = "#c05f00"
	fillTarget  = "#eef4fb"
	lineTarget  = "#2f6fba"
	fillHost    = "#fff1e0"
	dashDev     = "6 4"
	dashPackage = "2 3"
)

// edgeStyle is how an edge of kind into a node (host or not) is drawn:
// its colour and SVG dash pattern, and graphviz's style.
func edgeStyle(kind string, host bool) (color, dash, dotStyle string) {
	switch kind {
	case Dev:
		color, dash, dotStyle = colDev, dashDev, "dashed"
	case Package:
		color, dash, dotStyle = colPackage, dashPackage, "dotted"
	default:
		color, dotStyle = colBuild, "solid"
	}
	if host {
		color = colHost
	}
	return color, dash, dotStyle
}

// WriteDot writes g in graphviz's dot language: dependents above their
// dependencies; build edges solid, dev dashed, package dotted; edges into a
// host: node and the nodes themselves orange; roots in bold.
func WriteDot(w io.Writer, g Graph) error {
	nodes, edges := g.sorted()
	bw := bufio.NewWriter(w)
	host := map[string]bool{}
	fmt.Fprintln(bw, "// cook dependency graph: an edge A -> B says A depends on B.")
	fmt.Fprintln(bw, "// build: solid, dev: dashed, package: dotted; orange: a host: node and the edges into it.")
	fmt.Fprintln(bw, "digraph cook {")
	fmt.Fprintln(bw, `  graph [rankdir=TB, nodesep=0.25, ranksep=0.55, fontname="DejaVu Sans"];`)
	fmt.Fprintf(bw, "  node [shape=box, style=\"rounded,filled\", fillcolor=%q, color=%q, fontname=\"DejaVu Sans\", fontsize=11, height=0.3];\n", fillTarget, lineTarget)
	fmt.Fprintln(bw, `  edge [arrowsize=0.6];`)
	for _, n := range nodes {
		var attrs []string
		if strings.ContainsAny(n.ID, `\&`) {
			// a label reads \ as one backslash (the ID keeps both) and &...;
			// as an entity
			attrs = append(attrs, "label="+quote(strings.ReplaceAll(n.ID, "&", "&amp;")))
		}
		if n.Host {
			host[n.ID] = true
			attrs = append(attrs, fmt.Sprintf("fillcolor=%q, color=%q, class=\"host\"", fillHost, colHost))
		}
		if n.Root {
			attrs = append(attrs, `penwidth=2, style="rounded,filled,bold"`)
		}
		fmt.Fprintf(bw, "  %s%s;\n", quote(n.ID), attrList(attrs))
	}
	for _, e := range edges {
		color, _, style := edgeStyle(e.Kind, host[e.To])
		attrs := []string{"style=" + style, fmt.Sprintf("color=%q", color), "class=" + quote(e.Kind)}
		if e.Dep != "" && e.Dep != e.To {
			attrs = append(attrs, "tooltip="+quote(e.Kind+": "+e.Dep))
		}
		fmt.Fprintf(bw, "  %s -> %s%s;\n", quote(e.From), quote(e.To), attrList(attrs))
	}
	fmt.Fprintln(bw, "}")
	return bw.Flush()
}

func attrList(attrs []string) string {
	if len(attrs) == 0 {
		return ""
	}
	return " [" + strings.Join(attrs, ", ") + "]"
}

// quote makes s a dot string: in a quoted ID only \" is an escape, so
// backslashes are doubled (\\ stays two characters, and can never run into
// the closing quote) and control characters are replaced.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			b.WriteRune('?')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
