package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

// installGitHTTP gives go-git's HTTP(S) transport connect, TLS and
// response-header timeouts (its default client has none).
var installGitHTTP = sync.OnceFunc(func() {
	c := githttp.NewClient(&http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 120 * time.Second,
		IdleConnTimeout:       90 * time.Second,
	}})
	client.InstallProtocol("http", c)
	client.InstallProtocol("https", c)
})

// gitSpec is what a git source asks for.
type gitSpec struct {
	URL      string // as the recipe spells it
	FetchURL string // after mirror rules
	Branch   string
	Rev      string // 40-hex commit or a tag name
	Shallow  bool
	Progress io.Writer
	Mirror   func(string) string
}

var hexRev = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)

// gitClone makes a fresh checkout of spec in dir (which must not exist) and
// returns the commit checked out.
func gitClone(ctx context.Context, dir string, spec gitSpec) (string, error) {
	installGitHTTP()
	var repo *git.Repository
	var err error
	if spec.Rev == "" {
		opts := &git.CloneOptions{
			URL:        spec.FetchURL,
			RemoteName: "origin",
			Progress:   spec.Progress,
		}
		if spec.Branch != "" {
			opts.ReferenceName = plumbing.NewBranchReferenceName(spec.Branch)
			opts.SingleBranch = true
		}
		if spec.Shallow {
			opts.Depth = 1
			opts.SingleBranch = true
		}
		// The checkout is done here, as the clone would, but stopping with ctx.
		opts.NoCheckout = true
		repo, err = git.PlainCloneContext(ctx, dir, false, opts)
		if err != nil {
			if spec.Branch != "" && isRefNotFound(err) {
				return "", fmt.Errorf("git clone %s: no branch %q there", spec.FetchURL, spec.Branch)
			}
			return "", fmt.Errorf("git clone %s: %w", spec.FetchURL, err)
		}
		head, err := repo.Head()
		if err != nil {
			return "", fmt.Errorf("git clone %s: no HEAD: %w", spec.FetchURL, err)
		}
		w, err := worktree(ctx, repo)
		if err != nil {
			return "", err
		}
		if err := w.Reset(&git.ResetOptions{Mode: git.MergeReset, Commit: head.Hash()}); err != nil {
			return "", fmt.Errorf("git checkout %s: %w", spec.FetchURL, err)
		}
	} else {
		repo, err = git.PlainInit(dir, false)
		if err != nil {
			return "", err
		}
		if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{spec.FetchURL}}); err != nil {
			return "", err
		}
		hash, err := gitFetchRev(ctx, repo, spec)
		if err != nil {
			return "", err
		}
		w, err := worktree(ctx, repo)
		if err != nil {
			return "", err
		}
		if err := w.Checkout(&git.CheckoutOptions{Hash: hash, Force: true}); err != nil {
			return "", fmt.Errorf("git checkout %s: %w", spec.Rev, err)
		}
	}
	if err := gitSubmodules(ctx, repo, spec); err != nil {
		return "", err
	}
	// origin names the upstream URL, not the mirror, as upstream leaves it.
	if spec.FetchURL != spec.URL {
		if cfg, err := repo.Config(); err == nil {
			if rc, ok := cfg.Remotes["origin"]; ok {
				rc.URLs = []string{spec.URL}
				_ = repo.SetConfig(cfg)
			}
		}
	}
	head, err := repo.Head()
	if err != nil {
		return "", fmt.Errorf("git %s: no HEAD after checkout: %w", spec.FetchURL, err)
	}
	return head.Hash().String(), nil
}

