package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redox-cook/cook/internal/termtext"
)

//go:embed timings.html
var timingsHTML string

var timingsTemplate = template.Must(template.New("timings").Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).Parse(timingsHTML))

// Geometry of the charts, in SVG user units (the page scales them to its
// width).
const (
	chartWidth = 1360
	labelWidth = 240 // the Gantt's recipe column
	plotRight  = 16
	axisHeight = 30
	rowHeight  = 18
	barHeight  = 12
	jobsHeight = 190
	maxLabel   = 34 // runes of a recipe name shown before it is cut
	slowestMax = 25
)

// WriteHTML writes the timings report of b: one page with its CSS, script
// and SVG inline, nothing loaded from anywhere.
func WriteHTML(w io.Writer, b *Build) error {
	return timingsTemplate.Execute(w, newPage(displayed(b)))
}

type page struct {
	Title    string
	Subtitle string
	Totals   []total
	Legend   []legend
	Gantt    gantt
	Jobs     jobsChart
	Critical []critNode
	CritTime string
	Slowest  []slowRow
	Ran      int
}

type total struct{ ID, Label, Value string }

type legend struct{ Class, Label string }

type tick struct{ X, Label string }

type seg struct{ X, Y, W, H, Class string }

type band struct{ X, W, LabelX, Label, Class string }

type row struct {
	ID, Class, Y, LabelY, Label, Title string
	Wait                               *seg  // from X to W
	Bars                               []seg // fetch, job, phase overlays, in drawing order
	Marker                             *seg  // a node that did not run: where it was settled
}

type gantt struct {
	Width, Height int
	PlotX         int
	Ticks         []tick
	Bands         []band
	Rows          []row
	CritPath      string // path through the critical chain's bars
	GridTop       int
}

type area struct{ Class, D string }

type jobsChart struct {
	Width, Height int
	PlotX, PlotY  int
	PlotBottom    int
	Ticks         []tick
	YTicks        []struct{ Y, Label string }
	Areas         []area
	JobsY         string
	JobsLabel     string
	Peak          int
}

type critNode struct{ Row, Recipe, Time, Status string }

type slowRow struct {
	Row, Recipe, StatusClass, Status string
	Build, Wait, Fetch               string
	BuildSort, WaitSort, FetchSort   string
	Phases                           string
}

// statusClass is the CSS class for a status; unknown ones share one.
func statusClass(s string) string {
	switch s {
	case Built, Cached, RemoteCached, Failed, Skipped:
		return "st-" + s
	}
	return "st-other"
}

func statusLabel(s string) string {
	switch s {
	case Built:
		return "built"
	case Cached:
		return "up to date"
	case RemoteCached:
		return "restored from the shared cache"
	case Failed:
		return "failed"
	case Skipped:
		return "skipped"
	}
	return s
}

// scale maps times onto the plot.
type scale struct {
	from  time.Time
	span  float64 // seconds
	x0, w float64
}

func (s scale) x(t time.Time) float64 {
	v := t.Sub(s.from).Seconds() / s.span
	return s.x0 + s.w*min(max(v, 0), 1)
}

func (s scale) secX(sec float64) float64 { return s.x0 + s.w*min(max(sec/s.span, 0), 1) }

func num(v float64) string { return fmt.Sprintf("%.1f", v) }

