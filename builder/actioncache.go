package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/workdir"
)

// entryPath is the output file of an action result naming cook's entry.
const entryPath = "cook/entry.json"

// Entry is what the action cache keeps for one build, as a CAS blob named
// by the action result (whose other output files are the same blobs, so
// that a bazel-remote checks they are all present before answering).
type Entry struct {
	Version  int             `json:"version"`
	Node     string          `json:"node"`
	Target   string          `json:"target"`
	Key      cache.ActionKey `json:"key"`
	Output   string          `json:"output"`
	Hermetic bool            `json:"hermetic"`
	Seconds  float64         `json:"seconds"`
	// Stages are the staged trees as tar streams, by package ("" is main).
	Stages []StageBlob `json:"stages"`
	// Files are the other outputs in the target directory.
	Files []FileBlob    `json:"files"`
	Log   *cache.Digest `json:"log,omitempty"`
}

// StageBlob is one staged tree.
type StageBlob struct {
	Package string       `json:"package"`
	Tar     cache.Digest `json:"tar"`
}

// FileBlob is one output file.
type FileBlob struct {
	Name   string       `json:"name"`
	Mode   os.FileMode  `json:"mode"`
	Digest cache.Digest `json:"digest"`
}

const entryVersion = 1

// maxEntry bounds what is read of an entry.
const maxEntry = 16 << 20

// ActionCache shares builds through an action cache (package cache): before
// a node is built its outputs for the same action key are restored when
// the cache has them — everything verified (blob hashes, the restored
// trees' output digest, the packages against the trusted key) before a
// single output is put in place — and every finished build is stored in
// the background, a few at a time, until Flush. A cache that is wrong, slow
// or unreachable is a miss, never an error.
type ActionCache struct {
	c       *cache.Cache
	warn    func(string)
	uploads chan struct{}
	tmp     string

	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	hits, misses, stored, failedStores atomic.Int64
}

// ActionCacheOption configures an ActionCache.
type ActionCacheOption func(*ActionCache) error

// WithUploads bounds the concurrent background stores (default 4).
func WithUploads(n int) ActionCacheOption {
	return func(a *ActionCache) error {
		if n < 1 {
			return fmt.Errorf("action cache: uploads must be at least 1")
		}
		a.uploads = make(chan struct{}, n)
		return nil
	}
}

// WithWarnings receives one-line warnings (damaged entries, failed uploads).
func WithWarnings(f func(string)) ActionCacheOption {
	return func(a *ActionCache) error { a.warn = f; return nil }
}

// WithTempDir sets where stage archives are written before upload (default
// the system's).
func WithTempDir(dir string) ActionCacheOption {
	return func(a *ActionCache) error { a.tmp = dir; return nil }
}

// NewActionCache shares builds through store.
func NewActionCache(store cache.Store, opts ...ActionCacheOption) (*ActionCache, error) {
	a := &ActionCache{c: cache.New(store), uploads: make(chan struct{}, 4), warn: func(string) {}}
	for _, o := range opts {
		if err := o(a); err != nil {
			return nil, err
		}
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

// CacheCounts are what an ActionCache did in a run.
type CacheCounts struct {
	Hits, Misses, Stored, FailedStores int64
}

// Counts reports hits, misses and stores so far.
func (a *ActionCache) Counts() CacheCounts {
	return CacheCounts{a.hits.Load(), a.misses.Load(), a.stored.Load(), a.failedStores.Load()}
}

// Flush waits for the background stores; when ctx ends first, they are
// abandoned (a store that did not finish leaves no action entry).
func (a *ActionCache) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		a.cancel()
		<-done
		return fmt.Errorf("action cache: uploads abandoned: %w", ctx.Err())
	}
}

// restored is what a restore brought back of the original build.
type restored struct {
	output   string
	hermetic bool
	seconds  float64
}

