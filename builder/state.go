package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/triple"
)

// Limits of the state files cook reads whole (a file over its limit, or no
// regular file, is not read).
const (
	maxStateFile  = 64 << 20 // <work>/state/<target>.json: a record per recipe
	maxInputsFile = 16 << 20 // <work>/state/<target>/<name>.inputs.json
)

// ErrInputsDamaged is the error (wrapped) of ReadInputs for a recorded
// inputs file that is not what cook wrote.
var ErrInputsDamaged = errors.New("the recorded inputs are damaged")

// ReadInputs reads the inputs recorded at the last build. A missing file is
// an fs.ErrNotExist error; one that is no regular file or over
// maxInputsFile wraps fsutil.ErrNotRegular or fsutil.ErrTooLarge; a file
// that does not hold inputs is ErrInputsDamaged.
func (r *Record) ReadInputs() (Inputs, error) {
	data, _, err := fsutil.ReadRegular(r.inputs, maxInputsFile)
	if err != nil {
		return nil, err
	}
	var in Inputs
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", r.inputs, ErrInputsDamaged, err)
	}
	if len(in) == 0 {
		return nil, fmt.Errorf("%s: %w: no inputs in it", r.inputs, ErrInputsDamaged)
	}
	return in, nil
}

// inputsPath is where n's recorded inputs live.
func (b *Builder) inputsPath(n cookbook.Node) string {
	return filepath.Join(b.Work.State(), string(b.TargetOf(n)), n.Name+".inputs.json")
}

// Record is what the state file keeps of a node's last successful build:
// its action key and the inputs it was computed from, and the digest of what
// it produced.
type Record struct {
	Node   string          `json:"node"`
	Target string          `json:"target"`
	Key    cache.ActionKey `json:"key"`
	// inputs is where the inputs the key was computed from are kept: a
	// file of their own, read only by ReadInputs, since a no-op build needs just
	// the keys.
	inputs   string
	Output   string    `json:"output"`
	Built    time.Time `json:"built"`
	Seconds  float64   `json:"seconds"`
	Hermetic bool      `json:"hermetic"`
}

// stateFile is the state of one target: every node's last record, in one
// JSON file (<work>/state/<target>.json) read once per run and rewritten
// atomically. Losing a record only costs a rebuild, never a wrong result.
type stateFile struct {
	mu      sync.Mutex
	path    string
	loaded  bool
	records map[string]*Record
	dirty   bool
	flushed time.Time
}

func (b *Builder) stateOf(n cookbook.Node) *stateFile { return b.stateOfTarget(b.TargetOf(n)) }

// stateOfTarget is the state file of the target t.
func (b *Builder) stateOfTarget(tt triple.Triple) *stateFile {
	t := string(tt)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.states == nil {
		b.states = map[string]*stateFile{}
	}
	st, ok := b.states[t]
	if !ok {
		st = &stateFile{path: filepath.Join(b.Work.State(), t+".json")}
		b.states[t] = st
	}
	return st
}

// load reads the file once (mu held). A damaged file is treated as empty,
// and so is one that is no regular file or over maxStateFile.
func (st *stateFile) load() {
	if st.loaded {
		return
	}
	st.loaded = true
	st.records = map[string]*Record{}
	data, _, err := fsutil.ReadRegular(st.path, maxStateFile)
	if err != nil {
		return
	}
	var recs map[string]*Record
	if json.Unmarshal(data, &recs) == nil && recs != nil {
		st.records = recs
	}
}

// flush writes the file if it changed (mu held).
func (st *stateFile) flush() error {
	if !st.dirty {
		return nil
	}
	data, err := json.MarshalIndent(st.records, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(st.path), 0o755); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(st.path, append(data, '\n'), 0o644); err != nil {
		return err
	}
	st.dirty = false
	st.flushed = time.Now()
	return nil
}

// Record returns n's last record, or nil when there is none.
func (b *Builder) Record(n cookbook.Node) (*Record, error) {
	st := b.stateOf(n)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.load()
	r := st.records[n.String()]
	if r != nil && r.inputs == "" {
		r.inputs = b.inputsPath(n)
	}
	return r, nil
}

// saveRecord stores n's record; the file is rewritten at most once a second
// during a run, and by Flush at its end.
func (b *Builder) saveRecord(n cookbook.Node, r *Record) error {
	st := b.stateOf(n)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.load()
	st.records[n.String()] = r
	st.dirty = true
	if time.Since(st.flushed) > time.Second {
		return st.flush()
	}
	return nil
}

// Forget removes n's record, so that its next build runs.
func (b *Builder) Forget(n cookbook.Node) error {
	st := b.stateOf(n)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.load()
	if _, ok := st.records[n.String()]; ok {
		delete(st.records, n.String())
		st.dirty = true
		return st.flush()
	}
	return nil
}

