// Package fetch is cook's fetch phase: it turns a recipe's [source] into a verified, patched source tree in the work directory by upstream's rules, downloading through one content-addressed cache.
package fetch

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/zeebo/blake3"
	"golang.org/x/sync/singleflight"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/script"
	"github.com/redox-cook/cook/workdir"
)

// Status is what a Fetch did.
type Status string

const (
	Fetched Status = "fetched" // the source tree was (re)made
	Cached  Status = "cached"  // the source tree was already what the recipe asks for
	Skipped Status = "skipped" // nothing to fetch (template none or remote)
)

// Result is the outcome of fetching one recipe.
type Result struct {
	Recipe string
	Status Status
	Source string // absolute path of the source tree ("" when skipped)
	Info   *Info  // nil when skipped
}

// ProgressFunc makes a counter for one recipe's transfer; kind is "download"
// (bytes) or "git" (objects).
type ProgressFunc func(recipe, kind, what string) ProgressCounter

// Fetcher fetches recipes of one tree into one work directory. It is safe
// for concurrent use; fetches of the same recipe are shared.
//
// A fetch turns a recipe's [source] into a verified source tree in the work
// directory, following upstream's rules (spec/cookbook.md §4.3–4.4) — git
// (go-git: branch, rev or tag, shallow, recursive submodules), tar (download
// with BLAKE3, verify, extract), path, same_as, no source — then applies
// patches and runs the source script with upstream's shell functions and
// cook's own wget and curl (Shims). Every download goes through one
// content-addressed cache (Downloader) with mirror rules, offline mode and
// retries. Trees are built in the work directory's tmp/ and renamed into
// place: a failure leaves the previous source as it was. The identity of
// what was fetched is recorded in source_info.toml (Info).
//
// For the build stage:
//
//	dl, _ := fetch.NewDownloader(fetch.WithCacheDir(dir), fetch.WithMirrors(m), fetch.WithOffline(offline))
//	f, _ := fetch.New(tree, work, dl)       // no WithUpdate: builds do not follow branches
//	res, err := f.Fetch(ctx, name)         // res.Source, res.Info
//	info, _ := f.Info(name)                // or fetch.ReadInfo(work.SourceInfo(name)) without a Fetcher
//	info.SourceIdent(), info.CommitIdent() // COOKBOOK_SOURCE_IDENT, COOKBOOK_COMMIT_IDENT
//	info.Key()                             // source + patches + script downloads, for action keys
//
//	// wget/curl for the build script, answering from the cache only:
//	sh, _ := fetch.BuildShims(ctx, offlineDL, name)
//	defer sh.Close()
//	cmd.Env = sh.Environ(env) // PATH with sh.Dir first, COOK_SHIM_SOCKET, COOK_SHIM_RECIPE
//	// a sandbox must let the script see sh.Dir, the cook binary its links point to, and sh.Socket
//	sh.Downloads()            // what the script fetched
type Fetcher struct {
	tree     *cookbook.Tree
	work     workdir.Dir
	dl       *Downloader
	log      *slog.Logger
	update   bool
	env      []string
	progress ProgressFunc
	output   io.Writer

	byDir    map[string]string // recipe dir → name, for same_as
	timeID   string
	commitID func() string
	group    singleflight.Group

	prefetchMu sync.Mutex
	prefetches map[string]*prefetched   // by URL and pin, see FetchAll
	infos      map[string]*Info         // records read by FetchAll, by recipe
	decided    map[string]chan struct{} // closed once FetchAll decided about a recipe
}

// Option configures a Fetcher.
type Option func(*Fetcher) error

// WithUpdate makes Fetch bring branch-tracking git checkouts up to date
// with their remote (what `cook fetch` does; builds do not).
func WithUpdate(update bool) Option { return func(f *Fetcher) error { f.update = update; return nil } }

// WithScriptEnv adds KEY=VALUE pairs to the environment of source scripts
// (upstream's scripts see make's TARGET, GNU_TARGET, COOKBOOK_HOST_SYSROOT).
func WithScriptEnv(env ...string) Option {
	return func(f *Fetcher) error { f.env = append(f.env, env...); return nil }
}

