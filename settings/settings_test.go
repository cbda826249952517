package settings

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	s, err := Parse("cook.toml", []byte(`
target = "aarch64-unknown-linux-gnu"
jobs = 3
[mirrors]
"https://ftp.gnu.org/gnu/" = "http://127.0.0.1:8000/gnu/"
[cargo]
registry = "/usr/share/cargo/registry"
vendor = "/srv/crates"
[toolchain]
cbindgen = "/opt/cbindgen/cbindgen"
[network]
allow = ["relibc"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Target != "aarch64-unknown-linux-gnu" || s.Jobs != 3 || s.Cargo.Registry == "" || len(s.Network.Allow) != 1 {
		t.Fatalf("got %+v", s)
	}
	if s.Cargo.Vendor != "/srv/crates" || s.Toolchain.Cbindgen != "/opt/cbindgen/cbindgen" {
		t.Fatalf("cargo %+v toolchain %+v", s.Cargo, s.Toolchain)
	}
	if s.Mirrors["https://ftp.gnu.org/gnu/"] != "http://127.0.0.1:8000/gnu/" {
		t.Fatalf("mirrors %v", s.Mirrors)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"jobs = \"x\"", "cook.toml"},
		{"target = \n", "cook.toml:1"},
		{"tagret = \"x\"", "unknown key(s): tagret"},
		{"[mirrors]\n\"a\" = \"ftp://x\"", "must start with"},
	} {
		_, err := Parse("cook.toml", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestLimits(t *testing.T) {
	for in, want := range map[string]int64{
		"":                                    0,
		"[limits]\nsource_size = 1024":        1024,
		"[limits]\nsource_size = \"16GiB\"":   16 << 30,
		"[limits]\nsource_size = \"500 MiB\"": 500 << 20,
		"[limits]\nsource_size = \"2 GB\"":    2e9,
		"[limits]\nsource_size = \"123\"":     123,
	} {
		s, err := Parse("cook.toml", []byte(in))
		if err != nil || int64(s.Limits.SourceSize) != want {
			t.Errorf("Parse(%q): %v, %v, want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"source_size = \"lots\"", "source_size = -1", "source_size = \"5 parsecs\"", "source_size = 0", "source_size = \"99999999 TiB\""} {
		_, err := Parse("cook.toml", []byte("[limits]\n"+in))
		if err == nil || !strings.Contains(err.Error(), "cook.toml:2:") || !strings.Contains(err.Error(), "size") {
			t.Errorf("Parse(%q) = %v, want an error naming line 2 and the size", in, err)
		}
	}
}

// TestRemoteCache: the flag beats COOK_REMOTE_CACHE, which beats cook.toml;
// read-only from either; none when turned off or offline.
func TestRemoteCache(t *testing.T) {
	t.Setenv("COOK_REMOTE_CACHE", "http://env:9090")
	t.Setenv("COOK_CACHE_TOKEN", "tok")
	r := &Resolved{Settings: &Settings{}}
	r.Settings.Cache.Remote = "http://toml:9090"
	if got := r.RemoteCache("http://flag:9090", false, false); got.URL != "http://flag:9090" || got.Token != "tok" || got.ReadOnly {
		t.Errorf("flag: %+v", got)
	}
	if got := r.RemoteCache("", true, false); got.URL != "http://env:9090" || !got.ReadOnly {
		t.Errorf("env: %+v", got)
	}
	t.Setenv("COOK_REMOTE_CACHE", "")
	r.Settings.Cache.ReadOnly = true
	if got := r.RemoteCache("", false, false); got.URL != "http://toml:9090" || !got.ReadOnly {
		t.Errorf("cook.toml: %+v", got)
	}
	if got := r.RemoteCache("http://flag:9090", false, true); got.URL != "" {
		t.Errorf("--no-remote-cache: %+v", got)
	}
	r.Offline = true
	if got := r.RemoteCache("http://flag:9090", false, false); got.URL != "" {
		t.Errorf("offline: %+v", got)
	}
}

// TestResolveHostile: each environment variable and flag Resolve reads is
// checked: a bad COOK_JOBS, -j, COOK_TARGET, COOK_CARGO_VENDOR, --mirror or
// COOK_CONFIG is an error naming it, not a default taken silently.
func TestResolveHostile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	badToml := filepath.Join(dir, "bad.toml")
	os.WriteFile(badToml, []byte("jobs = \"many\"\n"), 0o644)
	fifo := filepath.Join(dir, "fifo.toml") // opening it for reading would wait for a writer
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.toml")
	os.WriteFile(huge, nil, 0o644)
	os.Truncate(huge, 1<<30) // sparse: costs nothing on disk, 1 GiB to read
	registry := filepath.Join(dir, "registry.toml")
	os.WriteFile(registry, []byte("[cargo]\nregistry = \"/srv/registry\"\n"), 0o644)
	for _, tc := range []struct {
		env  map[string]string
		g    Given
		want string
	}{
		{map[string]string{"COOK_JOBS": "x"}, Given{}, "COOK_JOBS"},
		{map[string]string{"COOK_JOBS": "0"}, Given{}, "COOK_JOBS"},
		{map[string]string{"COOK_JOBS": "-3"}, Given{}, "COOK_JOBS"},
		{map[string]string{"COOK_JOBS": "99999999999999999999999"}, Given{}, "COOK_JOBS"},
		{nil, Given{Jobs: -2}, "-j -2"},
		{map[string]string{"COOK_TARGET": "../../etc"}, Given{}, "--target"},
		{map[string]string{"COOK_TARGET": "x86_64-unknown-redox\n"}, Given{}, "--target"},
		{map[string]string{"COOK_CARGO_VENDOR": file}, Given{}, "not a directory"},
		{map[string]string{"COOK_CARGO_VENDOR": filepath.Join(dir, "missing")}, Given{}, "not a directory"},
		{map[string]string{"COOK_CARGO_VENDOR": dir}, Given{Config: registry}, "both replace crates.io"},
		{nil, Given{Mirrors: []string{"https://a/"}}, "want FROM=TO"},
		{nil, Given{Mirrors: []string{"https://a/=ftp://b/"}}, "must start with"},
		{map[string]string{"COOK_CONFIG": filepath.Join(dir, "missing.toml")}, Given{}, "missing.toml"},
		{map[string]string{"COOK_CONFIG": badToml}, Given{}, "bad.toml"},
		{map[string]string{"COOK_CONFIG": fifo}, Given{}, "fifo.toml: not a regular file"},
		{map[string]string{"COOK_CONFIG": huge}, Given{}, "huge.toml: larger than the limit of 1 MiB"},
	} {
		for _, k := range []string{"COOK_COOKBOOK", "COOK_CONFIG", "COOK_TARGET", "COOK_JOBS", "COOK_CARGO_VENDOR"} {
			t.Setenv(k, tc.env[k])
		}
		t.Setenv("COOK_COOKBOOK", dir) // no cook.toml there
		_, err := Resolve(tc.g)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v, %+v: Resolve = %v, want an error naming %q", tc.env, tc.g, err, tc.want)
		}
	}
	t.Setenv("COOK_COOKBOOK", dir)
	for _, k := range []string{"COOK_CONFIG", "COOK_TARGET", "COOK_CARGO_VENDOR"} {
		t.Setenv(k, "")
	}
	t.Setenv("COOK_JOBS", "2")
	if r, err := Resolve(Given{}); err != nil || r.Jobs != 2 || r.Cookbook != dir {
		t.Errorf("Resolve = %+v, %v; want 2 jobs in %s", r, err, dir)
	}
}
