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
	slots := max(s.Jobs, 1)
	byNode := make(map[cookbook.Node]*Job, len(jobs))
	for i := range jobs {
		byNode[jobs[i].Node] = &jobs[i]
	}
	dependents := map[cookbook.Node][]cookbook.Node{}
	waiting := map[cookbook.Node]int{}
	for _, j := range jobs {
		for _, d := range j.Deps {
			if _, ok := byNode[d]; ok {
				dependents[d] = append(dependents[d], j.Node)
				waiting[j.Node]++
			}
		}
	}
	prio := priorities(jobs, byNode, dependents)

	ready := &readyQueue{prio: prio}
	readyAt := map[cookbook.Node]time.Time{}
	now := time.Now()
	for _, j := range jobs {
		if waiting[j.Node] == 0 {
			heap.Push(ready, j.Node)
			readyAt[j.Node] = now
		}
	}
	done := make(chan Outcome)
	var out []Outcome
	finished := map[cookbook.Node]bool{}
	skipped := map[cookbook.Node]cookbook.Node{} // node → failed cause
	running := 0
	stopping := false
	for {
		for !stopping && ctx.Err() == nil && running < slots && ready.Len() > 0 {
			n := heap.Pop(ready).(cookbook.Node)
			if _, ok := skipped[n]; ok {
				continue
			}
			running++
			if s.OnStart != nil {
				s.OnStart(n)
			}
			since := readyAt[n]
			go func() {
				start := time.Now()
				st, res, err := s.Run(ctx, n)
				if err != nil && st != Failed {
					st = Failed
				}
				done <- Outcome{Node: n, Status: st, Result: res, Err: err, Start: start, Duration: time.Since(start), Wait: start.Sub(since)}
			}()
		}
		if running == 0 {
			break
		}
		o := <-done
		running--
		finished[o.Node] = true
		out = append(out, o)
		if s.OnFinish != nil {
			s.OnFinish(o)
		}
		if o.Status == Failed {
			if !s.KeepGoing || errors.Is(o.Err, context.Canceled) {
				stopping = true
			}
			// everything above the failure is skipped
			var mark func(n cookbook.Node)
			mark = func(n cookbook.Node) {
				for _, d := range dependents[n] {
					if _, ok := skipped[d]; !ok {
						skipped[d] = o.Node
						mark(d)
					}
				}
			}
			mark(o.Node)
			continue
		}
		for _, d := range dependents[o.Node] {
			waiting[d]--
			if waiting[d] == 0 {
				if _, ok := skipped[d]; !ok {
					heap.Push(ready, d)
					readyAt[d] = time.Now()
				}
			}
		}
	}
	// Jobs that never ran, in a stable order.
	var rest []cookbook.Node
	for _, j := range jobs {
		if !finished[j.Node] {
			rest = append(rest, j.Node)
		}
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].String() < rest[j].String() })
	for _, n := range rest {
		o := Outcome{Node: n, Status: Skipped, Cause: skipped[n]}
		out = append(out, o)
		if s.OnFinish != nil {
			s.OnFinish(o)
		}
	}
	return out
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
