package depgraph

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// WriteSVG draws g as a standalone SVG document, laid out by Lay, with a
// legend of the edge styles. Every name is escaped.
func WriteSVG(w io.Writer, g Graph) error {
	l := Lay(g)
	bw := bufio.NewWriter(w)
	const legendH = 28.0
	width := max(l.Width, 560)
	height := l.Height + legendH
	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">`+"\n",
		n1(width), n1(height), n1(width), n1(height))
	fmt.Fprintln(bw, `<title>cook dependency graph: an arrow from A to B says A depends on B</title>`)
	fmt.Fprintln(bw, `<defs>`)
	for _, c := range []struct{ id, color string }{{"build", colBuild}, {"dev", colDev}, {"package", colPackage}, {"host", colHost}} {
		fmt.Fprintf(bw, `<marker id="arrow-%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="%s"/></marker>`+"\n", c.id, c.color)
	}
	fmt.Fprintln(bw, `</defs>`)
	fmt.Fprintf(bw, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")

	// legend
	fmt.Fprintln(bw, `<g class="legend">`)
	x := margin
	for _, it := range []struct {
		kind, label string
		host        bool
	}{{Build, "build", false}, {Dev, "dev", false}, {Package, "package", false}, {Build, "into a host: node", true}} {
		color, dash, _ := edgeStyle(it.kind, it.host)
		fmt.Fprintf(bw, `<line x1="%s" y1="14" x2="%s" y2="14" stroke="%s" stroke-width="1.6"%s/>`, n1(x), n1(x+26), color, dashAttr(dash))
		fmt.Fprintf(bw, `<text x="%s" y="18" fill="#5d6874">%s</text>`+"\n", n1(x+32), esc(it.label))
		x += 32 + float64(len(it.label))*charWidth + 18
	}
	fmt.Fprintln(bw, `</g>`)

	fmt.Fprintf(bw, `<g class="graph" transform="translate(0 %s)">`+"\n", n1(legendH))
	fmt.Fprintln(bw, `<g class="edges" fill="none">`)
	for _, e := range l.Edges {
		color, dash, _ := edgeStyle(e.Kind, e.Host)
		marker := "arrow-" + cssClass(e.Kind)
		if e.Host {
			marker = "arrow-host"
		}
		fmt.Fprintf(bw, `<path class="edge %s" d="%s" stroke="%s" stroke-width="1.3"%s marker-end="url(#%s)"><title>%s</title></path>`+"\n",
			cssClass(e.Kind), curve(e.Points, e.Offset), color, dashAttr(dash), marker, esc(edgeTitle(e)))
	}
	fmt.Fprintln(bw, `</g>`)
	fmt.Fprintln(bw, `<g class="nodes">`)
	for _, n := range l.Nodes {
		fill, stroke, sw, weight := fillTarget, lineTarget, "1.2", "normal"
		class := "node"
		if n.Host {
			fill, stroke = fillHost, colHost
			class += " host"
		}
		if n.Root {
			sw, weight = "2.4", "bold"
			class += " root"
		}
		fmt.Fprintf(bw, `<g class="%s"><title>%s</title><rect x="%s" y="%s" width="%s" height="%s" rx="5" fill="%s" stroke="%s" stroke-width="%s"/><text x="%s" y="%s" text-anchor="middle" dominant-baseline="central" font-weight="%s" fill="#1d2329">%s</text></g>`+"\n",
			class, esc(n.ID), n1(n.X-n.W/2), n1(n.Y-n.H/2), n1(n.W), n1(n.H), fill, stroke, sw, n1(n.X), n1(n.Y), weight, esc(n.ID))
	}
	fmt.Fprintln(bw, `</g>`)
	fmt.Fprintln(bw, `</g>`)
	fmt.Fprintln(bw, `</svg>`)
	return bw.Flush()
}

func edgeTitle(e Routed) string {
	s := fmt.Sprintf("%s → %s (%s", e.From, e.To, e.Kind)
	if e.Dep != "" && e.Dep != e.To {
		s += ": " + e.Dep
	}
	return s + ")"
}

func cssClass(kind string) string {
	switch kind {
	case Build, Dev, Package:
		return kind
	}
	return Build
}

func dashAttr(dash string) string {
	if dash == "" {
		return ""
	}
	return fmt.Sprintf(` stroke-dasharray="%s"`, dash)
}

func n1(v float64) string { return fmt.Sprintf("%.1f", v) }

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// curve is a smooth path through points, vertical at each of them, its
// bend points shifted sideways by off (parallel edges between two nodes).
func curve(pts [][2]float64, off float64) string {
	if len(pts) == 0 {
		return ""
	}
	x := func(i int) float64 { // the ends are ports of their own
		if i == 0 || i == len(pts)-1 {
			return pts[i][0]
		}
		return pts[i][0] + off
	}
	var b strings.Builder
	fmt.Fprintf(&b, "M%s %s", n1(x(0)), n1(pts[0][1]))
	for i := 1; i < len(pts); i++ {
		p, q := pts[i-1], pts[i]
		dy := (q[1] - p[1]) / 2
		fmt.Fprintf(&b, " C%s %s %s %s %s %s", n1(x(i-1)), n1(p[1]+dy), n1(x(i)), n1(q[1]-dy), n1(x(i)), n1(q[1]))
	}
	return b.String()
}
