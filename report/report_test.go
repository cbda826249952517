package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/redox-cook/cook/internal/golden"
)

// recorded is testdata/build.json: a real build (see testdata/record.sh).
func recorded(t testing.TB) *Build {
	t.Helper()
	f, err := os.Open("testdata/build.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := Read(f, "testdata/build.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hostile is a build whose names and texts try to break out of the page.
func hostile() *Build {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	evil := `<script>alert(1)</script>`
	img := `"><img src=x onerror=alert(2)>`
	long := strings.Repeat("very-long-recipe-name-", 5)
	return &Build{Target: `x86_64<b>`, Jobs: 2, Start: t0, Seconds: 3,
		Phases: []Phase{{Name: FetchPhase, Start: at(0), End: at(500)}, {Name: CheckPhase, Start: at(500), End: at(600)}, {Name: `build" onload="x`, Start: at(600), End: at(3000)}},
		Results: []Node{
			{Recipe: evil, Status: Built, Start: at(600), End: at(1800), Phases: []Phase{
				{Name: FetchPhase, Start: at(10), End: at(400)},
				{Name: "sysroot", Start: at(600), End: at(700)}, {Name: `</title><script>alert(3)</script>`, Start: at(700), End: at(1700)}, {Name: "package", Start: at(1700), End: at(1800)}}},
			{Recipe: img, Status: Failed, Start: at(600), End: at(900), Error: "build: </title><script>alert(4)</script>\nmore", Deps: []string{"a&b"}},
			{Recipe: "a&b", Status: Cached},
			{Recipe: "host:it's", Status: RemoteCached, Start: at(1800), End: at(2000), Wait: 0.9, Deps: []string{evil}, Phases: []Phase{{Name: "restore", Start: at(1800), End: at(1990)}}},
			{Recipe: long, Status: `weird" status`, Start: at(2000), End: at(3000), Deps: []string{"host:it's"}},
			{Recipe: "skipped<>", Status: Skipped, Cause: img, Deps: []string{img}},
		}}
}

func render(t *testing.T, b *Build) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// outline is the page's element structure: one line per element with its
// id and classes, no text or coordinates.
func outline(t *testing.T, page []byte) []byte {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	var walk func(n *html.Node, depth int)
	walk = func(n *html.Node, depth int) {
		if n.Type == html.ElementNode {
			line := n.Data
			for _, a := range n.Attr {
				switch a.Key {
				case "id":
					line += "#" + a.Val
				case "class":
					for _, c := range strings.Fields(a.Val) {
						line += "." + c
					}
				}
			}
			fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", depth), line)
			depth++
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, depth)
		}
	}
	walk(doc, 0)
	return b.Bytes()
}

type element struct {
	tag   string
	attrs map[string]string
	text  string
}

// elements lists every element of the page with its attributes and its
// own text.
func elements(t *testing.T, page []byte) []element {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var out []element
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			e := element{tag: n.Data, attrs: map[string]string{}}
			for _, a := range n.Attr {
				e.attrs[a.Key] = a.Val
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.TextNode {
					e.text += c.Data
				}
			}
			out = append(out, e)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

func hasClass(e element, c string) bool {
	for _, f := range strings.Fields(e.attrs["class"]) {
		if f == c {
			return true
		}
	}
	return false
}

// checkSVGs parses every inline <svg> of the page as XML.
func checkSVGs(t *testing.T, page []byte) int {
	t.Helper()
	svgs := regexp.MustCompile(`(?s)<svg\b.*?</svg>`).FindAll(page, -1)
	for _, s := range svgs {
		wellFormed(t, s)
	}
	return len(svgs)
}

func wellFormed(t *testing.T, doc []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}

// TestHTMLRecorded renders the recorded build and checks the page: its
// structure (golden), one Gantt row per node with its status, the critical
// path marked, the slowest table, totals, and nothing loaded from outside.
func TestHTMLRecorded(t *testing.T) {
	b := recorded(t)
	page := render(t, b)
	golden.Check(t, "testdata/build.outline.golden", outline(t, page))
	if n := checkSVGs(t, page); n != 2 {
		t.Errorf("%d inline SVGs, want 2 (Gantt and jobs)", n)
	}
	els := elements(t, page)
	ids := map[string]bool{}
	rows := map[string]element{}
	var critical, slowRows, totals int
	statuses := map[string]int{}
	for _, e := range els {
		if id := e.attrs["id"]; id != "" {
			if ids[id] {
				t.Errorf("id %q used twice", id)
			}
			ids[id] = true
		}
		for _, k := range []string{"src", "href", "xlink:href"} {
			if v, ok := e.attrs[k]; ok && !strings.HasPrefix(v, "#") {
				t.Errorf("<%s %s=%q>: the page must load nothing", e.tag, k, v)
			}
		}
		if e.tag == "link" || e.tag == "script" && e.attrs["src"] != "" {
			t.Errorf("external resource: <%s %v>", e.tag, e.attrs)
		}
		if e.tag == "g" && hasClass(e, "row") {
			rows[e.attrs["id"]] = e
			for _, s := range []string{Built, Cached, RemoteCached, Failed, Skipped} {
				if hasClass(e, "st-"+s) {
					statuses[s]++
				}
			}
			if hasClass(e, "critical") {
				critical++
			}
		}
		if e.tag == "tr" && e.attrs["data-row"] != "" {
			slowRows++
		}
		if e.tag == "div" && strings.HasPrefix(e.attrs["id"], "total-") {
			totals++
		}
	}
	if len(rows) != len(b.Results) {
		t.Errorf("%d Gantt rows, want one per node (%d)", len(rows), len(b.Results))
	}
	want := map[string]int{}
	ran := 0
	for _, n := range b.Results {
		want[n.Status]++
		if n.Ran() {
			ran++
		}
	}
	for s, n := range want {
		if statuses[s] != n {
			t.Errorf("%d rows with status %s, want %d", statuses[s], s, n)
		}
	}
	for _, s := range []string{Built, Cached, RemoteCached, Failed, Skipped} {
		if want[s] == 0 {
			t.Errorf("the recorded build has no %s node; re-record it (testdata/record.sh)", s)
		}
	}
	crit, _ := b.CriticalPath()
	if critical != len(crit) || len(crit) < 2 {
		t.Errorf("%d rows marked critical, critical path %v", critical, crit)
	}
	if slowRows != min(ran, slowestMax) {
		t.Errorf("%d rows in the slowest table, want %d", slowRows, min(ran, slowestMax))
	}
	if totals < 8 {
		t.Errorf("%d totals", totals)
	}
	for _, id := range []string{"gantt-chart", "jobs-chart", "slowest-table", "critical-list", "totals", "gantt-legend"} {
		if !ids[id] {
			t.Errorf("no element #%s", id)
		}
	}
}

// TestHTMLEscapes: names, phases, statuses and errors from a build are
// text, never markup.
func TestHTMLEscapes(t *testing.T) {
	b := hostile()
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	page := render(t, b)
	golden.Check(t, "testdata/hostile.outline.golden", outline(t, page))
	checkSVGs(t, page)
	scripts := 0
	var titles []string
	for _, e := range elements(t, page) {
		switch e.tag {
		case "script":
			scripts++
		case "img", "b":
			t.Errorf("markup from the data became an element: <%s>", e.tag)
		case "title":
			titles = append(titles, e.text)
		}
		for k := range e.attrs {
			if strings.HasPrefix(k, "on") {
				t.Errorf("<%s> has an event handler %s", e.tag, k)
			}
		}
	}
	if scripts != 1 {
		t.Errorf("%d script elements, want cook's one", scripts)
	}
	all := strings.Join(titles, "\n")
	for _, s := range []string{`<script>alert(1)</script>: built`, `"><img src=x onerror=alert(2)>: failed`, `</title><script>alert(3)</script>`, "host:it's"} {
		if !strings.Contains(all, s) {
			t.Errorf("no tooltip shows %q as text", s)
		}
	}
}

// TestCriticalPath: the path is a chain of dependencies, and no chain of
// the recorded build takes longer.
func TestCriticalPath(t *testing.T) {
	b := recorded(t)
	path, total := b.CriticalPath()
	byName := map[string]*Node{}
	for i := range b.Results {
		byName[b.Results[i].Recipe] = &b.Results[i]
	}
	var sum time.Duration
	for i, p := range path {
		sum += byName[p].Duration()
		if i > 0 && !dependsOn(b, byName[p], path[i-1]) {
			t.Errorf("%s does not depend on %s", p, path[i-1])
		}
	}
	if sum != total {
		t.Errorf("path %v adds up to %v, reported %v", path, sum, total)
	}
	// every chain, by brute force
	var longest func(n *Node) time.Duration
	longest = func(n *Node) time.Duration {
		best := time.Duration(0)
		for _, d := range n.Deps {
			best = max(best, longest(byName[d]))
		}
		return best + n.Duration()
	}
	for _, n := range byName {
		if l := longest(n); l > total {
			t.Errorf("the chain ending at %s takes %v, longer than the critical path's %v", n.Recipe, l, total)
		}
	}
	want := []string{"freetype", "fontconfig", "cairo", "terminal"}
	if strings.Join(path, " ") != strings.Join(want, " ") {
		t.Errorf("critical path %v, want %v", path, want)
	}
}

func dependsOn(b *Build, n *Node, dep string) bool {
	// transitively, through nodes that took no time (they are left out)
	seen := map[string]bool{}
	var walk func(m *Node) bool
	walk = func(m *Node) bool {
		for _, d := range m.Deps {
			if d == dep {
				return true
			}
			if seen[d] {
				continue
			}
			seen[d] = true
			for i := range b.Results {
				if b.Results[i].Recipe == d && b.Results[i].Duration() == 0 && walk(&b.Results[i]) {
					return true
				}
			}
		}
		return false
	}
	return walk(n)
}

// traceFile is a trace as a viewer loads it.
type traceFile struct {
	TraceEvents []struct {
		Name string         `json:"name"`
		Cat  string         `json:"cat"`
		Ph   string         `json:"ph"`
		Ts   *float64       `json:"ts"`
		Dur  *float64       `json:"dur"`
		Pid  *int           `json:"pid"`
		Tid  *int           `json:"tid"`
		Args map[string]any `json:"args"`
	} `json:"traceEvents"`
}

// checkTrace loads a trace and checks that its complete slices nest
// properly on every track; it returns the slices by track.
func checkTrace(t *testing.T, data []byte) map[int][][3]string {
	t.Helper()
	var tf traceFile
	if err := json.Unmarshal(data, &tf); err != nil {
		t.Fatalf("trace does not load: %v", err)
	}
	if len(tf.TraceEvents) == 0 {
		t.Fatal("no events")
	}
	type slice struct {
		name       string
		start, end float64
		depth      int
	}
	tracks := map[int][]slice{}
	for _, e := range tf.TraceEvents {
		if e.Ph == "" || e.Ts == nil || e.Pid == nil {
			t.Fatalf("event %q lacks ph, ts or pid", e.Name)
		}
		switch e.Ph {
		case "X":
			if e.Dur == nil || *e.Dur < 0 || *e.Ts < 0 || e.Tid == nil {
				t.Fatalf("slice %q: bad ts/dur/tid", e.Name)
			}
			tracks[*e.Tid] = append(tracks[*e.Tid], slice{name: e.Name, start: *e.Ts, end: *e.Ts + *e.Dur})
		case "M", "C":
		default:
			t.Fatalf("unexpected phase %q", e.Ph)
		}
	}
	out := map[int][][3]string{}
	for tid, ss := range tracks {
		sort.SliceStable(ss, func(i, j int) bool {
			if ss[i].start != ss[j].start {
				return ss[i].start < ss[j].start
			}
			return ss[i].end > ss[j].end
		})
		var stack []slice
		for _, s := range ss {
			// close the slices s is not inside; it may not straddle one
			for len(stack) > 0 {
				top := stack[len(stack)-1]
				if s.start >= top.start && s.end <= top.end {
					break
				}
				if top.end > s.start {
					t.Errorf("track %d: %q [%v,%v] overlaps %q [%v,%v] without nesting in it", tid, s.name, s.start, s.end, top.name, top.start, top.end)
				}
				stack = stack[:len(stack)-1]
			}
			s.depth = len(stack)
			stack = append(stack, s)
			parent := ""
			if s.depth > 0 {
				parent = stack[s.depth-1].name
			}
			out[tid] = append(out[tid], [3]string{s.name, fmt.Sprint(s.depth), parent})
		}
	}
	return out
}

// TestTrace: the recorded build as trace events: golden, nested slices, one
// track per job slot (no more than -j), each node once with its phases
// inside it.
func TestTrace(t *testing.T) {
	b := recorded(t)
	var buf bytes.Buffer
	if err := WriteTrace(&buf, b); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/build.trace.golden.json", buf.Bytes())
	tracks := checkTrace(t, buf.Bytes())
	jobs := 0
	seen := map[string]int{}
	phases := map[string][]string{}
	for tid, ss := range tracks {
		if tid == 0 {
			for _, s := range ss {
				if s[1] != "0" {
					t.Errorf("run phase %s nested", s[0])
				}
			}
			continue
		}
		jobs++
		for _, s := range ss {
			switch s[1] {
			case "0":
				seen[s[0]]++
			case "1":
				phases[s[2]] = append(phases[s[2]], s[0])
			default:
				t.Errorf("slice %s nested %s deep", s[0], s[1])
			}
		}
	}
	if jobs > b.Jobs || jobs == 0 {
		t.Errorf("%d job tracks for -j %d", jobs, b.Jobs)
	}
	for _, n := range b.Results {
		if n.Ran() != (seen[n.Recipe] == 1) {
			t.Errorf("%s (ran: %v) appears %d times", n.Recipe, n.Ran(), seen[n.Recipe])
		}
		var want []string
		for _, p := range n.Phases {
			if p.Name != FetchPhase {
				want = append(want, p.Name)
			}
		}
		if n.Ran() && strings.Join(phases[n.Recipe], " ") != strings.Join(want, " ") {
			t.Errorf("%s: nested phases %v, want %v", n.Recipe, phases[n.Recipe], want)
		}
	}
}

// TestTraceHostile: phases outside their job or overlapping still nest, and
// fetches take job tracks of their own.
func TestTraceHostile(t *testing.T) {
	b := hostile()
	n := &b.Results[0]
	n.Phases = append(n.Phases, Phase{Name: "late", Start: n.End.Add(-time.Second), End: n.End.Add(time.Hour)})
	var buf bytes.Buffer
	if err := WriteTrace(&buf, b); err != nil {
		t.Fatal(err)
	}
	tracks := checkTrace(t, buf.Bytes())
	fetches := 0
	for _, ss := range tracks {
		for _, s := range ss {
			if strings.HasPrefix(s[0], "fetch ") {
				fetches++
			}
		}
	}
	if fetches != 1 {
		t.Errorf("%d fetch slices, want 1", fetches)
	}
}

// TestSlots: spans go to the lowest free slot, in order of start.
func TestSlots(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := func(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }
	b := &Build{Results: []Node{
		{Recipe: "a", Start: s(0), End: s(4)}, // after b: ties go to the one ending first
		{Recipe: "b", Start: s(0), End: s(1)}, // the fetch's slot, free since -0.5
		{Recipe: "c", Start: s(1), End: s(2)}, // b's slot, freed at 1
		{Recipe: "d", Start: s(1.5), End: s(3)},
		{Recipe: "e", Start: s(2), End: s(5), Phases: []Phase{{Name: FetchPhase, Start: s(-1), End: s(-0.5)}}},
	}}
	spans, slot, n := b.slots()
	got := map[string]int{}
	for i, sp := range spans {
		got[sp.kind+":"+sp.name] = slot[i]
	}
	want := map[string]int{"fetch:e": 0, "node:a": 1, "node:b": 0, "node:c": 0, "node:d": 2, "node:e": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) || n != 3 {
		t.Errorf("slots %v (%d), want %v (3)", got, n, want)
	}
}

// TestSlotsManyAtOnce: a crafted build whose nodes all run at once is laid
// out in time proportional to its size, not to its square (200,000 nodes
// took minutes when each span looked through every slot).
func TestSlotsManyAtOnce(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &Build{}
	for i := range 200000 {
		b.Results = append(b.Results, Node{Recipe: fmt.Sprint("n", i), Start: t0, End: t0.Add(time.Hour)})
	}
	done := make(chan int, 1)
	go func() { _, _, n := b.slots(); done <- n }()
	select {
	case n := <-done:
		if n != len(b.Results) {
			t.Errorf("%d slots for %d nodes running at once", n, len(b.Results))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("laying out 200,000 concurrent nodes took over 10 s")
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"syntax", "{\n\"results\": [\n{\"recipe\": \"a\",}\n]}", "x.json:3:"},
		{"type", "{\"results\": [{\"recipe\": 5}]}", "x.json:1:"},
		{"no results", `{"jobs": 2}`, "not the output of cook build --json"},
		{"unnamed", `{"results": [{"status": "built"}]}`, "result 1 names no recipe"},
		{"twice", `{"results": [{"recipe": "a"}, {"recipe": "a"}]}`, "a is listed twice"},
		{"backwards", `{"results": [{"recipe": "a", "start": "2025-01-01T00:00:02Z", "end": "2025-01-01T00:00:01Z"}]}`, "a ends before it starts"},
		{"half", `{"results": [{"recipe": "a", "start": "2025-01-01T00:00:02Z"}]}`, "a has a start or an end but not both"},
		{"phase", `{"results": [{"recipe": "a", "phases": [{"name": "script", "start": "2025-01-01T00:00:02Z", "end": "2025-01-01T00:00:01Z"}]}]}`, `phase "script" ends before it starts`},
		{"unknown dep", `{"results": [{"recipe": "a", "deps": ["b"]}]}`, "a depends on b, which the build does not list"},
		{"cycle", `{"results": [{"recipe": "a", "deps": ["b"]}, {"recipe": "b", "deps": ["a"]}]}`, "depend on each other"},
		{"jobs", `{"jobs": -1, "results": []}`, "jobs -1 is negative"},
		{"wait", `{"results": [{"recipe": "a", "wait": -1}]}`, "wait -1 is not a duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), "x.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want one containing %q and wrapping ErrInvalid", err, tc.want)
			}
		})
	}
}