// gitFetchRev fetches the commit or tag spec.Rev and returns its commit.
func gitFetchRev(ctx context.Context, repo *git.Repository, spec gitSpec) (plumbing.Hash, error) {
	const depth = 1 // a pinned rev is fetched shallow when the server serves single commits
	fetch := func(depth int, specs ...config.RefSpec) error {
		err := repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RefSpecs: specs, Depth: depth, Progress: spec.Progress, Tags: git.NoTags})
		if errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil
		}
		return err
	}
	notFound := func() error {
		return fmt.Errorf("git %s: rev %q does not exist there (neither a commit nor a tag)", spec.FetchURL, spec.Rev)
	}
	if hexRev.MatchString(spec.Rev) {
		h := plumbing.NewHash(strings.ToLower(spec.Rev))
		err := fetch(depth, config.RefSpec("+"+h.String()+":refs/cook/rev"))
		if err == nil {
			if _, cerr := repo.CommitObject(h); cerr == nil {
				return h, nil
			}
		}
		// The server does not serve single commits (or refused this one):
		// fetch the branches and tags in full and look for it.
		var specs []config.RefSpec
		if spec.Branch != "" {
			specs = append(specs, config.RefSpec("+refs/heads/"+spec.Branch+":refs/remotes/origin/"+spec.Branch))
		} else {
			specs = append(specs, "+refs/heads/*:refs/remotes/origin/*")
		}
		specs = append(specs, "+refs/tags/*:refs/tags/*")
		if ferr := fetch(0, specs...); ferr != nil && !isRefNotFound(ferr) {
			return plumbing.ZeroHash, fmt.Errorf("git fetch %s: %w", spec.FetchURL, ferr)
		}
		if _, cerr := repo.CommitObject(h); cerr != nil {
			return plumbing.ZeroHash, notFound()
		}
		return h, nil
	}
	ref := plumbing.NewTagReferenceName(spec.Rev)
	if err := fetch(depth, config.RefSpec("+"+ref.String()+":"+ref.String())); err != nil {
		if isRefNotFound(err) {
			return plumbing.ZeroHash, notFound()
		}
		return plumbing.ZeroHash, fmt.Errorf("git fetch %s tag %s: %w", spec.FetchURL, spec.Rev, err)
	}
	r, err := repo.Reference(ref, true)
	if err != nil {
		return plumbing.ZeroHash, notFound()
	}
	h := r.Hash()
	if tag, err := repo.TagObject(h); err == nil { // annotated tag: peel to the commit
		c, err := tag.Commit()
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("git %s: tag %s does not point to a commit: %w", spec.FetchURL, spec.Rev, err)
		}
		h = c.Hash
	}
	return h, nil
}

func isRefNotFound(err error) bool {
	var nm git.NoMatchingRefSpecError
	return errors.As(err, &nm) || errors.Is(err, plumbing.ErrReferenceNotFound)
}

// gitSubmodules initialises and updates submodules recursively, with the
// mirror rules applied to their URLs.
func gitSubmodules(ctx context.Context, repo *git.Repository, spec gitSpec) error {
	return gitSubmodulesDepth(ctx, repo, spec, git.DefaultSubmoduleRecursionDepth)
}

func gitSubmodulesDepth(ctx context.Context, repo *git.Repository, spec gitSpec, depth git.SubmoduleRescursivity) error {
	if depth == 0 {
		return nil
	}
	w, err := worktree(ctx, repo)
	if err != nil {
		return err
	}
	subs, err := w.Submodules()
	if err != nil {
		return fmt.Errorf("git %s: reading .gitmodules: %w", spec.FetchURL, err)
	}
	for _, s := range subs {
		c := s.Config()
		if spec.Mirror != nil {
			c.URL = spec.Mirror(c.URL)
		}
		if err := s.UpdateContext(ctx, &git.SubmoduleUpdateOptions{Init: true, RecurseSubmodules: git.NoRecurseSubmodules}); err != nil {
			return fmt.Errorf("git submodule %s (%s): %w", c.Path, c.URL, err)
		}
		sr, err := s.Repository()
		if err != nil {
			return err
		}
		if err := gitSubmodulesDepth(ctx, sr, spec, depth-1); err != nil {
			return err
		}
	}
	return nil
}

// worktree is repo's worktree, with a filesystem whose opens fail once ctx
// is done: go-git's Checkout and Reset (and a clone's checkout) take no
// context, and write or hash every file of the tree before they return -
// tens of seconds past Ctrl-C for a large one. Its submodules' worktrees
// are made from the same filesystem, and stop too.
func worktree(ctx context.Context, repo *git.Repository) (*git.Worktree, error) {
	w, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	w.Filesystem = ctxFS{w.Filesystem, ctx}
	return w, nil
}

// ctxFS is a billy filesystem whose opens, links and directory creations
// fail with ctx's error once ctx is done.
type ctxFS struct {
	billy.Filesystem
	ctx context.Context
}

