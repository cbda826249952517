package builder

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redox-cook/cook/cookbook"
)

func node(s string) cookbook.Node { return cookbook.Node{Name: s} }

func jobsOf(edges map[string][]string) []Job {
	var jobs []Job
	for n, deps := range edges {
		j := Job{Node: node(n)}
		for _, d := range deps {
			j.Deps = append(j.Deps, node(d))
		}
		jobs = append(jobs, j)
	}
	sort.Slice(jobs, func(i, k int) bool { return jobs[i].Node.Name < jobs[k].Node.Name })
	return jobs
}

func statuses(out []Outcome) string {
	var s []string
	for _, o := range out {
		s = append(s, o.Node.Name+"="+string(o.Status))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

func TestSchedulerOrderAndFailure(t *testing.T) {
	// app needs lib and tool; lib needs base; other is independent
	edges := map[string][]string{"base": nil, "lib": {"base"}, "tool": nil, "app": {"lib", "tool"}, "other": nil, "top": {"other"}}
	var mu sync.Mutex
	var order []string
	run := func(fail string) func(context.Context, cookbook.Node) (Status, *Result, error) {
		return func(_ context.Context, n cookbook.Node) (Status, *Result, error) {
			mu.Lock()
			order = append(order, n.Name)
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			if n.Name == fail {
				return Failed, nil, errors.New("boom")
			}
			return Built, nil, nil
		}
	}
	s := &Scheduler{Jobs: 2, Run: run("")}
	out := s.Execute(context.Background(), jobsOf(edges))
	if got := statuses(out); got != "app=built base=built lib=built other=built tool=built top=built" {
		t.Fatal(got)
	}
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	for n, deps := range edges {
		for _, d := range deps {
			if pos[d] > pos[n] {
				t.Errorf("%s ran before its dependency %s: %v", n, d, order)
			}
		}
	}

	// keep going: everything not above the failure still builds
	s = &Scheduler{Jobs: 1, KeepGoing: true, Run: run("lib")}
	out = s.Execute(context.Background(), jobsOf(edges))
	if got := statuses(out); got != "app=skipped base=built lib=failed other=built tool=built top=built" {
		t.Fatal(got)
	}
	for _, o := range out {
		if o.Node.Name == "app" && o.Cause.Name != "lib" {
			t.Errorf("app skipped because of %q, want lib", o.Cause)
		}
	}
	// without keep-going nothing new starts after the failure
	order = nil
	s = &Scheduler{Jobs: 1, Run: run("base")}
	out = s.Execute(context.Background(), jobsOf(edges))
	built := 0
	for _, o := range out {
		if o.Status == Built {
			built++
		}
	}
	if built != 0 {
		// base has the longest chain above it, so with one slot it runs first
		t.Errorf("jobs built after the first failure: %s", statuses(out))
	}
}

// TestSchedulerWorkConserving: with two slots, a long job on one side must
// not hold back the short chain on the other (no waves).
func TestSchedulerWorkConserving(t *testing.T) {
	durations := map[string]time.Duration{"long": 300 * time.Millisecond, "a": 50 * time.Millisecond, "b": 50 * time.Millisecond, "c": 50 * time.Millisecond}
	edges := map[string][]string{"long": nil, "a": nil, "b": {"a"}, "c": {"b"}}
	s := &Scheduler{Jobs: 2, Run: func(_ context.Context, n cookbook.Node) (Status, *Result, error) {
		time.Sleep(durations[n.Name])
		return Built, nil, nil
	}}
	start := time.Now()
	s.Execute(context.Background(), jobsOf(edges))
	if d := time.Since(start); d > 450*time.Millisecond {
		t.Errorf("took %v; a work-conserving schedule takes about 300ms", d)
	}
}

// genDAG makes a random layered DAG of n nodes with durations in [lo, hi).
func genDAG(n int, lo, hi time.Duration, seed int64) ([]Job, map[cookbook.Node]time.Duration) {
	rng := rand.New(rand.NewSource(seed))
	dur := map[cookbook.Node]time.Duration{}
	jobs := make([]Job, n)
	for i := range n {
		nd := node(fmt.Sprintf("n%03d", i))
		d := lo + time.Duration(rng.Int63n(int64(hi-lo)))
		dur[nd] = d
		jobs[i] = Job{Node: nd, Weight: d.Seconds()}
		for k := 0; k < 2 && i > 0; k++ {
			if rng.Intn(2) > 0 {
				jobs[i].Deps = append(jobs[i].Deps, jobs[rng.Intn(i)].Node)
			}
		}
	}
	return jobs, dur
}

// lowerBound is max(critical path, total work / jobs).
func lowerBound(jobs []Job, dur map[cookbook.Node]time.Duration, slots int) time.Duration {
	finish := map[cookbook.Node]time.Duration{}
	var total, crit time.Duration
	for _, j := range jobs { // jobs are in topological order
		var start time.Duration
		for _, d := range j.Deps {
			start = max(start, finish[d])
		}
		finish[j.Node] = start + dur[j.Node]
		crit = max(crit, finish[j.Node])
		total += dur[j.Node]
	}
	return max(crit, total/time.Duration(slots))
}

// BenchmarkScheduler runs a generated 200-node graph whose jobs are real
// `sleep` processes of known durations and reports wall time over the lower
// bound max(critical path, total work / jobs). Target: ratio ≤ 1.1 for -j 2
// and -j 8.
func BenchmarkScheduler(b *testing.B) {
	if _, err := exec.LookPath("sleep"); err != nil {
		b.Skip("no sleep")
	}
	jobs, dur := genDAG(200, 50*time.Millisecond, 300*time.Millisecond, 1)
	for _, slots := range []int{2, 8} {
		b.Run(fmt.Sprintf("j%d", slots), func(b *testing.B) {
			bound := lowerBound(jobs, dur, slots)
			var wall time.Duration
			for b.Loop() {
				s := &Scheduler{Jobs: slots, Run: func(ctx context.Context, n cookbook.Node) (Status, *Result, error) {
					err := exec.CommandContext(ctx, "sleep", fmt.Sprintf("%.3f", dur[n].Seconds())).Run()
					return Built, nil, err
				}}
				start := time.Now()
				out := s.Execute(context.Background(), jobs)
				wall += time.Since(start)
				for _, o := range out {
					if o.Status != Built {
						b.Fatalf("%s: %s %v", o.Node, o.Status, o.Err)
					}
				}
			}
			avg := wall / time.Duration(b.N)
			b.ReportMetric(bound.Seconds(), "bound-s")
			b.ReportMetric(avg.Seconds(), "wall-s")
			b.ReportMetric(avg.Seconds()/bound.Seconds(), "ratio")
		})
	}
}

// TestSchedulerWait: a job that is ready while every slot is busy waits, and
// its wait is reported; a job waiting only for its dependency does not.
func TestSchedulerWait(t *testing.T) {
	edges := map[string][]string{"a": nil, "b": nil, "c": {"a"}}
	weights := map[string]float64{"a": 3, "b": 2, "c": 1}
	jobs := jobsOf(edges)
	for i := range jobs {
		jobs[i].Weight = weights[jobs[i].Node.Name]
	}
	s := &Scheduler{Jobs: 1, Run: func(_ context.Context, n cookbook.Node) (Status, *Result, error) {
		time.Sleep(30 * time.Millisecond)
		return Built, nil, nil
	}}
	out := s.Execute(context.Background(), jobs)
	got := map[string]Outcome{}
	for _, o := range out {
		got[o.Node.Name] = o
	}
	// priority: a (3+1) runs first, then b (2) and c (1) are both ready; b wins.
	a, b, c := got["a"], got["b"], got["c"]
	if !(a.End().Compare(b.Start) <= 0 && b.End().Compare(c.Start) <= 0) {
		t.Fatalf("order a, b, c not kept: %v %v %v", a.Start, b.Start, c.Start)
	}
	if a.Wait > 10*time.Millisecond {
		t.Errorf("a waited %v; it started at once", a.Wait)
	}
	if b.Wait < 25*time.Millisecond {
		t.Errorf("b waited %v; it was ready from the start while a ran", b.Wait)
	}
	if c.Wait < 25*time.Millisecond || c.Wait > c.Start.Sub(a.End())+5*time.Millisecond {
		t.Errorf("c waited %v; it was ready when a ended (%v before it started)", c.Wait, c.Start.Sub(a.End()))
	}
	if a.End() != a.Start.Add(a.Duration) || (Outcome{}).End() != (time.Time{}) {
		t.Error("End is not Start+Duration, zero for a job never started")
	}
}
