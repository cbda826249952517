package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

// TraceEvent is one event of the Chrome trace-event format (the JSON object
// form that Perfetto and chrome://tracing open).
type TraceEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"` // X: a complete slice; M: metadata; C: a counter
	Ts   int64          `json:"ts"` // microseconds from the run's start
	Dur  *int64         `json:"dur,omitempty"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

// Trace is a trace file.
type Trace struct {
	TraceEvents     []TraceEvent   `json:"traceEvents"`
	DisplayTimeUnit string         `json:"displayTimeUnit"`
	OtherData       map[string]any `json:"otherData,omitempty"`
}

// trace tracks: the run's phases on one, then one per job slot.
const (
	tracePid = 1
	runTid   = 0
)

// NewTrace lays b out as trace events: the run's phases (fetch, check,
// build) on a track of their own, and one track per job slot holding each
// fetch and each node's job, the job's phases (sysroot, script, package,
// restore) nested inside it as slices; a counter follows the jobs in use.
func NewTrace(b *Build) *Trace {
	from, _ := b.bounds()
	t := &traceBuilder{from: from}
	for _, p := range b.Phases {
		t.ev = append(t.ev, t.slice(p.Name, "run", runTid, p.Start, p.End, nil))
	}
	spans, slot, nslots := b.slots()
	for i, s := range spans {
		tid := slot[i] + 1
		n := &b.Results[s.node]
		if s.kind == "fetch" {
			t.fetch(n, tid, s)
		} else {
			t.job(n, tid, s)
		}
	}
	t.counter()
	// by time, an enclosing slice before what it encloses
	sort.SliceStable(t.ev, func(i, j int) bool {
		if t.ev[i].Ts != t.ev[j].Ts {
			return t.ev[i].Ts < t.ev[j].Ts
		}
		return dur(t.ev[i]) > dur(t.ev[j])
	})
	other := map[string]any{"tool": "cook"}
	if !b.Start.IsZero() {
		other["start"] = b.Start.Format(time.RFC3339Nano)
	}
	return &Trace{TraceEvents: append(traceMeta(b, nslots), t.ev...), DisplayTimeUnit: "ms", OtherData: other}
}

// traceMeta names the process after the run and the tracks: the run's,
// then one per job slot.
func traceMeta(b *Build, nslots int) []TraceEvent {
	title := "cook build"
	if b.Target != "" {
		title += " " + b.Target
	}
	if b.Jobs > 0 {
		title += fmt.Sprintf(" -j %d", b.Jobs)
	}
	meta := []TraceEvent{
		{Name: "process_name", Ph: "M", Pid: tracePid, Args: map[string]any{"name": title}},
		{Name: "thread_name", Ph: "M", Pid: tracePid, Tid: runTid, Args: map[string]any{"name": "run"}},
		{Name: "thread_sort_index", Ph: "M", Pid: tracePid, Tid: runTid, Args: map[string]any{"sort_index": 0}},
	}
	for k := range nslots {
		tid := k + 1
		meta = append(meta,
			TraceEvent{Name: "thread_name", Ph: "M", Pid: tracePid, Tid: tid, Args: map[string]any{"name": fmt.Sprintf("job %d", tid)}},
			TraceEvent{Name: "thread_sort_index", Ph: "M", Pid: tracePid, Tid: tid, Args: map[string]any{"sort_index": tid}})
	}
	return meta
}

// traceBuilder collects a trace's events, in microseconds from the run's
// start, and the changes in the jobs in use.
type traceBuilder struct {
	from   time.Time
	ev     []TraceEvent
	counts []jobCount
}

// jobCount is a job of kind (building or fetching) starting (delta 1) or
// ending (-1) at t.
type jobCount struct {
	t     time.Time
	delta int
	kind  string
}

// us is t in microseconds from the run's start (0 before it).
func (t *traceBuilder) us(at time.Time) int64 {
	if at.Before(t.from) {
		return 0
	}
	return int64(at.Sub(t.from) / time.Microsecond)
}

// slice is a complete slice from start to end on track tid.
func (t *traceBuilder) slice(name, cat string, tid int, start, end time.Time, args map[string]any) TraceEvent {
	ts := t.us(start)
	d := max(t.us(end)-ts, 0)
	return TraceEvent{Name: name, Cat: cat, Ph: "X", Ts: ts, Dur: &d, Pid: tracePid, Tid: tid, Args: args}
}

// fetch adds node n's fetch, span s, on track tid.
func (t *traceBuilder) fetch(n *Node, tid int, s span) {
	t.ev = append(t.ev, t.slice("fetch "+n.Recipe, "fetch", tid, s.start, s.end, map[string]any{"recipe": n.Recipe}))
	t.counts = append(t.counts, jobCount{s.start, 1, "fetching"}, jobCount{s.end, -1, "fetching"})
}

// job adds node n's job, span s, on track tid, with its phases (but the
// fetch) nested inside: clamped into the job and after the phase before,
// so the slices nest whatever the data say.
func (t *traceBuilder) job(n *Node, tid int, s span) {
	args := map[string]any{"recipe": n.Recipe, "status": n.Status, "wait_s": n.Wait}
	if n.Error != "" {
		args["error"] = n.Error
	}
	parent := t.slice(n.Recipe, n.Status, tid, s.start, s.end, args)
	t.ev = append(t.ev, parent)
	end, last := parent.Ts+*parent.Dur, parent.Ts
	for _, p := range n.Phases {
		if p.Name == FetchPhase {
			continue
		}
		c := t.slice(p.Name, "phase", tid, p.Start, p.End, nil)
		stop := min(c.Ts+*c.Dur, end)
		c.Ts = min(max(c.Ts, last), end)
		d := max(stop-c.Ts, 0)
		c.Dur = &d
		last = c.Ts + d
		t.ev = append(t.ev, c)
	}
	t.counts = append(t.counts, jobCount{s.start, 1, "building"}, jobCount{s.end, -1, "building"})
}

// counter adds the "jobs in use" counter: building and fetching, once per
// instant at which they change.
func (t *traceBuilder) counter() {
	counts := t.counts
	sort.SliceStable(counts, func(i, j int) bool {
		if !counts[i].t.Equal(counts[j].t) {
			return counts[i].t.Before(counts[j].t)
		}
		return counts[i].delta < counts[j].delta
	})
	cur := map[string]int{"building": 0, "fetching": 0}
	for i, c := range counts {
		cur[c.kind] += c.delta
		if i+1 < len(counts) && counts[i+1].t.Equal(c.t) {
			continue
		}
		t.ev = append(t.ev, TraceEvent{Name: "jobs in use", Ph: "C", Ts: t.us(c.t), Pid: tracePid, Tid: runTid,
			Args: map[string]any{"building": cur["building"], "fetching": cur["fetching"]}})
	}
}

func dur(e TraceEvent) int64 {
	if e.Dur == nil {
		return 0
	}
	return *e.Dur
}

// WriteTrace writes b as Chrome trace-event JSON.
func WriteTrace(w io.Writer, b *Build) error {
	enc := json.NewEncoder(w)
	return enc.Encode(NewTrace(b))
}