// restore brings n's outputs for key back from the cache, or reports a miss.
func (a *ActionCache) restore(ctx context.Context, b *Builder, n cookbook.Node, key cache.ActionKey) (restored, bool) {
	e, err := a.restoreOutputs(ctx, b, n, key)
	if err != nil {
		a.misses.Add(1)
		if !errors.Is(err, cache.ErrNotFound) && !errors.Is(err, cache.ErrUnavailable) && ctx.Err() == nil {
			a.warn(fmt.Sprintf("warning: action cache: %s: %v; building it", n, err))
		}
		return restored{}, false
	}
	a.hits.Add(1)
	return restored{output: e.Output, hermetic: e.Hermetic, seconds: e.Seconds}, true
}

// readEntry reads and checks the entry recorded for key.
func (a *ActionCache) readEntry(ctx context.Context, n cookbook.Node, t string, key cache.ActionKey) (*Entry, error) {
	ar, err := a.c.Action(ctx, key)
	if err != nil {
		return nil, err
	}
	f, ok := ar.File(entryPath)
	if !ok {
		return nil, fmt.Errorf("action result names no %s", entryPath)
	}
	raw, err := a.c.SmallBlob(ctx, f.Digest, maxEntry)
	if err != nil {
		return nil, fmt.Errorf("entry: %w", err)
	}
	var e Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("entry: %w", err)
	}
	if e.Version != entryVersion || e.Key != key || e.Node != n.String() || e.Target != t {
		return nil, fmt.Errorf("entry is for %s %s %s (version %d), not this build", e.Node, e.Target, e.Key, e.Version)
	}
	return &e, nil
}

// restoreOutputs fetches every output of n into temporaries beside their
// destinations, verifies them all, then puts them in place.
func (a *ActionCache) restoreOutputs(ctx context.Context, b *Builder, n cookbook.Node, key cache.ActionKey) (*Entry, error) {
	out, err := b.OutputsOf(n)
	if err != nil {
		return nil, err
	}
	e, err := a.readEntry(ctx, n, string(b.TargetOf(n)), key)
	if err != nil {
		return nil, err
	}
	if len(e.Stages) != len(out.Stages) {
		return nil, fmt.Errorf("entry has %d stages, the recipe %d", len(e.Stages), len(out.Stages))
	}
	r := &restoration{c: a.c, out: out, e: e, stageTmp: map[string]string{}, fileTmp: map[string]string{}}
	defer r.removeTemps()
	if err := r.clearInterrupted(); err != nil {
		return nil, err
	}
	if err := r.fetchStages(ctx); err != nil {
		return nil, err
	}
	got, err := b.stagesDigest(ctx, n, func(opt string) string { return r.stageTmp[opt] })
	if err != nil {
		return nil, err
	}
	if got != e.Output {
		return nil, fmt.Errorf("restored stages hash to %s, the entry says %s", got, e.Output)
	}
	if err := r.fetchFiles(ctx); err != nil {
		return nil, err
	}
	// the packages must be this builder's, and hold exactly the stages
	if err := b.verifyPackages(ctx, n, r.stageTmp, r.fileTmp); err != nil {
		return nil, err
	}
	if e.Log != nil {
		if r.logTmp, err = r.fetchFile(ctx, out.Log, *e.Log, 0o644); err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
	}
	if err := r.putInPlace(); err != nil {
		return nil, err
	}
	return e, nil
}

// restoration is one restore of a node's outputs: its entry, and the
// temporaries beside each destination that the outputs are fetched to.
type restoration struct {
	c     *cache.Cache
	out   Outputs
	e     *Entry
	temps []string // removed at the end; those put in place are gone by then
	// stageTmp holds the restored stages by package, fileTmp the other
	// outputs by name, and logTmp the log ("" when it has none).
	stageTmp, fileTmp map[string]string
	logTmp            string
}

// clearInterrupted makes the output directory and removes what an
// interrupted restore of this node left in it.
func (r *restoration) clearInterrupted() error {
	if err := os.MkdirAll(r.out.Dir, 0o755); err != nil {
		return err
	}
	if old, _ := filepath.Glob(filepath.Join(r.out.Dir, ".restore-*")); len(old) > 0 {
		for _, p := range old {
			workdir.RemoveAll(p)
		}
	}
	return nil
}