// WithProgress reports transfers to counters made by p.
func WithProgress(p ProgressFunc) Option {
	return func(f *Fetcher) error { f.progress = p; return nil }
}

// WithScriptOutput copies source scripts' and patch output to w (default:
// kept, and shown only in the error of a failing script).
func WithScriptOutput(w io.Writer) Option { return func(f *Fetcher) error { f.output = w; return nil } }

// New returns a Fetcher for tree into work, downloading through dl.
func New(tree *cookbook.Tree, work workdir.Dir, dl *Downloader, opts ...Option) (*Fetcher, error) {
	f := &Fetcher{tree: tree, work: work, dl: dl, log: dl.Logger(), byDir: map[string]string{},
		timeID: time.Now().UTC().Format("2006-01-02T15:04:05Z")}
	for _, o := range opts {
		if err := o(f); err != nil {
			return nil, err
		}
	}
	for name, r := range tree.Recipes {
		f.byDir[filepath.Clean(r.Dir)] = name
	}
	f.commitID = sync.OnceValue(func() string {
		repo, err := git.PlainOpenWithOptions(tree.Root, &git.PlainOpenOptions{DetectDotGit: true})
		if err != nil {
			return ""
		}
		h, err := repo.Head()
		if err != nil {
			return ""
		}
		return h.Hash().String()
	})
	return f, nil
}

// Downloader is the Fetcher's downloader.
func (f *Fetcher) Downloader() *Downloader { return f.dl }

// Source is where name's source tree lives.
func (f *Fetcher) Source(name string) string { return f.work.Source(name) }

// Info reads name's recorded source identity (nil when never fetched).
func (f *Fetcher) Info(name string) (*Info, error) { return ReadInfo(f.work.SourceInfo(name)) }

