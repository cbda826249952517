package builder

import (
	"container/heap"
	"context"
	"errors"
	"sort"
	"time"

	"github.com/redox-cook/cook/cookbook"
)

// Job is one node of the graph a Scheduler runs.
type Job struct {
	Node   cookbook.Node
	Deps   []cookbook.Node // nodes that must finish first (within the job set)
	Weight float64         // expected duration in seconds, for the priority
}

// Outcome is how a job ended.
type Outcome struct {
	Node     cookbook.Node
	Status   Status
	Result   *Result
	Err      error
	Start    time.Time
	Duration time.Duration
	// Wait is how long the job was ready (its dependencies done) with no
	// free slot to start in.
	Wait time.Duration
	// Cause names the failed dependency of a skipped job.
	Cause cookbook.Node
}

// End is when the job ended (zero for a job never started).
func (o Outcome) End() time.Time {
	if o.Start.IsZero() {
		return time.Time{}
	}
	return o.Start.Add(o.Duration)
}

// Scheduler runs a DAG of jobs with at most Jobs at a time. It is work
// conserving: a job starts as soon as its dependencies are done and a slot is
// free (no level-by-level waves), and among ready jobs the one with the
// longest remaining path to the end of the graph goes first.
type Scheduler struct {
	Jobs      int
	KeepGoing bool // on failure, skip only the failed job's dependents
	Run       func(ctx context.Context, n cookbook.Node) (Status, *Result, error)
	OnStart   func(n cookbook.Node)
	OnFinish  func(o Outcome)
}

// Execute runs jobs and returns one outcome per job, in the order they ended
// (jobs never started come last, as Skipped). Without KeepGoing, the first
// failure stops new work from starting; running jobs finish. When ctx is
// cancelled nothing new starts and running jobs are expected to return.
func (s *Scheduler) Execute(ctx context.Context, jobs []Job) []Outcome {
	e := newExecution(s, jobs)
	for {
		e.startReady(ctx)
		if e.running == 0 {
			break
		}
		e.finish(<-e.done)
	}
	e.skipRest()
	return e.out
}

// execution is one run of Execute: the job graph and where each job is.
type execution struct {
	s          *Scheduler
	jobs       []Job
	dependents map[cookbook.Node][]cookbook.Node
	waiting    map[cookbook.Node]int // dependencies not finished yet
	ready      *readyQueue
	readyAt    map[cookbook.Node]time.Time
	done       chan Outcome
	running    int
	stopping   bool // no new job starts
	finished   map[cookbook.Node]bool
	skipped    map[cookbook.Node]cookbook.Node // node → failed cause
	out        []Outcome
}

// newExecution links jobs to their dependents and queues the jobs that
// wait for nothing.
func newExecution(s *Scheduler, jobs []Job) *execution {
	byNode := make(map[cookbook.Node]*Job, len(jobs))
	for i := range jobs {
		byNode[jobs[i].Node] = &jobs[i]
	}
	e := &execution{s: s, jobs: jobs, dependents: map[cookbook.Node][]cookbook.Node{}, waiting: map[cookbook.Node]int{},
		readyAt: map[cookbook.Node]time.Time{}, done: make(chan Outcome),
		finished: map[cookbook.Node]bool{}, skipped: map[cookbook.Node]cookbook.Node{}}
	for _, j := range jobs {
		for _, d := range j.Deps {
			if _, ok := byNode[d]; ok {
				e.dependents[d] = append(e.dependents[d], j.Node)
				e.waiting[j.Node]++
			}
		}
	}
	e.ready = &readyQueue{prio: priorities(jobs, byNode, e.dependents)}
	now := time.Now()
	for _, j := range jobs {
		if e.waiting[j.Node] == 0 {
			heap.Push(e.ready, j.Node)
			e.readyAt[j.Node] = now
		}
	}
	return e
}

