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
	us := func(t time.Time) int64 {
		if t.Before(from) {
			return 0
		}
		return int64(t.Sub(from) / time.Microsecond)
	}
	var ev []TraceEvent
	slice := func(name, cat string, tid int, start, end time.Time, args map[string]any) TraceEvent {
		ts := us(start)
		d := max(us(end)-ts, 0)
		return TraceEvent{Name: name, Cat: cat, Ph: "X", Ts: ts, Dur: &d, Pid: tracePid, Tid: tid, Args: args}
	}
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
	for _, p := range b.Phases {
		ev = append(ev, slice(p.Name, "run", runTid, p.Start, p.End, nil))
	}

	spans, slot, nslots := b.slots()
	for k := range nslots {
		tid := k + 1
		meta = append(meta,
			TraceEvent{Name: "thread_name", Ph: "M", Pid: tracePid, Tid: tid, Args: map[string]any{"name": fmt.Sprintf("job %d", tid)}},
			TraceEvent{Name: "thread_sort_index", Ph: "M", Pid: tracePid, Tid: tid, Args: map[string]any{"sort_index": tid}})
	}
	type count struct {
		t     time.Time
		delta int
		kind  string
	}
	var counts []count
	for i, s := range spans {
		tid := slot[i] + 1
		n := &b.Results[s.node]
		if s.kind == "fetch" {
			ev = append(ev, slice("fetch "+n.Recipe, "fetch", tid, s.start, s.end, map[string]any{"recipe": n.Recipe}))
			counts = append(counts, count{s.start, 1, "fetching"}, count{s.end, -1, "fetching"})
			continue
		}
		args := map[string]any{"recipe": n.Recipe, "status": n.Status, "wait_s": n.Wait}
		if n.Error != "" {
			args["error"] = n.Error
		}
		parent := slice(n.Recipe, n.Status, tid, s.start, s.end, args)
		ev = append(ev, parent)
		end, last := parent.Ts+*parent.Dur, parent.Ts
		for _, p := range n.Phases {
			if p.Name == FetchPhase {
				continue
			}
			// clamped into the job and after the phase before, so the
			// slices nest whatever the data say
			c := slice(p.Name, "phase", tid, p.Start, p.End, nil)
			stop := min(c.Ts+*c.Dur, end)
			c.Ts = min(max(c.Ts, last), end)
			d := max(stop-c.Ts, 0)
			c.Dur = &d
			last = c.Ts + d
			ev = append(ev, c)
		}
		counts = append(counts, count{s.start, 1, "building"}, count{s.end, -1, "building"})
	}
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
		ev = append(ev, TraceEvent{Name: "jobs in use", Ph: "C", Ts: us(c.t), Pid: tracePid, Tid: runTid,
			Args: map[string]any{"building": cur["building"], "fetching": cur["fetching"]}})
	}
	// by time, an enclosing slice before what it encloses
	sort.SliceStable(ev, func(i, j int) bool {
		if ev[i].Ts != ev[j].Ts {
			return ev[i].Ts < ev[j].Ts
		}
		return dur(ev[i]) > dur(ev[j])
	})
	other := map[string]any{"tool": "cook"}
	if !b.Start.IsZero() {
		other["start"] = b.Start.Format(time.RFC3339Nano)
	}
	return &Trace{TraceEvents: append(meta, ev...), DisplayTimeUnit: "ms", OtherData: other}
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