// Unfetch removes name's source tree and identity. Other recipes' trees that
// share it through same_as keep their links, which dangle until fetched again.
func (f *Fetcher) Unfetch(name string) error {
	src := f.work.Source(name)
	if st, err := os.Lstat(src); err == nil {
		if st.Mode()&fs.ModeSymlink != 0 {
			if err := os.Remove(src); err != nil {
				return fmt.Errorf("unfetch %s: %w", name, err)
			}
		} else if err := fsutil.RemoveAll(src); err != nil {
			return fmt.Errorf("unfetch %s: %w", name, err)
		}
	}
	if err := os.Remove(f.work.SourceInfo(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unfetch %s: %w", name, err)
	}
	return nil
}

// Fetch makes name's source tree what its recipe asks for and records its
// identity. Errors name the recipe (and the URL, file or patch at fault).
func (f *Fetcher) Fetch(ctx context.Context, name string) (*Result, error) {
	v, err, _ := f.group.Do(name, func() (any, error) { return f.fetch(ctx, name, nil) })
	if err != nil {
		return nil, err
	}
	return v.(*Result), nil
}

func (f *Fetcher) fetch(ctx context.Context, name string, chain []string) (*Result, error) {
	r, err := f.tree.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	if r.HasErrors() {
		return nil, fmt.Errorf("fetch %s: %s has errors (run cook check %s)", name, r.Path, name)
	}
	switch r.Build.Template {
	case cookbook.TemplateNone, "":
		if r.Source == nil {
			return &Result{Recipe: name, Status: Skipped}, nil
		}
	case cookbook.TemplateRemote:
		f.log.Warn("template remote: the binary package is downloaded by the build stage, not fetched", "recipe", name)
		return &Result{Recipe: name, Status: Skipped}, nil
	}
	f.awaitDecision(ctx, name)
	prev := f.takeInfo(name) // what the last fetch recorded
	var res *Result
	switch {
	case r.Source == nil:
		res, err = f.fetchNone(r)
	case r.Source.Kind == cookbook.SameAs:
		res, err = f.fetchSameAs(ctx, r, chain)
	case r.Source.Kind == cookbook.Path:
		res, err = f.fetchPath(ctx, r, prev)
	case r.Source.Kind == cookbook.Git:
		res, err = f.fetchGit(ctx, r, prev)
	case r.Source.Kind == cookbook.Tar:
		res, err = f.fetchTar(ctx, r, prev)
	default:
		err = fmt.Errorf("unknown source kind %q", r.Source.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	info := *res.Info
	info.CommitIdentifier = f.commitID()
	info.TimeIdentifier = f.timeID
	if res.Status == Cached && prev != nil && sameInfo(&info, prev) {
		// Nothing to record: the tree, and the record of when it was
		// fetched, stay as they are.
		res.Info = prev
		return res, nil
	}
	if err := writeInfo(f.work.SourceInfo(name), &info); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	res.Info = &info
	return res, nil
}

// sameInfo reports whether two records say the same but for the time.
func sameInfo(a, b *Info) bool {
	x, y := *a, *b
	x.TimeIdentifier, y.TimeIdentifier = "", ""
	return reflect.DeepEqual(x, y)
}

func (f *Fetcher) fetchNone(r *cookbook.Recipe) (*Result, error) {
	src := f.work.Source(r.Name)
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		f.log.Warn("recipe has no [source]: using an empty source directory", "recipe", r.Name, "dir", src)
		if err := os.MkdirAll(src, 0o755); err != nil {
			return nil, err
		}
	}
	return &Result{Recipe: r.Name, Status: Cached, Source: src, Info: &Info{SourceIdentifier: LocalSource, Kind: "none"}}, nil
}

func (f *Fetcher) fetchSameAs(ctx context.Context, r *cookbook.Recipe, chain []string) (*Result, error) {
	chain = append(chain, r.Name)
	targetDir := filepath.Clean(filepath.Join(r.Dir, r.Source.SameAs))
	target, ok := f.byDir[targetDir]
	if !ok {
		return nil, fmt.Errorf("same_as %q: %s is no recipe directory", r.Source.SameAs, targetDir)
	}
	for _, c := range chain {
		if c == target {
			return nil, fmt.Errorf("same_as loop: %s → %s", strings.Join(chain, " → "), target)
		}
	}
	tr := f.tree.Recipes[target]
	if tr.Source == nil {
		return nil, fmt.Errorf("same_as %q: recipe %s has no [source] to share", r.Source.SameAs, target)
	}
	var tres *Result
	var err error
	if tr.Source.Kind == cookbook.SameAs {
		tres, err = f.fetch(ctx, target, chain)
	} else {
		tres, err = f.Fetch(ctx, target)
	}
	if err != nil {
		return nil, err
	}
	if tres.Status == Skipped {
		return nil, fmt.Errorf("same_as %q: recipe %s has no source tree", r.Source.SameAs, target)
	}
	src := f.work.Source(r.Name)
	link := filepath.Join("..", target, "source")
	status := Cached
	st, err := os.Lstat(src)
	switch {
	case err == nil && st.Mode()&fs.ModeSymlink != 0:
		if cur, _ := os.Readlink(src); cur != link {
			if err := f.symlinkAtomic(link, src); err != nil {
				return nil, err
			}
			status = Fetched
		}
	case err == nil:
		return nil, fmt.Errorf("%s is a directory, but the recipe shares %s's source (same_as): run cook unfetch %s", src, target, r.Name)
	default:
		if err := f.symlinkAtomic(link, src); err != nil {
			return nil, err
		}
		status = Fetched
	}
	if tres.Status == Fetched {
		status = Fetched
	}
	info := *tres.Info
	info.Kind, info.SameAs, info.Origin = "same_as", target, r.Source.SameAs
	return &Result{Recipe: r.Name, Status: status, Source: src, Info: &info}, nil
}

func (f *Fetcher) symlinkAtomic(target, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".link.tmp"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (f *Fetcher) fetchPath(ctx context.Context, r *cookbook.Recipe, old *Info) (*Result, error) {
	from := r.Source.Path
	if !filepath.IsAbs(from) {
		from = filepath.Join(f.tree.Root, from)
	}
	hash, err := fsutil.HashTree(ctx, from, func(rel string, d fs.DirEntry) bool { return d.IsDir() && d.Name() == ".git" })
	if err != nil {
		return nil, fmt.Errorf("path source %s: %w", from, err)
	}
	src := f.work.Source(r.Name)
	info := &Info{SourceIdentifier: hash, Kind: "path", Origin: r.Source.Path}
	if old != nil && old.SourceIdentifier == hash && old.Kind == "path" && isDir(src) {
		return &Result{Recipe: r.Name, Status: Cached, Source: src, Info: info}, nil
	}
	err = f.build(ctx, r.Name, func(dir string) error {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		return copyTree(ctx, from, dir)
	})
	if err != nil {
		return nil, fmt.Errorf("path source %s: %w", from, err)
	}
	return &Result{Recipe: r.Name, Status: Fetched, Source: src, Info: info}, nil
}

func (f *Fetcher) fetchTar(ctx context.Context, r *cookbook.Recipe, old *Info) (*Result, error) {
	s := r.Source
	patchPaths, patchData, err := readPatches(r.Dir, s.Patches)
	if err != nil {
		return nil, err
	}
	patchID := PatchIdentifier(patchData, s.Script)
	pin := strings.ToLower(s.Blake3)
	origin := tarOrigin(s)
	src := f.work.Source(r.Name)
	if old != nil && old.Kind == "tar" && old.Origin == origin && old.PatchIdentifier == patchID && isDir(src) {
		return &Result{Recipe: r.Name, Status: Cached, Source: src, Info: old}, nil
	}
	blob, err := f.tarBlob(ctx, r, pin)
	if err != nil {
		return nil, err
	}
	info := &Info{SourceIdentifier: blob.Blake3, PatchIdentifier: patchID, Kind: "tar", Origin: origin}
	err = f.build(ctx, r.Name, func(dir string) error {
		if err := Extract(ctx, blob.Path, dir, WithExtractLimit(f.dl.MaxSourceSize())); err != nil {
			return fmt.Errorf("extract %s: %w", s.Tar, err)
		}
		dl, err := f.prepare(ctx, r, dir, patchPaths, patchData)
		info.Downloads = dl
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Result{Recipe: r.Name, Status: Fetched, Source: src, Info: info}, nil
}

// tarBlob is r's archive in the download cache: downloaded ahead by
// FetchAll, or now, or found there and verified against the pin again
// (the cache could have been damaged since), downloaded anew if it was.
func (f *Fetcher) tarBlob(ctx context.Context, r *cookbook.Recipe, pin string) (*Blob, error) {
	s := r.Source
	var blob *Blob
	var err error
	if p := f.takePrefetch(s.Tar, pin); p != nil {
		select {
		case <-p.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		blob, err = p.blob, p.err
	} else {
		blob, err = f.download(ctx, r.Name, s.Tar, pin)
	}
	switch {
	case err != nil:
		return nil, err
	case pin == "":
		f.log.Warn(fmt.Sprintf("set blake3 for %s to %q", r.Name, blob.Blake3), "recipe", r.Name, "url", s.Tar)
		return blob, nil
	case !blob.Cached:
		return blob, nil // just downloaded: hashed on the way in and checked against the pin
	}
	if err := verifyFile(blob.Path, pin); err != nil {
		if f.dl.Offline() {
			return nil, fmt.Errorf("%s: the cached download is damaged (%v), and the network is off (--offline), so it cannot be downloaded again: %w", s.Tar, err, ErrOffline)
		}
		f.log.Warn("cached download is damaged; downloading it again", "recipe", r.Name, "url", s.Tar, "error", err)
		if err := os.Remove(blob.Path); err != nil {
			return nil, fmt.Errorf("%s: removing damaged cache file: %w", s.Tar, err)
		}
		return f.download(ctx, r.Name, s.Tar, pin)
	}
	return blob, nil
}

// tarOrigin is a tar source's origin as source_info.toml records it.
func tarOrigin(s *cookbook.Source) string {
	origin := "tar " + s.Tar
	if pin := strings.ToLower(s.Blake3); pin != "" {
		origin += " blake3=" + pin
	}
	return origin
}

func (f *Fetcher) download(ctx context.Context, recipe, rawURL, pin string) (*Blob, error) {
	if f.progress != nil {
		if _, ok := f.dl.Lookup(rawURL, pin); !ok {
			pc := f.progress(recipe, "download", rawURL)
			defer pc.Done()
			ctx = withProgress(ctx, pc)
		}
	}
	return f.dl.Get(ctx, rawURL, pin)
}

func (f *Fetcher) fetchGit(ctx context.Context, r *cookbook.Recipe, old *Info) (*Result, error) {
	s := r.Source
	patchPaths, patchData, err := readPatches(r.Dir, s.Patches)
	if err != nil {
		return nil, err
	}
	patchID := PatchIdentifier(patchData, s.Script)
	shallow := s.ShallowClone || s.Rev != ""
	origin := fmt.Sprintf("git %s branch=%s rev=%s shallow=%t", s.Git, s.Branch, s.Rev, shallow)
	src := f.work.Source(r.Name)
	fetchURL := f.dl.Mirror(s.Git)
	// local: the existing checkout is at the commit the recipe wants, so a
	// new tree (for changed patches or script) can be made from it without
	// the network.
	local, head := false, ""
	if old != nil && old.Kind == "git" && old.Origin == origin && isDir(filepath.Join(src, ".git")) {
		h, herr := gitHead(src)
		local, head = herr == nil && h == old.SourceIdentifier, h
		if local && s.Rev == "" && f.update {
			if f.dl.Offline() {
				f.log.Warn("offline: not checking the remote branch for updates", "recipe", r.Name, "url", s.Git)
			} else {
				remote, err := gitRemoteHead(ctx, fetchURL, s.Branch)
				if err != nil {
					return nil, err
				}
				if remote != head {
					f.log.Info("branch moved upstream", "recipe", r.Name, "url", s.Git, "from", head, "to", remote)
					local = false
				}
			}
		}
		if local && old.PatchIdentifier == patchID {
			return &Result{Recipe: r.Name, Status: Cached, Source: src, Info: old}, nil
		}
	}
	if !local && f.dl.Offline() {
		return nil, fmt.Errorf("git %s: offline, and there is no up-to-date checkout in %s: %w", s.Git, src, ErrOffline)
	}
	info := &Info{PatchIdentifier: patchID, Kind: "git", Origin: origin}
	err = f.build(ctx, r.Name, func(dir string) error {
		if local {
			if err := gitRemake(ctx, src, dir); err != nil {
				return fmt.Errorf("git %s: remaking the checkout from %s: %w", s.Git, src, err)
			}
			info.SourceIdentifier = head
			dl, err := f.prepare(ctx, r, dir, patchPaths, patchData)
			info.Downloads = dl
			return err
		}
		spec := gitSpec{URL: s.Git, FetchURL: fetchURL, Branch: s.Branch, Rev: s.Rev, Shallow: shallow, Mirror: f.dl.Mirror}
		if f.progress != nil {
			pc := f.progress(r.Name, "git", s.Git)
			defer pc.Done()
			spec.Progress = &gitProgress{pc: pc}
		}
		commit, err := gitClone(ctx, dir, spec)
		if err != nil {
			return err
		}
		info.SourceIdentifier = commit
		dl, err := f.prepare(ctx, r, dir, patchPaths, patchData)
		info.Downloads = dl
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Result{Recipe: r.Name, Status: Fetched, Source: src, Info: info}, nil
}

// prepare applies the patches and runs the source script in dir.
func (f *Fetcher) prepare(ctx context.Context, r *cookbook.Recipe, dir string, patchPaths []string, patchData [][]byte) ([]Download, error) {
	notes, err := applyPatches(ctx, dir, patchPaths, patchData)
	for _, n := range notes {
		f.log.Info(n, "recipe", r.Name)
	}
	if err != nil {
		return nil, err
	}
	if r.Source.Script == "" {
		return nil, nil
	}
	return f.RunSourceScript(ctx, r, dir)
}

// RunSourceScript runs r's source script in dir as upstream does — bash -ex
// with the shared prescript and the script on stdin — with cook's wget and
// curl first on PATH. It returns the files the script downloaded, sorted by
// URL and without repeats.
func (f *Fetcher) RunSourceScript(ctx context.Context, r *cookbook.Recipe, dir string) ([]Download, error) {
	sh, err := StartShims(ctx, f.dl, r.Name)
	if err != nil {
		return nil, err
	}
	defer sh.Close()
	cmd := exec.CommandContext(ctx, "bash", "-ex")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(script.SourceScript(r.Source.Script))
	cmd.Env = sh.Environ(append(os.Environ(), f.env...))
	out := fsutil.NewTail(30, 8<<10)
	var w io.Writer = out
	if f.output != nil {
		w = io.MultiWriter(out, f.output)
	}
	cmd.Stdout, cmd.Stderr = w, w
	// Its own process group, killed whole on cancellation (Ctrl-C).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("source script of %s (%s) failed: %w\n%s", r.Name, r.Path, err, out.String())
	}
	return normalizeDownloads(sh.Downloads()), nil
}

// normalizeDownloads sorts downloads and drops repeats, so that a script
// fetching in parallel or twice has one identity.
func normalizeDownloads(d []Download) []Download {
	sort.Slice(d, func(i, j int) bool {
		if d[i].URL != d[j].URL {
			return d[i].URL < d[j].URL
		}
		return d[i].Blake3 < d[j].Blake3
	})
	out := d[:0]
	for i, x := range d {
		if i == 0 || x != d[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// build makes a new source tree for recipe by calling make with a path
// under the work directory's tmp/ that make creates, and renames it into
// place only when make succeeds. The previous tree stays until then, and
// no partial tree is left behind on failure.
func (f *Fetcher) build(ctx context.Context, recipe string, make func(dir string) error) error {
	tmp, err := os.MkdirTemp(f.work.Tmp(), "fetch-"+recipe+"-")
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(f.work.Tmp(), 0o755); err == nil {
			tmp, err = os.MkdirTemp(f.work.Tmp(), "fetch-"+recipe+"-")
		}
	}
	if err != nil {
		return err
	}
	defer fsutil.RemoveAll(tmp)
	dir := filepath.Join(tmp, "source")
	if err := make(dir); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	src := f.work.Source(recipe)
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		return err
	}
	old := filepath.Join(tmp, "old")
	hadOld := false
	if _, err := os.Lstat(src); err == nil {
		if err := os.Rename(src, old); err != nil {
			return err
		}
		hadOld = true
	}
	if err := os.Rename(dir, src); err != nil {
		if hadOld {
			os.Rename(old, src)
		}
		return err
	}
	return nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// verifyFile checks a file's BLAKE3 against want.
func verifyFile(path, want string) error {
	got, err := HashFile(path)
	if err != nil {
		return err
	}
	if got != strings.ToLower(want) {
		return fmt.Errorf("%s: BLAKE3 mismatch: expected %s, got %s", path, want, got)
	}
	return nil
}

// HashFile returns the hex BLAKE3 of a file.
func HashFile(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := blake3.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyTree copies src's contents into the existing directory dst, keeping
// permission bits (setuid, setgid and sticky too), times and symlinks, as
// upstream's copy of a path source does: the build's overlay, not the
// copy, keeps the fetched tree pristine. Directories stay writable while
// they are filled and get their modes at the end.
func copyTree(ctx context.Context, src, dst string) error {
	type dirMeta struct {
		p    string
		t    time.Time
		mode fs.FileMode
	}
	var dirs []dirMeta
	const keep = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch m := st.Mode(); {
		case m.IsDir():
			if rel != "." {
				if err := os.Mkdir(out, 0o700); err != nil {
					return err
				}
			}
			dirs = append(dirs, dirMeta{out, st.ModTime(), m & keep})
		case m&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(t, out)
		case m.IsRegular():
			if err := fsutil.CopyFile(p, out, m&keep); err != nil {
				return err
			}
			return os.Chtimes(out, st.ModTime(), st.ModTime())
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].p, dirs[i].mode); err != nil {
			return err
		}
		os.Chtimes(dirs[i].p, dirs[i].t, dirs[i].t)
	}
	return nil
}