// startReady starts ready jobs, highest priority first, while slots are
// free, unless stopping or ctx is done.
func (e *execution) startReady(ctx context.Context) {
	slots := max(e.s.Jobs, 1)
	for !e.stopping && ctx.Err() == nil && e.running < slots && e.ready.Len() > 0 {
		n := heap.Pop(e.ready).(cookbook.Node)
		if _, ok := e.skipped[n]; ok {
			continue
		}
		e.running++
		if e.s.OnStart != nil {
			e.s.OnStart(n)
		}
		since := e.readyAt[n]
		go func() {
			start := time.Now()
			st, res, err := e.s.Run(ctx, n)
			if err != nil && st != Failed {
				st = Failed
			}
			e.done <- Outcome{Node: n, Status: st, Result: res, Err: err, Start: start, Duration: time.Since(start), Wait: start.Sub(since)}
		}()
	}
}

// finish records a job's outcome: a failure skips its dependents, a
// success readies those it was the last dependency of.
func (e *execution) finish(o Outcome) {
	e.running--
	e.finished[o.Node] = true
	e.out = append(e.out, o)
	if e.s.OnFinish != nil {
		e.s.OnFinish(o)
	}
	if o.Status == Failed {
		if !e.s.KeepGoing || errors.Is(o.Err, context.Canceled) {
			e.stopping = true
		}
		e.skipAbove(o.Node, o.Node)
		return
	}
	for _, d := range e.dependents[o.Node] {
		e.waiting[d]--
		if e.waiting[d] == 0 {
			if _, ok := e.skipped[d]; !ok {
				heap.Push(e.ready, d)
				e.readyAt[d] = time.Now()
			}
		}
	}
}

// skipAbove marks everything above n as skipped because cause failed.
func (e *execution) skipAbove(n, cause cookbook.Node) {
	for _, d := range e.dependents[n] {
		if _, ok := e.skipped[d]; !ok {
			e.skipped[d] = cause
			e.skipAbove(d, cause)
		}
	}
}

// skipRest reports the jobs that never ran as Skipped, in a stable order.
func (e *execution) skipRest() {
	var rest []cookbook.Node
	for _, j := range e.jobs {
		if !e.finished[j.Node] {
			rest = append(rest, j.Node)
		}
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].String() < rest[j].String() })
	for _, n := range rest {
		o := Outcome{Node: n, Status: Skipped, Cause: e.skipped[n]}
		e.out = append(e.out, o)
		if e.s.OnFinish != nil {
			e.s.OnFinish(o)
		}
	}
}

// priorities gives each job its weight plus the heaviest chain of
// dependents above it: the work that cannot start before it ends.
func priorities(jobs []Job, byNode map[cookbook.Node]*Job, dependents map[cookbook.Node][]cookbook.Node) map[cookbook.Node]float64 {
	prio := make(map[cookbook.Node]float64, len(jobs))
	var visit func(n cookbook.Node) float64
	visit = func(n cookbook.Node) float64 {
		if p, ok := prio[n]; ok {
			return p
		}
		best := 0.0
		for _, d := range dependents[n] {
			best = max(best, visit(d))
		}
		w := byNode[n].Weight
		if w <= 0 {
			w = 1
		}
		prio[n] = w + best
		return prio[n]
	}
	for _, j := range jobs {
		visit(j.Node)
	}
	return prio
}

type readyQueue struct {
	nodes []cookbook.Node
	prio  map[cookbook.Node]float64
}

func (q *readyQueue) Len() int { return len(q.nodes) }
func (q *readyQueue) Less(i, j int) bool {
	pi, pj := q.prio[q.nodes[i]], q.prio[q.nodes[j]]
	if pi != pj {
		return pi > pj
	}
	return q.nodes[i].String() < q.nodes[j].String()
}
func (q *readyQueue) Swap(i, j int) { q.nodes[i], q.nodes[j] = q.nodes[j], q.nodes[i] }
func (q *readyQueue) Push(x any)    { q.nodes = append(q.nodes, x.(cookbook.Node)) }
func (q *readyQueue) Pop() any {
	n := q.nodes[len(q.nodes)-1]
	q.nodes = q.nodes[:len(q.nodes)-1]
	return n
}