func newPage(b *Build) page {
	from, to := b.bounds()
	span := to.Sub(from).Seconds()
	if span <= 0 || math.IsNaN(span) {
		span = 1
	}
	plotW := float64(chartWidth - labelWidth - plotRight)
	sc := scale{from: from, span: span, x0: labelWidth, w: plotW}

	p := page{Title: "cook build timings", Ran: 0}
	var sub []string
	if !b.Start.IsZero() {
		sub = append(sub, b.Start.Format("2006-01-02 15:04:05 -07:00"))
	}
	if b.Target != "" {
		sub = append(sub, "target "+b.Target)
	}
	if b.Jobs > 0 {
		sub = append(sub, fmt.Sprintf("-j %d", b.Jobs))
	}
	p.Subtitle = strings.Join(sub, " · ")

	crit, critTime := b.CriticalPath()
	onCrit := map[string]bool{}
	for _, c := range crit {
		onCrit[c] = true
	}
	index := map[string]int{}
	for i, n := range b.Results {
		index[n.Recipe] = i
		if n.Ran() {
			p.Ran++
		}
	}

	p.Totals = totals(b, to.Sub(from), crit, critTime)
	for _, s := range []string{Built, Cached, RemoteCached, Failed, Skipped} {
		p.Legend = append(p.Legend, legend{Class: statusClass(s), Label: statusLabel(s)})
	}
	p.Gantt = newGantt(b, sc, onCrit, crit, index)
	p.Jobs = newJobsChart(b, sc)
	for _, c := range crit {
		n := &b.Results[index[c]]
		p.Critical = append(p.Critical, critNode{Row: rowID(index[c]), Recipe: c, Time: fmtDur(n.Duration()), Status: statusClass(n.Status)})
	}
	p.CritTime = fmtDur(critTime)
	p.Slowest = slowest(b)
	return p
}

func rowID(i int) string { return fmt.Sprintf("node-%d", i) }

func totals(b *Build, wall time.Duration, crit []string, critTime time.Duration) []total {
	count := map[string]int{}
	var busy time.Duration
	var wait float64
	for i := range b.Results {
		n := &b.Results[i]
		count[n.Status]++
		busy += n.Duration()
		wait += n.Wait
	}
	if b.Seconds > 0 && b.Seconds < 1e9 {
		wall = time.Duration(b.Seconds * float64(time.Second))
	}
	out := []total{{"total-wall", "wall time", fmtDur(wall)}}
	for _, ph := range []struct{ name, label string }{{FetchPhase, "fetching sources"}, {CheckPhase, "finding what is up to date"}, {BuildPhase, "building"}} {
		if p, ok := b.runPhase(ph.name); ok {
			out = append(out, total{"total-phase-" + ph.name, ph.label, fmtDur(p.End.Sub(p.Start))})
		}
	}
	var parts []string
	for _, s := range []string{Built, Cached, RemoteCached, Failed, Skipped} {
		if count[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[s], statusLabel(s)))
		}
		delete(count, s)
	}
	other := 0
	for _, c := range count {
		other += c
	}
	if other > 0 {
		parts = append(parts, fmt.Sprintf("%d other", other))
	}
	out = append(out, total{"total-nodes", fmt.Sprintf("nodes (%d)", len(b.Results)), strings.Join(parts, ", ")})
	if b.Jobs > 0 {
		out = append(out, total{"total-jobs", "jobs (-j)", fmt.Sprint(b.Jobs)})
	}
	out = append(out, total{"total-busy", "time in jobs", fmtDur(busy)})
	if p, ok := b.runPhase(BuildPhase); ok && p.End.After(p.Start) {
		out = append(out, total{"total-parallelism", "average jobs in use while building", fmt.Sprintf("%.2f", busy.Seconds()/p.End.Sub(p.Start).Seconds())})
	}
	out = append(out, total{"total-wait", "time ready but waiting for a free job", fmtDur(time.Duration(wait * float64(time.Second)))})
	out = append(out, total{"total-critical", "critical path", fmt.Sprintf("%s over %d %s", fmtDur(critTime), len(crit), plural(len(crit), "node", "nodes"))})
	return out
}

// rowOrder puts the nodes that ran first, by start, then the rest: failed,
// skipped, then those found up to date, by name.
func rowOrder(b *Build) []int {
	idx := make([]int, len(b.Results))
	for i := range idx {
		idx[i] = i
	}
	rank := func(n *Node) int {
		switch {
		case n.Ran():
			return 0
		case n.Status == Failed:
			return 1
		case n.Status == Skipped:
			return 2
		}
		return 3
	}
	sort.SliceStable(idx, func(i, j int) bool {
		a, c := &b.Results[idx[i]], &b.Results[idx[j]]
		if ra, rc := rank(a), rank(c); ra != rc {
			return ra < rc
		}
		if a.Ran() && !a.Start.Equal(c.Start) {
			return a.Start.Before(c.Start)
		}
		return a.Recipe < c.Recipe
	})
	return idx
}