func (r *restoration) removeTemps() {
	for _, p := range r.temps {
		workdir.RemoveAll(p)
	}
}

// fetchStages unpacks each of the entry's stages, which must be the
// recipe's, into a temporary directory.
func (r *restoration) fetchStages(ctx context.Context) error {
	want := map[string]bool{}
	for _, s := range r.out.Stages {
		want[s] = true
	}
	for _, s := range r.e.Stages {
		if !want[s.Package] || r.stageTmp[s.Package] != "" {
			return fmt.Errorf("entry has an unexpected or repeated stage %q", s.Package)
		}
		dir, err := os.MkdirTemp(r.out.Dir, ".restore-stage-")
		if err != nil {
			return err
		}
		r.temps = append(r.temps, dir)
		r.stageTmp[s.Package] = dir
		err = r.c.Blob(ctx, s.Tar, func(rd io.Reader) error { return readTree(rd, dir) })
		if err != nil {
			return fmt.Errorf("%s: %w", stageLabel(s.Package), err)
		}
	}
	return nil
}

// fetchFiles fetches each of the entry's files, which must be outputs of
// the recipe, into a temporary file.
func (r *restoration) fetchFiles(ctx context.Context) error {
	want := map[string]bool{}
	for _, f := range r.out.Files {
		want[f] = true
	}
	for _, fb := range r.e.Files {
		if !want[fb.Name] || r.fileTmp[fb.Name] != "" {
			return fmt.Errorf("entry has an unexpected file %q", fb.Name)
		}
		p, err := r.fetchFile(ctx, filepath.Join(r.out.Dir, fb.Name), fb.Digest, fb.Mode)
		if err != nil {
			return fmt.Errorf("%s: %w", fb.Name, err)
		}
		r.fileTmp[fb.Name] = p
	}
	return nil
}

// fetchFile fetches blob d into a temporary beside dst, with mode, and
// returns its path.
func (r *restoration) fetchFile(ctx context.Context, dst string, d cache.Digest, mode os.FileMode) (string, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".restore-*")
	if err != nil {
		return "", err
	}
	r.temps = append(r.temps, f.Name())
	err = r.c.Blob(ctx, d, func(rd io.Reader) error { _, err := io.Copy(f, rd); return err })
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), mode&keepMode)
	}
	return f.Name(), err
}

// putInPlace renames the verified temporaries over their destinations:
// stages first, then the files in the order a build completes them.
func (r *restoration) putInPlace() error {
	out := r.out
	for _, s := range out.Stages {
		if err := workdir.RemoveAll(out.Stage(s)); err != nil {
			return err
		}
		if err := os.Rename(r.stageTmp[s], out.Stage(s)); err != nil {
			return err
		}
	}
	for _, name := range out.Files {
		if p := r.fileTmp[name]; p != "" {
			if err := os.Rename(p, filepath.Join(out.Dir, name)); err != nil {
				return err
			}
		}
	}
	if r.logTmp != "" {
		if err := os.Rename(r.logTmp, out.Log); err != nil {
			return err
		}
	}
	return nil
}

// verifyPackages checks each restored package (files, by output name)
// against its restored stage (by package) and the builder's key: a package
// signed by anyone else, or whose files differ from the stage, is refused.
func (b *Builder) verifyPackages(ctx context.Context, n cookbook.Node, stages, files map[string]string) error {
	if b.Key == nil {
		return nil
	}
	t := string(b.TargetOf(n))
	for opt, dir := range stages {
		p, ok := files[filepath.Base(b.Work.Pkgar(n.Name, t, opt))]
		if !ok {
			continue // a meta package has no archive
		}
		if err := pkgar.VerifyStage(ctx, p, dir, b.Key.Public()); err != nil {
			return fmt.Errorf("%s: package: %w", stageLabel(opt), err)
		}
	}
	return nil
}

// stageLabel names a stage in messages: "the main stage" or "stage dev".
func stageLabel(opt string) string {
	if opt == "" {
		return "the main stage"
	}
	return fmt.Sprintf("stage %q", opt)
}

