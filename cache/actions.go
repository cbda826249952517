package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/redox-cook/cook/build"
	"github.com/redox-cook/cook/cookbook"
)

// entryPath is the output file of an action result naming cook's entry.
const entryPath = "cook/entry.json"

// Entry is what the action cache keeps for one action key, as a CAS blob
// named by the action result (whose other output files are the same blobs,
// so that bazel-remote checks they are all present).
type Entry struct {
	Version  int     `json:"version"`
	Node     string  `json:"node"`
	Target   string  `json:"target"`
	Key      string  `json:"key"`
	Output   string  `json:"output"`
	Hermetic bool    `json:"hermetic"`
	Seconds  float64 `json:"seconds"`
	// Stages are the staged trees as tar streams, by package ("" is main).
	Stages []StageBlob `json:"stages"`
	// Files are the other outputs in the target directory.
	Files []FileBlob `json:"files"`
	Log   *Digest    `json:"log,omitempty"`
}

// StageBlob is one staged tree.
type StageBlob struct {
	Package string `json:"package"`
	Tar     Digest `json:"tar"`
}

// FileBlob is one output file.
type FileBlob struct {
	Name   string      `json:"name"`
	Mode   os.FileMode `json:"mode"`
	Digest Digest      `json:"digest"`
}

const entryVersion = 1

// Actions is the action cache over a store: it implements build.ActionCache.
// Restores verify everything (blob hashes, then the restored trees' output
// digest) before a single output is put in place; stores run in the
// background, a few at a time, until Flush.
type Actions struct {
	store   Store
	warn    func(string)
	uploads chan struct{}
	tmp     string

	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	hits, misses, stored, failedStores atomic.Int64
}

// ActionsOption configures Actions.
type ActionsOption func(*Actions) error

// WithUploads bounds the concurrent background stores (default 4).
func WithUploads(n int) ActionsOption {
	return func(a *Actions) error {
		if n < 1 {
			return fmt.Errorf("cache: uploads must be at least 1")
		}
		a.uploads = make(chan struct{}, n)
		return nil
	}
}

// WithWarnings receives one-line warnings (damaged entries, failed uploads).
func WithWarnings(f func(string)) ActionsOption {
	return func(a *Actions) error { a.warn = f; return nil }
}

// WithTempDir sets where stage archives are written before upload (default
// the system's).
func WithTempDir(dir string) ActionsOption {
	return func(a *Actions) error { a.tmp = dir; return nil }
}

// NewActions returns the action cache over store.
func NewActions(store Store, opts ...ActionsOption) (*Actions, error) {
	a := &Actions{store: store, uploads: make(chan struct{}, 4), warn: func(string) {}}
	for _, o := range opts {
		if err := o(a); err != nil {
			return nil, err
		}
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

var _ build.ActionCache = (*Actions)(nil)

// Counts are what an Actions did in a run.
type Counts struct {
	Hits, Misses, Stored, FailedStores int64
}

// Counts reports hits, misses and stores so far.
func (a *Actions) Counts() Counts {
	return Counts{a.hits.Load(), a.misses.Load(), a.stored.Load(), a.failedStores.Load()}
}

// Flush waits for the background stores; when ctx ends first, they are
// abandoned (a store that did not finish leaves no action entry).
func (a *Actions) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		a.cancel()
		<-done
		return fmt.Errorf("cache: uploads abandoned: %w", ctx.Err())
	}
}

// Restore implements build.ActionCache.
func (a *Actions) Restore(ctx context.Context, b *build.Builder, n cookbook.Node, key string) (build.Restored, bool) {
	e, err := a.restore(ctx, b, n, key)
	if err != nil {
		a.misses.Add(1)
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, errUnavailable) && ctx.Err() == nil {
			a.warn(fmt.Sprintf("warning: cache: %s: %v; building it", n, err))
		}
		return build.Restored{}, false
	}
	a.hits.Add(1)
	return build.Restored{Output: e.Output, Hermetic: e.Hermetic, Seconds: e.Seconds}, true
}

// maxEntry bounds what is read of an action result or entry.
const maxEntry = 16 << 20

// getSmall reads a whole small blob.
func (a *Actions) getSmall(ctx context.Context, kind Kind, hash string) ([]byte, error) {
	rc, _, err := a.store.Get(ctx, kind, hash)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxEntry+1))
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", kind, hash, err)
	}
	if len(data) > maxEntry {
		return nil, fmt.Errorf("%s/%s is too large", kind, hash)
	}
	return data, nil
}

