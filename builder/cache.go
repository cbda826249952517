package builder

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/zeebo/blake3"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/internal/fsutil"
)

// RemoteCached nodes were not built: their outputs for the same action key
// came from the action cache (package cache), shared with other work
// directories, machines or CI.
const RemoteCached Status = "remote-cached"

// Outputs names what a build of n writes.
type Outputs struct {
	Dir string // the target directory, holding everything below but the log
	// Stages are the staged trees' package names: "" for the main package,
	// then the optional ones; their trees are at Stage(name).
	Stages []string
	// Files are the other outputs' names in Dir, in the order a build
	// completes them (package metadata last).
	Files []string
	Log   string
	stage func(opt string) string
}

// Stage is the tree of the package opt ("" for the main one).
func (o Outputs) Stage(opt string) string { return o.stage(opt) }

// OutputsOf lists n's outputs.
func (b *Builder) OutputsOf(n cookbook.Node) (Outputs, error) {
	r, err := b.Tree.Lookup(n.Name)
	if err != nil {
		return Outputs{}, err
	}
	t := string(b.TargetOf(n))
	w := b.Work
	o := Outputs{Dir: w.Target(n.Name, t), Stages: append([]string{""}, optionalNames(r)...), Log: w.Log(n.Name, t),
		stage: func(opt string) string { return w.Stage(n.Name, t, opt) }}
	for _, opt := range o.Stages {
		o.Files = append(o.Files, filepath.Base(w.Pkgar(n.Name, t, opt)))
	}
	o.Files = append(o.Files, filepath.Base(w.AutoDeps(n.Name, t)))
	for _, opt := range o.Stages[1:] {
		o.Files = append(o.Files, filepath.Base(w.StageToml(n.Name, t, opt)))
	}
	// stage.toml last: its presence says packaging finished
	o.Files = append(o.Files, filepath.Base(w.StageToml(n.Name, t, "")))
	return o, nil
}

// stagesDigest is the output digest (Result.Output) of n's stage trees
// laid out anywhere: dir gives each package's tree.
func (b *Builder) stagesDigest(ctx context.Context, n cookbook.Node, dir func(opt string) string) (string, error) {
	r, err := b.Tree.Lookup(n.Name)
	if err != nil {
		return "", err
	}
	main, err := fsutil.HashTree(ctx, dir(""), nil)
	if err != nil || len(r.OptionalPackages) == 0 {
		return main, err
	}
	h := blake3.New()
	fmt.Fprintf(h, "=%s\n", main)
	for _, opt := range optionalNames(r) {
		d, err := fsutil.HashTree(ctx, dir(opt), nil)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s=%s\n", opt, d)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// restore asks the action cache for n's outputs and, on a hit, records them
// as a build would have.
func (b *Builder) restore(ctx context.Context, n cookbook.Node, in Inputs) (*Result, bool, error) {
	if b.Cache == nil {
		return nil, false, nil
	}
	key := in.Key()
	got, ok := b.Cache.restore(ctx, b, n, key)
	if !ok {
		return nil, false, nil
	}
	t := b.TargetOf(n)
	b.SetOutput(n, got.output)
	res := &Result{Node: n, Target: t, Stage: b.Work.Stage(n.Name, string(t), ""), Package: b.packagePath(n),
		Log: b.Work.Log(n.Name, string(t)), Output: got.output, Key: key, Hermetic: got.hermetic}
	raw, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return nil, false, err
	}
	if err := fsutil.WriteFileAtomic(b.inputsPath(n), append(raw, '\n'), 0o644); err != nil {
		return nil, false, fmt.Errorf("%s: recording inputs: %w", n, err)
	}
	err = b.saveRecord(n, &Record{Node: n.String(), Target: string(t), Key: key, Output: got.output,
		Built: time.Now().UTC(), Seconds: got.seconds, Hermetic: got.hermetic})
	if err != nil {
		return nil, false, fmt.Errorf("%s: recording restore: %w", n, err)
	}
	return res, true, nil
}

// offer gives a finished build to the action cache.
func (b *Builder) offer(ctx context.Context, n cookbook.Node, res *Result) {
	if b.Cache != nil && !res.Key.IsZero() {
		b.Cache.store(b, n, res)
	}
}