// TestReadDeepChain: a long dependency chain is checked without recursion.
func TestReadDeepChain(t *testing.T) {
	var b Build
	for i := range 200000 {
		n := Node{Recipe: fmt.Sprint("n", i)}
		if i > 0 {
			n.Deps = []string{fmt.Sprint("n", i-1)}
		}
		b.Results = append(b.Results, n)
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestEmptyBuild: a build with nothing in it still renders.
func TestEmptyBuild(t *testing.T) {
	b, err := Read(strings.NewReader(`{"results": []}`), "empty.json")
	if err != nil {
		t.Fatal(err)
	}
	checkSVGs(t, render(t, b))
	var buf bytes.Buffer
	if err := WriteTrace(&buf, b); err != nil {
		t.Fatal(err)
	}
}

func FuzzRead(f *testing.F) {
	data, err := os.ReadFile("testdata/build.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	h, _ := json.Marshal(hostile())
	f.Add(h)
	f.Add([]byte(`{"results": [{"recipe": "a", "start": "0001-01-01T00:00:01Z", "end": "9999-12-31T23:59:59Z", "wait": 1e308}], "seconds": 1e308, "jobs": 1000000000}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := Read(bytes.NewReader(in), "fuzz.json")
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		var page bytes.Buffer
		if err := WriteHTML(&page, b); err != nil {
			t.Fatal(err)
		}
		for _, s := range regexp.MustCompile(`(?s)<svg\b.*?</svg>`).FindAll(page.Bytes(), -1) {
			d := xml.NewDecoder(bytes.NewReader(s))
			for {
				if _, err := d.Token(); err == io.EOF {
					break
				} else if err != nil {
					t.Fatalf("SVG not well-formed: %v", err)
				}
			}
		}
		var trace bytes.Buffer
		if err := WriteTrace(&trace, b); err != nil {
			t.Fatal(err)
		}
		if !json.Valid(trace.Bytes()) {
			t.Fatal("trace is not JSON")
		}
	})
}

// bigBuild is a build the size of every upstream recipe: 3,500 nodes, a
// few dependencies each, most up to date.
func bigBuild() *Build {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &Build{Jobs: 16, Start: t0, Seconds: 3600}
	for i := range 3500 {
		n := Node{Recipe: fmt.Sprintf("recipe-%04d", i), Status: Cached}
		for k := 1; k <= 3 && i-k*7 >= 0; k++ {
			n.Deps = append(n.Deps, fmt.Sprintf("recipe-%04d", i-k*7))
		}
		if i%5 == 0 {
			n.Status = Built
			n.Start = t0.Add(time.Duration(i) * time.Second)
			n.End = n.Start.Add(time.Duration(1+i%97) * time.Second)
			n.Phases = []Phase{{Name: "sysroot", Start: n.Start, End: n.Start.Add(time.Second / 2)}, {Name: "script", Start: n.Start.Add(time.Second / 2), End: n.End}}
		}
		b.Results = append(b.Results, n)
	}
	return b
}

func BenchmarkWriteHTML(b *testing.B) {
	big := bigBuild()
	for b.Loop() {
		if err := WriteHTML(io.Discard, big); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteTrace(b *testing.B) {
	big := bigBuild()
	for b.Loop() {
		if err := WriteTrace(io.Discard, big); err != nil {
			b.Fatal(err)
		}
	}
}
