package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/pkgar"
)

// Record is what the state file keeps of a node's last successful build:
// its action key and the inputs it was computed from, and the digest of what
// it produced.
type Record struct {
	Node     string    `json:"node"`
	Target   string    `json:"target"`
	Key      string    `json:"key"`
	Inputs   Inputs    `json:"inputs"`
	Output   string    `json:"output"`
	Built    time.Time `json:"built"`
	Seconds  float64   `json:"seconds"`
	Hermetic bool      `json:"hermetic"`
}

// statePath is the state file of n: <work>/state/<target>/<name>.json.
func (b *Builder) statePath(n cookbook.Node) string {
	return filepath.Join(b.Work.State(), string(b.TargetOf(n)), n.Name+".json")
}

// Record returns n's last record, or nil when there is none.
func (b *Builder) Record(n cookbook.Node) (*Record, error) {
	data, err := os.ReadFile(b.statePath(n))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		// A damaged record only costs a rebuild.
		return nil, nil
	}
	return &r, nil
}

func (b *Builder) saveRecord(n cookbook.Node, r *Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	p := b.statePath(n)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return pkgar.WriteFileAtomic(p, append(data, '\n'), 0o644)
}

// Forget removes n's record, so that its next build runs.
func (b *Builder) Forget(n cookbook.Node) error {
	err := os.Remove(b.statePath(n))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
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
	return b.outputsPresent(n), in, rec, nil
}

func (b *Builder) outputsPresent(n cookbook.Node) bool {
	r, err := b.Tree.Lookup(n.Name)
	if err != nil {
		return false
	}
	t := string(b.TargetOf(n))
	paths := []string{b.Work.Stage(n.Name, t, ""), b.Work.StageToml(n.Name, t, "")}
	if r.Build.Template != cookbook.TemplateNone {
		paths = append(paths, b.Work.Pkgar(n.Name, t, ""))
		for _, o := range r.OptionalPackages {
			paths = append(paths, b.Work.Stage(n.Name, t, o.Name), b.Work.Pkgar(n.Name, t, o.Name))
		}
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
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
		return Cached, &Result{Node: n, Target: t, Stage: b.Work.Stage(n.Name, string(t), ""),
			Package: b.packagePath(n), Log: b.Work.Log(n.Name, string(t)), Output: rec.Output, Hermetic: rec.Hermetic}, nil
	}
	if rec != nil {
		// the stale record must not survive a failed rebuild
		if err := b.Forget(n); err != nil {
			return Failed, nil, err
		}
	}
	res, err := b.Build(ctx, n)
	if err != nil {
		return Failed, nil, err
	}
	err = b.saveRecord(n, &Record{Node: n.String(), Target: string(t), Key: in.Key(), Inputs: in, Output: res.Output,
		Built: time.Now().UTC(), Seconds: res.Duration.Seconds(), Hermetic: res.Hermetic})
	if err != nil {
		return Failed, nil, err
	}
	return Built, res, nil
}

func (b *Builder) packagePath(n cookbook.Node) string {
	r, err := b.Tree.Lookup(n.Name)
	if err != nil || r.Build.Template == cookbook.TemplateNone {
		return ""
	}
	return b.Work.Pkgar(n.Name, string(b.TargetOf(n)), "")
}