// Flush writes every changed state file. Call it when a run ends.
func (b *Builder) Flush() error {
	b.mu.Lock()
	states := make([]*stateFile, 0, len(b.states))
	for _, st := range b.states {
		states = append(states, st)
	}
	b.mu.Unlock()
	var errs []error
	for _, st := range states {
		st.mu.Lock()
		errs = append(errs, st.flush())
		st.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Status is what Ensure did for a node.
type Status string

const (
	Built  Status = "built"
	Cached Status = "cached"
	Failed Status = "failed"
	// Skipped nodes were not attempted: a dependency failed or the run stopped.
	Skipped Status = "skipped"
)

// Check reports whether n is up to date: its inputs' key equals the
// recorded one and its outputs are still in place. It returns the inputs and
// the record either way (the record is nil when there is none).
func (b *Builder) Check(ctx context.Context, n cookbook.Node) (upToDate bool, in Inputs, rec *Record, err error) {
	return b.check(ctx, n, b.outputsPresent)
}

func (b *Builder) check(ctx context.Context, n cookbook.Node, present func(cookbook.Node) bool) (upToDate bool, in Inputs, rec *Record, err error) {
	in, err = b.Inputs(ctx, n)
	if err != nil {
		return false, nil, nil, err
	}
	rec, err = b.Record(n)
	if err != nil || rec == nil {
		return false, in, rec, err
	}
	if rec.Key != in.Key() {
		return false, in, rec, nil
	}
	return present(n), in, rec, nil
}

func (b *Builder) outputsPresent(n cookbook.Node) bool {
	r, err := b.Tree.Lookup(n.Name)
	if err != nil {
		return false
	}
	t := string(b.TargetOf(n))
	// A record is saved only after a build finished, and stage.toml is the
	// last file a build writes (after the stage and the archive), so its
	// presence says the outputs are in place; this catches a target
	// directory removed behind cook's back with one stat per package.
	paths := []string{b.Work.StageToml(n.Name, t, "")}
	for _, o := range r.OptionalPackages {
		paths = append(paths, b.Work.StageToml(n.Name, t, o.Name))
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// Settled returns the nodes of order (dependencies first) that are already
// up to date, as Cached results, without starting any job. A node is settled
// when its action key matches its record, its outputs are in place and every
// one of its dependencies (deps) is settled. A no-op build is this alone;
// the scheduler gets only the rest.
//
// The checks are independent — a node's inputs use its dependencies'
// recorded output digests — so they run in parallel, in two passes over
// the nodes (records and outputs in place, then inputs); whether a
// dependency is settled is decided afterwards, in order.
func (b *Builder) Settled(ctx context.Context, order []cookbook.Node, deps func(cookbook.Node) []cookbook.Node) map[cookbook.Node]*Result {
	// The toolchains' identities (found on the PATH, a stat per tool) are
	// needed by the second pass only: they are found during the first.
	var found sync.WaitGroup
	for _, t := range b.targetsOf(order) {
		found.Add(1)
		go func() {
			defer found.Done()
			if tc, err := b.Toolchain(ctx, t); err == nil {
				tc.Identity()
			}
		}()
	}
	// The state files are read meanwhile too: the first pass stats first.
	for _, t := range b.targetsOf(order) {
		st := b.stateOfTarget(t)
		found.Add(1)
		go func() {
			defer found.Done()
			st.mu.Lock()
			st.load()
			st.mu.Unlock()
		}()
	}
	// Outputs in place (a stat each; latency-bound) and recorded digests.
	recs := make([]*Record, len(order))
	parallel(ctx, len(order), func(i int) {
		n := order[i]
		if !b.outputsPresent(n) {
			return
		}
		if rec, _ := b.Record(n); rec != nil {
			recs[i] = rec
		}
	})
	b.mu.Lock()
	if b.outputs == nil {
		b.outputs = make(map[cookbook.Node]string, len(order))
	}
	for i, rec := range recs {
		if rec != nil {
			b.outputs[order[i]] = rec.Output
		}
	}
	b.mu.Unlock()
	found.Wait()
	// The inputs' keys against the recorded ones.
	ok := make([]bool, len(order))
	parallel(ctx, len(order), func(i int) {
		if recs[i] == nil {
			return
		}
		key, err := b.inputKey(ctx, order[i])
		ok[i] = err == nil && key == recs[i].Key
	})

	settled := make(map[cookbook.Node]*Result, len(order))
	for i, n := range order {
		if ctx.Err() != nil || !ok[i] {
			continue
		}
		ready := true
		for _, d := range deps(n) {
			if settled[d] == nil {
				ready = false
				break
			}
		}
		if !ready {
			continue
		}
		settled[n] = b.cachedResult(n, recs[i])
	}
	return settled
}

// targetsOf lists the triples nodes are built for.
func (b *Builder) targetsOf(nodes []cookbook.Node) []triple.Triple {
	var out []triple.Triple
	for _, n := range nodes {
		if t := b.TargetOf(n); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// parallel calls f for 0 ≤ i < n on a few goroutines (more than the CPUs:
// the work is mostly small system calls), taking indices a few at a time,
// until ctx ends.
func parallel(ctx context.Context, n int, f func(i int)) {
	const batch = 8
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(8, (n+batch-1)/batch) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				start := int(next.Add(batch)) - batch
				if start >= n {
					return
				}
				for i := start; i < min(start+batch, n); i++ {
					f(i)
				}
			}
		}()
	}
	wg.Wait()
}

// Ensure brings n up to date: nothing happens when its action key matches
// the recorded one (Cached), else it is built and recorded (Built). When a
// rebuild produces the digest recorded before, dependents' keys do not
// change and they stay cached: the early cutoff.
func (b *Builder) Ensure(ctx context.Context, n cookbook.Node) (Status, *Result, error) {
	ok, in, rec, err := b.Check(ctx, n)
	if err != nil {
		return Failed, nil, fmt.Errorf("%s: %w", n, err)
	}
	t := b.TargetOf(n)
	if ok {
		b.SetOutput(n, rec.Output)
		return Cached, b.cachedResult(n, rec), nil
	}
	if rec != nil {
		// the stale record must not survive a failed rebuild
		if err := b.Forget(n); err != nil {
			return Failed, nil, err
		}
	}
	restoring := time.Now()
	if res, ok, err := b.restore(ctx, n, in); ok || err != nil {
		if err != nil {
			return Failed, nil, err
		}
		res.Phases = []Phase{{Name: "restore", Start: restoring, End: time.Now()}}
		return RemoteCached, res, nil
	}
	res, err := b.Build(ctx, n)
	if err != nil {
		return Failed, nil, err
	}
	res.Key = in.Key()
	raw, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return Failed, nil, err
	}
	if err := os.MkdirAll(filepath.Dir(b.inputsPath(n)), 0o755); err != nil {
		return Failed, nil, err
	}
	if err := fsutil.WriteFileAtomic(b.inputsPath(n), append(raw, '\n'), 0o644); err != nil {
		return Failed, nil, err
	}
	err = b.saveRecord(n, &Record{Node: n.String(), Target: string(t), Key: in.Key(), Output: res.Output,
		Built: time.Now().UTC(), Seconds: res.Duration.Seconds(), Hermetic: res.Hermetic})
	if err != nil {
		return Failed, nil, err
	}
	b.offer(ctx, n, res)
	return Built, res, nil
}

// cachedResult describes n as found up to date, from its record.
func (b *Builder) cachedResult(n cookbook.Node, rec *Record) *Result {
	t := b.TargetOf(n)
	return &Result{Node: n, Target: t, Stage: b.Work.Stage(n.Name, string(t), ""), Package: b.packagePath(n),
		Log: b.Work.Log(n.Name, string(t)), Output: rec.Output, Hermetic: rec.Hermetic, Key: rec.Key}
}

func (b *Builder) packagePath(n cookbook.Node) string {
	r, err := b.Tree.Lookup(n.Name)
	if err != nil || r.Build.Template == cookbook.TemplateNone {
		return ""
	}
	return b.Work.Pkgar(n.Name, string(b.TargetOf(n)), "")
}

// Changes says why a node whose inputs are in, and whose last build is rec,
// is not up to date: never built, the inputs that changed since its record,
// or, when the inputs are all the same, that its outputs are gone. A record
// whose inputs file is missing or damaged is said to be so, rather than
// every input being listed as new.
func (in Inputs) Changes(rec *Record) []string {
	if rec == nil {
		return []string{"never built"}
	}
	keys := fmt.Sprintf("action key %.16s → %.16s", rec.Key, in.Key())
	if rec.Key == in.Key() {
		keys = "the action key is unchanged"
	}
	old, err := rec.ReadInputs()
	switch {
	case errors.Is(err, ErrInputsDamaged):
		return []string{fmt.Sprintf("%v; which input changed cannot be told (%s)", err, keys)}
	case errors.Is(err, fs.ErrNotExist):
		return []string{fmt.Sprintf("the inputs of the last build were not recorded: which input changed cannot be told (%s)", keys)}
	case err != nil:
		return []string{fmt.Sprintf("reading the inputs of the last build: %v (%s)", err, keys)}
	}
	if d := in.Diff(old); len(d) > 0 {
		return d
	}
	if rec.Key != in.Key() {
		return []string{keys}
	}
	return []string{"outputs missing from the work directory"}
}
