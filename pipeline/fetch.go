package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/toolchain"
)

// FetchObserver sees a fetch phase as it happens.
type FetchObserver interface {
	FetchStarted(recipe string)
	FetchFinished(recipe string, res *fetch.Result, err error)
}

// FetchOptions adjust Fetch.
type FetchOptions struct {
	// Update brings branch-tracking git checkouts up to date.
	Update bool
	// Jobs is how many recipes fetch at a time (0: the Config's).
	Jobs int
	// Observer, when set, sees each recipe start and finish.
	Observer FetchObserver
	// Progress, when set, makes a counter for each transfer.
	Progress fetch.ProgressFunc
	// ScriptOutput, when set, receives what source scripts print.
	ScriptOutput io.Writer
	// Log, when set, replaces the Config's logger for downloads and scripts.
	Log *slog.Logger
}

// FetchOutcome is one recipe's fetch.
type FetchOutcome fetch.Outcome

// Fetcher makes the fetcher of the Config: the shared download cache, the
// mirrors, offline mode, the size limit and upstream's source-script
// environment.
func (p *Pipeline) Fetcher(o FetchOptions) (*fetch.Fetcher, error) {
	cacheDir, err := fetch.DefaultCacheDir()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	log := o.Log
	if log == nil {
		log = p.cfg.Log
	}
	dl, err := fetch.NewDownloader(fetch.WithCacheDir(cacheDir), fetch.WithMirrors(p.cfg.Mirrors),
		fetch.WithOffline(p.cfg.Offline), fetch.WithLogger(log), fetch.WithMaxSourceSize(int64(p.cfg.Settings.Limits.SourceSize)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	opts := []fetch.Option{fetch.WithUpdate(o.Update), fetch.WithScriptEnv(p.sourceScriptEnv()...)}
	if o.Progress != nil {
		opts = append(opts, fetch.WithProgress(o.Progress))
	}
	if o.ScriptOutput != nil {
		opts = append(opts, fetch.WithScriptOutput(o.ScriptOutput))
	}
	return fetch.New(p.cfg.Tree, p.cfg.Work, dl, opts...)
}

// sourceScriptEnv is what make gives upstream's source scripts: TARGET,
// GNU_TARGET and COOKBOOK_HOST_SYSROOT (the prefix's sysroot when cook has
// one, else /usr), unless the environment already sets them.
func (p *Pipeline) sourceScriptEnv() []string {
	t := p.cfg.Target
	env := map[string]string{"TARGET": string(t), "GNU_TARGET": t.GNU(), "COOKBOOK_HOST_SYSROOT": "/usr"}
	sys := filepath.Join(toolchain.PrefixDir(p.cfg.Work.Root, t), "sysroot")
	if st, err := os.Stat(sys); err == nil && st.IsDir() {
		env["COOKBOOK_HOST_SYSROOT"] = sys
	}
	var out []string
	for k, v := range env {
		if _, set := os.LookupEnv(k); !set {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// Fetch fetches and verifies the named recipes' sources, a few at a time;
// one recipe's failure does not stop the others. The outcomes are in the
// order of names.
func (p *Pipeline) Fetch(ctx context.Context, names []string, o FetchOptions) ([]FetchOutcome, error) {
	f, err := p.Fetcher(o)
	if err != nil {
		return nil, err
	}
	return p.runFetches(ctx, f, names, o), nil
}

// runFetches fetches names with at most o.Jobs at a time (their downloads
// started ahead, see fetch.FetchAll).
func (p *Pipeline) runFetches(ctx context.Context, f *fetch.Fetcher, names []string, o FetchOptions) []FetchOutcome {
	jobs := o.Jobs
	if jobs < 1 {
		jobs = p.cfg.Jobs
	}
	h := &fetch.Hooks{}
	if o.Observer != nil {
		h.Started, h.Finished = o.Observer.FetchStarted, o.Observer.FetchFinished
	}
	all := f.FetchAll(ctx, names, jobs, h)
	out := make([]FetchOutcome, len(all))
	for i, o := range all {
		out[i] = FetchOutcome(o)
	}
	return out
}
