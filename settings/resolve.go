package settings

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/triple"
	"github.com/redox-cook/cook/workdir"
)

// Given are cook's global options as the command line gave them: empty,
// zero or nil when not given.
type Given struct {
	Cookbook, Work, Target, Config, CargoVendor string
	Jobs                                        int
	Mirrors                                     []string // FROM=TO
	Offline                                     *bool
}

// Resolved is what cook runs with.
type Resolved struct {
	Settings    *Settings
	Cookbook    string // absolute root of the recipe tree ("" when none was found)
	Target      triple.Triple
	Jobs        int
	Offline     bool
	Mirrors     map[string]string
	CargoVendor string // absolute, or ""
	Cbindgen    string // COOK_CBINDGEN, else cook.toml's [toolchain] cbindgen
	work        string // as given or set: Work resolves it
}

// Resolve applies cook's order of precedence to each option: the command
// line, then the environment (COOK_COOKBOOK, COOK_CONFIG, COOK_TARGET,
// COOK_JOBS, COOK_OFFLINE, COOK_CARGO_VENDOR, COOK_WORK, COOK_CBINDGEN),
// then cook.toml (--config, COOK_CONFIG, else at the cookbook root), then
// the defaults. Its errors are the user's to fix.
func Resolve(g Given) (*Resolved, error) {
	r := &Resolved{Cookbook: first(g.Cookbook, os.Getenv("COOK_COOKBOOK"))}
	if r.Cookbook == "" {
		if wd, err := os.Getwd(); err == nil {
			r.Cookbook = cookbook.Find(wd)
		}
	}
	if r.Cookbook != "" {
		abs, err := filepath.Abs(r.Cookbook)
		if err != nil {
			return nil, err
		}
		r.Cookbook = abs
	}
	switch cfg := first(g.Config, os.Getenv("COOK_CONFIG")); {
	case cfg != "":
		s, err := Load(cfg)
		if err != nil {
			return nil, err
		}
		r.Settings = s
	case r.Cookbook != "":
		s, err := Load(filepath.Join(r.Cookbook, "cook.toml"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		r.Settings = s
	}
	if r.Settings == nil {
		r.Settings = &Settings{}
	}
	s := r.Settings
	t, err := triple.Parse(first(g.Target, os.Getenv("COOK_TARGET"), s.Target, "x86_64-unknown-redox"))
	if err != nil {
		return nil, fmt.Errorf("--target: %w", err)
	}
	r.Target = t
	switch r.Jobs = g.Jobs; {
	case r.Jobs != 0:
	case os.Getenv("COOK_JOBS") != "":
		v := os.Getenv("COOK_JOBS")
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("COOK_JOBS=%q: want a positive number", v)
		}
		r.Jobs = n
	case s.Jobs > 0:
		r.Jobs = s.Jobs
	default:
		r.Jobs = runtime.NumCPU()
	}
	if r.Jobs < 1 {
		return nil, fmt.Errorf("-j %d: want at least 1", r.Jobs)
	}
	if g.Offline != nil {
		r.Offline = *g.Offline
	} else {
		v := os.Getenv("COOK_OFFLINE")
		r.Offline = v == "1" || v == "true" || s.Offline
	}
	if v := first(g.CargoVendor, os.Getenv("COOK_CARGO_VENDOR"), s.Cargo.Vendor); v != "" {
		abs, err := filepath.Abs(v)
		if err != nil {
			return nil, err
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--cargo-vendor %s: not a directory", v)
		}
		if s.Cargo.Registry != "" {
			return nil, fmt.Errorf("--cargo-vendor %s and cook.toml [cargo] registry = %q both replace crates.io: set one", v, s.Cargo.Registry)
		}
		r.CargoVendor = abs
	}
	r.Mirrors = map[string]string{}
	for from, to := range s.Mirrors {
		r.Mirrors[from] = to
	}
	for _, m := range g.Mirrors {
		from, to, err := ParseMirror(m)
		if err != nil {
			return nil, err
		}
		r.Mirrors[from] = to
	}
	r.Cbindgen = first(os.Getenv("COOK_CBINDGEN"), s.Toolchain.Cbindgen)
	r.work = first(g.Work, os.Getenv("COOK_WORK"), s.Work)
	return r, nil
}

// Work is cook's state directory: --work, COOK_WORK, cook.toml's work,
// else workdir.Default for the cookbook (or the current directory).
func (r *Resolved) Work() (string, error) {
	if r.work != "" {
		return filepath.Abs(r.work)
	}
	root := r.Cookbook
	if root == "" {
		root, _ = os.Getwd()
	}
	return workdir.Default(root)
}

// RemoteCache is the shared action cache builds use.
type RemoteCache struct {
	// URL is a bazel-remote HTTP endpoint, or file:///DIR for a shared
	// directory ("" for none).
	URL string
	// ReadOnly only reads, never uploads.
	ReadOnly bool
	// Token is a bearer token; User and Password basic credentials.
	Token, User, Password string
}

// RemoteCache resolves the remote cache: url (--remote-cache), else
// COOK_REMOTE_CACHE, else cook.toml's [cache] remote; none when off
// (--no-remote-cache) or offline. Credentials come from COOK_CACHE_TOKEN,
// COOK_CACHE_USER and COOK_CACHE_PASSWORD (or user:pass@ in the URL).
func (r *Resolved) RemoteCache(url string, readOnly, off bool) RemoteCache {
	url = first(url, os.Getenv("COOK_REMOTE_CACHE"), r.Settings.Cache.Remote)
	if url == "" || off || r.Offline {
		return RemoteCache{}
	}
	return RemoteCache{URL: url, ReadOnly: readOnly || r.Settings.Cache.ReadOnly,
		Token: os.Getenv("COOK_CACHE_TOKEN"), User: os.Getenv("COOK_CACHE_USER"), Password: os.Getenv("COOK_CACHE_PASSWORD")}
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