func newGantt(b *Build, sc scale, onCrit map[string]bool, crit []string, index map[string]int) gantt {
	g := gantt{Width: chartWidth, PlotX: labelWidth, GridTop: axisHeight - 6}
	order := rowOrder(b)
	g.Height = axisHeight + len(order)*rowHeight + 8
	g.Ticks = ticks(sc)
	for _, ph := range b.Phases {
		x0, x1 := sc.x(ph.Start), sc.x(ph.End)
		bd := band{X: num(x0), W: num(max(x1-x0, 0)), LabelX: num(x0 + 3), Class: "band band-" + cssWord(ph.Name)}
		if x1-x0 >= float64(7*len(ph.Name)+6) { // a label only where it fits
			bd.Label = ph.Name
		}
		g.Bands = append(g.Bands, bd)
	}
	// where nodes that did not run are marked: the end of the up-to-date
	// check, else the start of the run
	settledAt := sc.from
	if p, ok := b.runPhase(CheckPhase); ok {
		settledAt = p.End
	}
	y := map[int]float64{}
	for r, i := range order {
		n := &b.Results[i]
		top := float64(axisHeight + r*rowHeight)
		y[i] = top
		barY := top + (rowHeight-barHeight)/2
		rw := row{ID: rowID(i), Y: num(top), LabelY: num(top + rowHeight/2 + 4), Label: cut(n.Recipe), Title: rowTitle(n)}
		classes := []string{"row", statusClass(n.Status)}
		if onCrit[n.Recipe] {
			classes = append(classes, "critical")
		}
		rw.Class = strings.Join(classes, " ")
		if f, ok := n.Phase(FetchPhase); ok {
			x0, x1 := sc.x(f.Start), sc.x(f.End)
			rw.Bars = append(rw.Bars, seg{X: num(x0), Y: num(barY + 2), W: num(max(x1-x0, 1)), H: num(barHeight - 4), Class: "fetch"})
		}
		if n.Ran() {
			x0, x1 := sc.x(n.Start), sc.x(n.End)
			if n.Wait > 0 {
				wx := max(sc.x(n.Start.Add(-time.Duration(n.Wait*float64(time.Second)))), sc.x0)
				rw.Wait = &seg{X: num(wx), Y: num(top + rowHeight/2), W: num(x0)} // W: the line's end
			}
			rw.Bars = append(rw.Bars, seg{X: num(x0), Y: num(barY), W: num(max(x1-x0, 1.5)), H: num(barHeight), Class: "bar"})
			for _, ph := range n.Phases {
				if ph.Name == FetchPhase {
					continue
				}
				px0, px1 := sc.x(maxTime(ph.Start, n.Start)), sc.x(minTime(ph.End, n.End))
				if px1-px0 < 0.5 {
					continue
				}
				rw.Bars = append(rw.Bars, seg{X: num(px0), Y: num(barY), W: num(px1 - px0), H: num(barHeight), Class: "phase ph-" + cssWord(ph.Name)})
			}
		} else {
			at := settledAt
			if n.Status == Skipped {
				if c, ok := index[n.Cause]; ok && b.Results[c].Ran() {
					at = b.Results[c].End
				}
			}
			x := sc.x(at)
			rw.Marker = &seg{X: num(x), Y: num(top + rowHeight/2)}
		}
		g.Rows = append(g.Rows, rw)
	}
	// the critical chain's links: each bar's end to the next one's start
	var d strings.Builder
	prev := -1
	for _, c := range crit {
		i := index[c]
		if !b.Results[i].Ran() {
			continue
		}
		if prev >= 0 {
			fmt.Fprintf(&d, "M%s %s L%s %s ", num(sc.x(b.Results[prev].End)), num(y[prev]+rowHeight/2),
				num(sc.x(b.Results[i].Start)), num(y[i]+rowHeight/2))
		}
		prev = i
	}
	g.CritPath = strings.TrimSpace(d.String())
	return g
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// cssWord keeps a name usable as part of a class: letters, digits and '-'.
func cssWord(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 24 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		}
	}
	if b.Len() == 0 {
		return "other"
	}
	return b.String()
}