// verifier checks a blob's hash and size as it streams past.
type verifier struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	want Digest
}

func newVerifier(r io.Reader, want Digest) *verifier {
	return &verifier{r: r, h: sha256.New(), want: want}
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.want.Size {
		return n, fmt.Errorf("blob %s is longer than %d bytes", v.want.Hash, v.want.Size)
	}
	return n, err
}

// check drains the rest and compares.
func (v *verifier) check() error {
	if _, err := io.Copy(io.Discard, v); err != nil {
		return err
	}
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hash || v.n != v.want.Size {
		return fmt.Errorf("blob %s is damaged: got %d bytes hashing to %s", v.want.Hash, v.n, got)
	}
	return nil
}

// fetchTo streams blob d into w, verifying it.
func (a *Actions) fetchTo(ctx context.Context, d Digest, f func(io.Reader) error) error {
	rc, _, err := a.store.Get(ctx, CAS, d.Hash)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("blob %s is missing from the cache", d.Hash)
		}
		return err
	}
	defer rc.Close()
	v := newVerifier(rc, d)
	err = f(v)
	if verr := v.check(); verr != nil {
		a.forget(CAS, d.Hash) // a damaged copy must not stay
		return verr
	}
	return err
}

func (a *Actions) forget(kind Kind, hash string) {
	if f, ok := a.store.(forgetter); ok {
		f.Forget(kind, hash)
	}
}

// forgetter is a store that can drop a damaged entry.
type forgetter interface {
	Forget(kind Kind, hash string)
}