// store offers a finished build: its outputs are archived and uploaded in
// the background.
func (a *ActionCache) store(b *Builder, n cookbook.Node, res *Result) {
	out, err := b.OutputsOf(n)
	if err != nil {
		return
	}
	e := &Entry{Version: entryVersion, Node: n.String(), Target: string(b.TargetOf(n)), Key: res.Key,
		Output: res.Output, Hermetic: res.Hermetic, Seconds: res.Duration.Seconds()}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		select {
		case a.uploads <- struct{}{}:
		case <-a.ctx.Done():
			return
		}
		defer func() { <-a.uploads }()
		if err := a.upload(a.ctx, b, n, out, e); err != nil {
			a.failedStores.Add(1)
			if !errors.Is(err, cache.ErrUnavailable) && a.ctx.Err() == nil {
				a.warn(fmt.Sprintf("warning: action cache: storing %s: %v", n, err))
			}
			return
		}
		a.stored.Add(1)
	}()
}

// putFile uploads a file as a blob.
func (a *ActionCache) putFile(ctx context.Context, p string) (cache.Digest, error) {
	f, err := os.Open(p)
	if err != nil {
		return cache.Digest{}, err
	}
	defer f.Close()
	d, err := a.c.PutBlob(ctx, f)
	if err != nil {
		return cache.Digest{}, fmt.Errorf("upload %s: %w", filepath.Base(p), err)
	}
	return d, nil
}

// upload stores n's outputs as blobs, the entry, and the action result
// naming them, in that order.
func (a *ActionCache) upload(ctx context.Context, b *Builder, n cookbook.Node, out Outputs, e *Entry) error {
	// the stages as tar streams in temp files, hashed as they are written
	for _, s := range out.Stages {
		f, err := os.CreateTemp(a.tmp, "cook-stage-*.tar")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		h := sha256.New()
		cw := &countWriter{}
		if err := writeTree(ctx, io.MultiWriter(f, h, cw), out.Stage(s)); err != nil {
			return err
		}
		d := cache.Digest{Hash: hex.EncodeToString(h.Sum(nil)), Size: cw.n}
		if err := a.c.PutDigested(ctx, d, f); err != nil {
			return fmt.Errorf("upload %s: %w", stageLabel(s), err)
		}
		e.Stages = append(e.Stages, StageBlob{Package: s, Tar: d})
	}
	// the trees must still be the ones the build reported
	got, err := b.stagesDigest(ctx, n, out.Stage)
	if err != nil {
		return err
	}
	if got != e.Output {
		return fmt.Errorf("the stage changed since it was built")
	}
	ar := &cache.ActionResult{}
	for _, s := range e.Stages {
		ar.Files = append(ar.Files, cache.OutputFile{Path: "stage" + dotted(s.Package) + ".tar", Digest: s.Tar})
	}
	for _, name := range out.Files {
		p := filepath.Join(out.Dir, name)
		st, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		d, err := a.putFile(ctx, p)
		if err != nil {
			return err
		}
		e.Files = append(e.Files, FileBlob{Name: name, Mode: st.Mode() & keepMode, Digest: d})
		ar.Files = append(ar.Files, cache.OutputFile{Path: name, Digest: d, Executable: st.Mode()&0o111 != 0})
	}
	if _, err := os.Stat(out.Log); err == nil {
		d, err := a.putFile(ctx, out.Log)
		if err != nil {
			return err
		}
		e.Log = &d
		ar.Stdout = &d
	}
	raw, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	ed, err := a.c.PutBytes(ctx, raw)
	if err != nil {
		return fmt.Errorf("upload entry: %w", err)
	}
	ar.Files = append([]cache.OutputFile{{Path: entryPath, Digest: ed}}, ar.Files...)
	// the action entry last: it is only ever written once its blobs are in
	if err := a.c.SetAction(ctx, e.Key, ar); err != nil {
		return fmt.Errorf("upload action entry: %w", err)
	}
	return nil
}

func dotted(s string) string {
	if s == "" {
		return ""
	}
	return "." + s
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