func cut(s string) string {
	if utf8.RuneCountInString(s) <= maxLabel {
		return s
	}
	r := []rune(s)
	return string(r[:maxLabel-1]) + "…"
}

func rowTitle(n *Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", n.Recipe, statusLabel(n.Status))
	if n.Ran() {
		fmt.Fprintf(&b, " in %s", fmtDur(n.Duration()))
	}
	if n.Wait > 0 {
		fmt.Fprintf(&b, ", after waiting %s for a free job", fmtSec(n.Wait))
	}
	for _, p := range n.Phases {
		fmt.Fprintf(&b, "\n  %s %s", p.Name, fmtDur(p.End.Sub(p.Start)))
	}
	if n.Cause != "" {
		fmt.Fprintf(&b, "\n  needs %s, which failed", n.Cause)
	}
	if n.Error != "" {
		e := n.Error
		if i := strings.IndexByte(e, '\n'); i >= 0 {
			e = e[:i]
		}
		fmt.Fprintf(&b, "\n  %s", e)
	}
	return b.String()
}

// ticks are the time axis' marks: at most about 12, at round durations.
func ticks(sc scale) []tick {
	steps := []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if sc.span/s <= 12 {
			step = s
			break
		}
	}
	for sc.span/step > 12 {
		step *= 2
	}
	var out []tick
	for v := 0.0; v <= sc.span+step/1000; v += step {
		out = append(out, tick{X: num(sc.secX(v)), Label: fmtSec(v)})
	}
	return out
}

// newJobsChart draws the jobs in use over time, fetching and building,
// against -j.
func newJobsChart(b *Build, sc scale) jobsChart {
	c := jobsChart{Width: chartWidth, Height: jobsHeight, PlotX: labelWidth, PlotY: 14, PlotBottom: jobsHeight - 24}
	c.Ticks = ticks(sc)
	type ev struct {
		t     time.Time
		delta int
	}
	series := map[string][]ev{}
	for i := range b.Results {
		n := &b.Results[i]
		if n.Ran() {
			series["building"] = append(series["building"], ev{n.Start, 1}, ev{n.End, -1})
		}
		if f, ok := n.Phase(FetchPhase); ok {
			series["fetching"] = append(series["fetching"], ev{f.Start, 1}, ev{f.End, -1})
		}
	}
	type step struct {
		t time.Time
		n int
	}
	steps := map[string][]step{}
	for name, evs := range series {
		sort.SliceStable(evs, func(i, j int) bool {
			if !evs[i].t.Equal(evs[j].t) {
				return evs[i].t.Before(evs[j].t)
			}
			return evs[i].delta < evs[j].delta // ends before starts at one instant
		})
		cur := 0
		for _, e := range evs {
			cur += e.delta
			c.Peak = max(c.Peak, cur)
			if k := len(steps[name]); k > 0 && steps[name][k-1].t.Equal(e.t) {
				steps[name][k-1].n = cur
				continue
			}
			steps[name] = append(steps[name], step{e.t, cur})
		}
	}
	top := max(c.Peak, b.Jobs, 1)
	if b.Jobs > 4*max(c.Peak, 1) { // a -j far above what ran would flatten the chart
		top = max(c.Peak, 1)
	}
	plotH := float64(c.PlotBottom - c.PlotY)
	yOf := func(n int) float64 { return float64(c.PlotBottom) - plotH*float64(n)/float64(top) }
	ystep := 1
	for top/ystep > 6 {
		ystep *= 2
	}
	for v := 0; v <= top; v += ystep {
		c.YTicks = append(c.YTicks, struct{ Y, Label string }{num(yOf(v)), fmt.Sprint(v)})
	}
	for _, name := range []string{"fetching", "building"} {
		st := steps[name]
		if len(st) == 0 {
			continue
		}
		var d strings.Builder
		fmt.Fprintf(&d, "M%s %s", num(sc.x(st[0].t)), num(yOf(0)))
		prev := 0
		for _, s := range st {
			x := num(sc.x(s.t))
			fmt.Fprintf(&d, " L%s %s L%s %s", x, num(yOf(prev)), x, num(yOf(s.n)))
			prev = s.n
		}
		d.WriteString(" Z")
		c.Areas = append(c.Areas, area{Class: "area area-" + name, D: d.String()})
	}
	if b.Jobs > 0 && b.Jobs <= top {
		c.JobsY = num(yOf(b.Jobs))
		c.JobsLabel = fmt.Sprintf("-j %d", b.Jobs)
	}
	return c
}