func (a *Actions) readEntry(ctx context.Context, n cookbook.Node, t, key string) (*Entry, error) {
	data, err := a.getSmall(ctx, AC, key)
	if err != nil {
		return nil, err
	}
	ar, err := decodeActionResult(data)
	if err != nil {
		a.forget(AC, key)
		return nil, err
	}
	f, ok := ar.file(entryPath)
	if !ok {
		return nil, fmt.Errorf("action result names no %s", entryPath)
	}
	raw, err := a.getSmall(ctx, CAS, f.Digest.Hash)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("entry blob %s is missing", f.Digest.Hash)
		}
		return nil, err
	}
	if d := DigestBytes(raw); d != f.Digest {
		a.forget(CAS, f.Digest.Hash)
		return nil, fmt.Errorf("entry blob %s is damaged (hashes to %s)", f.Digest, d)
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

func (a *Actions) restore(ctx context.Context, b *build.Builder, n cookbook.Node, key string) (*Entry, error) {
	out, err := b.OutputsOf(n)
	if err != nil {
		return nil, err
	}
	t := string(b.TargetOf(n))
	e, err := a.readEntry(ctx, n, t, key)
	if err != nil {
		return nil, err
	}
	wantStages := map[string]bool{}
	for _, s := range out.Stages {
		wantStages[s] = true
	}
	wantFiles := map[string]bool{}
	for _, f := range out.Files {
		wantFiles[f] = true
	}
	if len(e.Stages) != len(out.Stages) {
		return nil, fmt.Errorf("entry has %d stages, the recipe %d", len(e.Stages), len(out.Stages))
	}
	if err := os.MkdirAll(out.Dir, 0o755); err != nil {
		return nil, err
	}
	// what an interrupted restore of this node left behind
	if old, _ := filepath.Glob(filepath.Join(out.Dir, ".restore-*")); len(old) > 0 {
		for _, p := range old {
			removeAll(p)
		}
	}
	// Everything goes to temporaries beside its destination first.
	var temps []string
	defer func() {
		for _, p := range temps {
			removeAll(p)
		}
	}()
	stageTmp := map[string]string{}
	for _, s := range e.Stages {
		if !wantStages[s.Package] || stageTmp[s.Package] != "" {
			return nil, fmt.Errorf("entry has an unexpected stage %q", s.Package)
		}
		dir, err := os.MkdirTemp(out.Dir, ".restore-stage-")
		if err != nil {
			return nil, err
		}
		temps = append(temps, dir)
		stageTmp[s.Package] = dir
		err = a.fetchTo(ctx, s.Tar, func(r io.Reader) error { return readTree(r, dir) })
		if err != nil {
			return nil, fmt.Errorf("stage %q: %w", s.Package, err)
		}
	}
	got, err := b.StagesDigest(ctx, n, func(opt string) string { return stageTmp[opt] })
	if err != nil {
		return nil, err
	}
	if got != e.Output {
		return nil, fmt.Errorf("restored stages hash to %s, the entry says %s", got, e.Output)
	}
	fileTmp := map[string]string{}
	fetchFile := func(dst string, d Digest, mode os.FileMode) (string, error) {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		f, err := os.CreateTemp(filepath.Dir(dst), ".restore-*")
		if err != nil {
			return "", err
		}
		temps = append(temps, f.Name())
		err = a.fetchTo(ctx, d, func(r io.Reader) error { _, err := io.Copy(f, r); return err })
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(f.Name(), mode&keepMode)
		}
		return f.Name(), err
	}
	for _, fb := range e.Files {
		if !wantFiles[fb.Name] || fileTmp[fb.Name] != "" {
			return nil, fmt.Errorf("entry has an unexpected file %q", fb.Name)
		}
		p, err := fetchFile(filepath.Join(out.Dir, fb.Name), fb.Digest, fb.Mode)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fb.Name, err)
		}
		fileTmp[fb.Name] = p
	}
	logTmp := ""
	if e.Log != nil {
		if logTmp, err = fetchFile(out.Log, *e.Log, 0o644); err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
	}
	// All verified: put everything in place, stages first, the files in
	// the order a build completes them.
	for _, s := range out.Stages {
		if err := removeAll(out.Stage(s)); err != nil {
			return nil, err
		}
		if err := os.Rename(stageTmp[s], out.Stage(s)); err != nil {
			return nil, err
		}
	}
	for _, name := range out.Files {
		if p := fileTmp[name]; p != "" {
			if err := os.Rename(p, filepath.Join(out.Dir, name)); err != nil {
				return nil, err
			}
		}
	}
	if logTmp != "" {
		if err := os.Rename(logTmp, out.Log); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Store implements build.ActionCache: the build's outputs are archived and
// uploaded in the background.
func (a *Actions) Store(ctx context.Context, b *build.Builder, n cookbook.Node, key string, res *build.Result) {
	out, err := b.OutputsOf(n)
	if err != nil {
		return
	}
	e := &Entry{Version: entryVersion, Node: n.String(), Target: string(b.TargetOf(n)), Key: key,
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
		if err := a.store1(a.ctx, b, n, out, e); err != nil {
			a.failedStores.Add(1)
			if !errors.Is(err, errUnavailable) && a.ctx.Err() == nil {
				a.warn(fmt.Sprintf("warning: cache: storing %s: %v", n, err))
			}
			return
		}
		a.stored.Add(1)
	}()
}

// putFile uploads a file as a blob.
func (a *Actions) putFile(ctx context.Context, p string) (Digest, error) {
	f, err := os.Open(p)
	if err != nil {
		return Digest{}, err
	}
	defer f.Close()
	d, err := DigestOf(f)
	if err != nil {
		return Digest{}, fmt.Errorf("read %s: %w", p, err)
	}
	if err := a.store.Put(ctx, CAS, d.Hash, d.Size, f); err != nil {
		return Digest{}, fmt.Errorf("upload %s: %w", filepath.Base(p), err)
	}
	return d, nil
}

func (a *Actions) store1(ctx context.Context, b *build.Builder, n cookbook.Node, out build.Outputs, e *Entry) error {
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
		d := Digest{Hash: hex.EncodeToString(h.Sum(nil)), Size: cw.n}
		if err := a.store.Put(ctx, CAS, d.Hash, d.Size, f); err != nil {
			return fmt.Errorf("upload stage %q: %w", s, err)
		}
		e.Stages = append(e.Stages, StageBlob{Package: s, Tar: d})
	}
	// the trees must still be the ones the build reported
	got, err := b.StagesDigest(ctx, n, out.Stage)
	if err != nil {
		return err
	}
	if got != e.Output {
		return fmt.Errorf("the stage changed since it was built")
	}
	ar := &actionResult{}
	for _, s := range e.Stages {
		ar.Files = append(ar.Files, outputFile{Path: "stage" + dotted(s.Package) + ".tar", Digest: s.Tar})
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
		ar.Files = append(ar.Files, outputFile{Path: name, Digest: d, Executable: st.Mode()&0o111 != 0})
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
	ed := DigestBytes(raw)
	if err := a.store.Put(ctx, CAS, ed.Hash, ed.Size, bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("upload entry: %w", err)
	}
	ar.Files = append([]outputFile{{Path: entryPath, Digest: ed}}, ar.Files...)
	enc := ar.encode()
	// the action entry last: it is only ever written once its blobs are in
	if err := a.store.Put(ctx, AC, e.Key, int64(len(enc)), bytes.NewReader(enc)); err != nil {
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