func (f ctxFS) Create(name string) (billy.File, error) {
	return f.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

func (f ctxFS) Open(name string) (billy.File, error) {
	return f.OpenFile(name, os.O_RDONLY, 0)
}

func (f ctxFS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	if err := f.ctx.Err(); err != nil {
		return nil, err
	}
	return f.Filesystem.OpenFile(name, flag, perm)
}

func (f ctxFS) Symlink(target, link string) error {
	if err := f.ctx.Err(); err != nil {
		return err
	}
	return f.Filesystem.Symlink(target, link)
}

func (f ctxFS) MkdirAll(name string, perm os.FileMode) error {
	if err := f.ctx.Err(); err != nil {
		return err
	}
	return f.Filesystem.MkdirAll(name, perm)
}

func (f ctxFS) Chroot(p string) (billy.Filesystem, error) {
	c, err := f.Filesystem.Chroot(p)
	if err != nil {
		return nil, err
	}
	return ctxFS{c, f.ctx}, nil
}

// gitHead returns the commit checked out in dir.
func gitHead(dir string) (string, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return "", err
	}
	h, err := repo.Head()
	if err != nil {
		return "", err
	}
	return h.Hash().String(), nil
}

// gitRemoteHead asks the server for the commit of branch (or of its default
// branch when branch is "") without downloading objects.
func gitRemoteHead(ctx context.Context, fetchURL, branch string) (string, error) {
	installGitHTTP()
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{fetchURL}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("git ls-remote %s: %w", fetchURL, err)
	}
	want := plumbing.HEAD
	if branch != "" {
		want = plumbing.NewBranchReferenceName(branch)
	}
	byName := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, r := range refs {
		byName[r.Name()] = r
	}
	r, ok := byName[want]
	for i := 0; ok && r.Type() == plumbing.SymbolicReference && i < 5; i++ {
		r, ok = byName[r.Target()]
	}
	if !ok {
		return "", fmt.Errorf("git ls-remote %s: no %s there", fetchURL, want)
	}
	return r.Hash().String(), nil
}

// gitProgress turns git's sideband progress text into object counts.
type gitProgress struct {
	pc    ProgressCounter
	last  int64
	phase string
	buf   []byte
}

var objectsRE = regexp.MustCompile(`(\w+) objects:\s+\d+% \((\d+)/(\d+)\)`)

func (g *gitProgress) Write(p []byte) (int, error) {
	g.buf = append(g.buf, p...)
	for {
		i := strings.IndexAny(string(g.buf), "\r\n")
		if i < 0 {
			break
		}
		line := string(g.buf[:i])
		g.buf = g.buf[i+1:]
		m := objectsRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		done, _ := strconv.ParseInt(m[2], 10, 64)
		total, _ := strconv.ParseInt(m[3], 10, 64)
		if m[1] != g.phase {
			g.phase, g.last = m[1], 0
			g.pc.SetTotal(total)
		}
		if done > g.last {
			g.pc.Add(int(done - g.last))
			g.last = done
		}
	}
	if len(g.buf) > 4096 {
		g.buf = g.buf[len(g.buf)-1024:]
	}
	return len(p), nil
}

// gitRemake makes dir (which must not exist) a pristine copy of the
// checkout in src at its HEAD, submodules included, without the network:
// it copies the tree, resets tracked files and removes every other file
// (untracked or ignored), undoing patches and script output.
func gitRemake(ctx context.Context, src, dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if err := copyTree(ctx, src, dir); err != nil {
		return err
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return err
	}
	head, err := repo.Head()
	if err != nil {
		return err
	}
	return gitPristine(ctx, repo, dir, head.Hash())
}

func gitPristine(ctx context.Context, repo *git.Repository, root string, commit plumbing.Hash) error {
	w, err := worktree(ctx, repo)
	if err != nil {
		return err
	}
	if err := w.Reset(&git.ResetOptions{Mode: git.HardReset, Commit: commit}); err != nil {
		return fmt.Errorf("reset %s: %w", root, err)
	}
	idx, err := repo.Storer.Index()
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, e := range idx.Entries {
		keep[e.Name] = true
	}
	subs, err := w.Submodules()
	if err != nil {
		return err
	}
	sub := map[string]*git.Submodule{}
	for _, s := range subs {
		sub[s.Config().Path] = s
	}
	var dirs []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
			return nil
		case d.Name() == ".git" && path.Dir(rel) == ".":
			return filepath.SkipDir
		case sub[rel] != nil:
			e, err := idx.Entry(rel)
			if err != nil {
				return err
			}
			sr, err := sub[rel].Repository()
			if err != nil {
				return fmt.Errorf("submodule %s: %w", rel, err)
			}
			if err := gitPristine(ctx, sr, p, e.Hash); err != nil {
				return fmt.Errorf("submodule %s: %w", rel, err)
			}
			return filepath.SkipDir
		case d.IsDir():
			dirs = append(dirs, p)
			return nil
		case !keep[rel]:
			return os.Remove(p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i]) // only succeeds for the directories left empty
	}
	return nil
}