func slowest(b *Build) []slowRow {
	var idx []int
	for i := range b.Results {
		if b.Results[i].Ran() {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(i, j int) bool {
		a, c := &b.Results[idx[i]], &b.Results[idx[j]]
		if a.Duration() != c.Duration() {
			return a.Duration() > c.Duration()
		}
		return a.Recipe < c.Recipe
	})
	if len(idx) > slowestMax {
		idx = idx[:slowestMax]
	}
	var out []slowRow
	for _, i := range idx {
		n := &b.Results[i]
		r := slowRow{Row: rowID(i), Recipe: n.Recipe, StatusClass: statusClass(n.Status), Status: n.Status,
			Build: fmtDur(n.Duration()), BuildSort: fmt.Sprintf("%.3f", n.Duration().Seconds()),
			Wait: fmtSec(n.Wait), WaitSort: fmt.Sprintf("%.3f", n.Wait), Fetch: "–", FetchSort: "0"}
		var parts []string
		for _, p := range n.Phases {
			if p.Name == FetchPhase {
				r.Fetch, r.FetchSort = fmtDur(p.End.Sub(p.Start)), fmt.Sprintf("%.3f", p.End.Sub(p.Start).Seconds())
				continue
			}
			parts = append(parts, p.Name+" "+fmtDur(p.End.Sub(p.Start)))
		}
		r.Phases = strings.Join(parts, " · ")
		out = append(out, r)
	}
	return out
}

func fmtSec(s float64) string {
	if math.IsNaN(s) || s > 1e9 {
		return "?"
	}
	return fmtDur(time.Duration(math.Round(s*1e6)) * time.Microsecond)
}

// fmtDur is a duration for people: 4.5ms, 250ms, 2.25s, 12.3s, 4m05s, 1h02m.
func fmtDur(d time.Duration) string {
	s := d.Seconds()
	switch {
	case d <= 0:
		return "0s"
	case d < 10*time.Millisecond:
		return trimZero(fmt.Sprintf("%.1f", s*1000)) + "ms"
	case d < time.Second:
		return fmt.Sprintf("%.0fms", math.Round(s*1000))
	case s < 10:
		return trimZero(fmt.Sprintf("%.2f", s)) + "s"
	case s < 60:
		return trimZero(fmt.Sprintf("%.1f", s)) + "s"
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", int(s)/60, int(s)%60)
	}
	return fmt.Sprintf("%dh%02dm", int(s)/3600, int(s)%3600/60)
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// displayed returns a copy of b whose text — names, statuses, paths,
// errors — has its control characters escaped (termtext.Escape; an error
// keeps its line breaks): a report may come from anywhere, and the page
// and its SVG charts must stay well-formed, which U+001E in a recipe name
// would break.
func displayed(b *Build) *Build {
	c := *b
	c.Target = termtext.Escape(b.Target)
	c.Phases = displayedPhases(b.Phases)
	c.Results = make([]Node, len(b.Results))
	for i, n := range b.Results {
		for _, s := range []*string{&n.Recipe, &n.Target, &n.Status, &n.Stage, &n.Package, &n.Key, &n.Output, &n.Log, &n.Cause} {
			*s = termtext.Escape(*s)
		}
		lines := strings.Split(n.Error, "\n")
		for j, l := range lines {
			lines[j] = termtext.Escape(l)
		}
		n.Error = strings.Join(lines, "\n")
		n.Deps = make([]string, len(b.Results[i].Deps))
		for j, d := range b.Results[i].Deps {
			n.Deps[j] = termtext.Escape(d)
		}
		n.Phases = displayedPhases(n.Phases)
		c.Results[i] = n
	}
	return &c
}

func displayedPhases(ps []Phase) []Phase {
	out := make([]Phase, len(ps))
	for i, p := range ps {
		p.Name = termtext.Escape(p.Name)
		out[i] = p
	}
	return out
}
