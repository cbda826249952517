package fetch

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redox-cook/cook/script"
)

// shimEnv serves files at upstream-looking URLs from a loopback server
// behind mirror rules, and runs bash snippets with cook's wget and curl.
type shimEnv struct {
	t     *testing.T
	up    *upstream
	cache string
	files map[string]string // URL → content
}

const (
	gnuConfigURL = script.GNUConfigURL
	jarURL       = "https://github.com/Anuken/Mindustry/releases/download/v146/Mindustry.jar"
	zipURL       = "https://camanis.net/tyrian/tyrian21.zip"
	quakeURL     = "https://github.com/Jason2Brownlee/QuakeOfficialArchive/raw/refs/heads/main/bin/quake106.zip"
	rarURL       = "https://archive.org/download/jazz-jackrabbit/Jazz%20Jackrabbit.rar"
	perlURL      = "https://github.com/arsv/perl-cross/releases/download/1.6/perl-cross-1.6.tar.gz"
	nodeURL      = "https://webi.sh/node"
	pharURL      = "https://getcomposer.org/download/2.8.12/composer.phar"
)

func newShimEnv(t *testing.T) *shimEnv {
	e := &shimEnv{t: t, up: newUpstream(t), cache: t.TempDir(), files: map[string]string{
		gnuConfigURL: "#! /bin/sh\n# config.sub for redox\n",
		jarURL:       "jar bytes",
		zipURL:       "zip bytes",
		quakeURL:     "quake bytes",
		rarURL:       "rar bytes",
		perlURL:      "perl-cross bytes",
		nodeURL:      "echo installed node\n",
		pharURL:      "phar bytes",
	}}
	for u, c := range e.files {
		e.up.addBody(u, []byte(c))
	}
	return e
}

func (e *shimEnv) downloader(opts ...DownloaderOption) *Downloader {
	var urls []string
	for u := range e.files {
		urls = append(urls, u)
	}
	dl, err := NewDownloader(append([]DownloaderOption{WithCacheDir(e.cache), WithMirrors(e.up.mirrors(urls...)),
		WithRetries(0, 0), WithLogger(testLogger(e.t))}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	return dl
}

// run runs text (after the shared prescript) with bash -e in a fresh
// directory with the shims of recipe "demo"; it returns the directory, the
// output and the exit error.
func runShimScript(t *testing.T, sh *Shims, text string) (string, string, error) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("bash", "-e")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(script.SourceScript(text))
	cmd.Env = sh.Environ(os.Environ())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return dir, out.String(), err
}

// TestShimOptionForms runs every wget and curl form the corpus uses.
func TestShimOptionForms(t *testing.T) {
	e := newShimEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, script string
		files        map[string]string // file in the script's dir → URL whose content it must hold
		stdout       string
	}{
		{"wget -O with query", `mkdir build-aux; wget -O build-aux/config.sub "` + gnuConfigURL + `"`, map[string]string{"build-aux/config.sub": gnuConfigURL}, ""},
		{"GNU_CONFIG_GET", `GNU_CONFIG_GET ./config.sub`, map[string]string{"config.sub": gnuConfigURL}, ""},
		{"wget -O before URL", `mkdir -p a/b; wget -O "a/b/icon.png" ` + jarURL, map[string]string{"a/b/icon.png": jarURL}, ""},
		{"wget URL", `wget ` + jarURL, map[string]string{"Mindustry.jar": jarURL}, ""},
		{"wget twice", `wget ` + jarURL + `; wget ` + jarURL, map[string]string{"Mindustry.jar": jarURL, "Mindustry.jar.1": jarURL}, ""},
		{"wget -q --show-progress", `wget -q --show-progress "` + zipURL + `"`, map[string]string{"tyrian21.zip": zipURL}, ""},
		{"wget -c", `wget -c ` + pharURL, map[string]string{"composer.phar": pharURL}, ""},
		{"wget --output-document=", `wget --output-document=x ` + pharURL, map[string]string{"x": pharURL}, ""},
		{"wget -O -", `wget -qO- ` + nodeURL + ` | sh`, nil, "installed node"},
		{"curl -vJL -o", `curl -vJL ` + rarURL + ` -o jazzdemo.rar`, map[string]string{"jazzdemo.rar": rarURL}, ""},
		{"curl -sS | sh", `curl -sS ` + nodeURL + ` | sh`, nil, "installed node"},
		{"curl -OL", `curl -OL ` + zipURL, map[string]string{"tyrian21.zip": zipURL}, ""},
		{"curl -O quoted", `curl -O "` + quakeURL + `"`, map[string]string{"quake106.zip": quakeURL}, ""},
		{"curl -L -O --time-cond", `curl -L -O --time-cond perl-cross-1.6.tar.gz ` + perlURL, map[string]string{"perl-cross-1.6.tar.gz": perlURL}, ""},
		{"curl -fsSLo", `curl -fsSLo out ` + perlURL, map[string]string{"out": perlURL}, ""},
		{"curl --output --location", `curl --location --output o2 ` + perlURL, map[string]string{"o2": perlURL}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh, err := StartShims(ctx, e.downloader(), "demo")
			if err != nil {
				t.Fatal(err)
			}
			defer sh.Close()
			dir, out, err := runShimScript(t, sh, tc.script)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for f, u := range tc.files {
				if got := readFile(t, filepath.Join(dir, f)); got != e.files[u] {
					t.Errorf("%s = %q, want the content of %s", f, got, u)
				}
			}
			if !strings.Contains(out, tc.stdout) {
				t.Errorf("output %q lacks %q", out, tc.stdout)
			}
			dls := sh.Downloads()
			if len(dls) == 0 {
				t.Fatal("no download recorded")
			}
			for _, d := range dls {
				if d.Blake3 != b3hex([]byte(e.files[d.URL])) {
					t.Errorf("recorded %s with BLAKE3 %s", d.URL, d.Blake3)
				}
			}
		})
	}
}

func TestShimRefusals(t *testing.T) {
	e := newShimEnv(t)
	ctx := context.Background()
	for _, tc := range []struct{ name, script, want string }{
		{"wget unknown long option", `wget --no-check-certificate ` + jarURL, "cook wget (recipe demo): unknown option --no-check-certificate"},
		{"wget unknown short option", `wget -N ` + jarURL, "cook wget (recipe demo): unknown option -N"},
		{"curl unknown option", `curl --insecure -O ` + jarURL, "cook curl (recipe demo): unknown option --insecure"},
		{"curl unknown cluster", `curl -kL -O ` + jarURL, "cook curl (recipe demo): unknown option -k"},
		{"wget non-URL argument", `wget ` + jarURL + ` "$PWD/stage"`, "Scheme missing"},
		{"404", `wget https://github.com/missing/file`, "HTTP 404 Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.up.requests.Load()
			sh, err := StartShims(ctx, e.downloader(), "demo")
			if err != nil {
				t.Fatal(err)
			}
			defer sh.Close()
			_, out, err := runShimScript(t, sh, tc.script)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("err %v, output %q; want a failure saying %q", err, out, tc.want)
			}
			if strings.Contains(tc.name, "unknown") && e.up.requests.Load() != before {
				t.Error("an unknown option still made a request")
			}
		})
	}
}

// A URL fetched once is served from the cache when the network is gone, in
// fetch (network) mode and in build (cache-only) mode; offline and
// cache-only misses are refused naming the recipe and the URL.
func TestShimCacheOfflineAndBuildMode(t *testing.T) {
	e := newShimEnv(t)
	ctx := context.Background()
	sh, err := StartShims(ctx, e.downloader(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	if _, out, err := runShimScript(t, sh, `GNU_CONFIG_GET config.sub`); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sh.Close()
	e.up.Close() // the network is gone

	check := func(name string, dl *Downloader, opts []ShimOption, text string, ok bool, want ...string) {
		t.Run(name, func(t *testing.T) {
			sh, err := StartShims(ctx, dl, "demo", opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer sh.Close()
			dir, out, err := runShimScript(t, sh, text)
			if ok {
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				if got := readFile(t, filepath.Join(dir, "config.sub")); got != e.files[gnuConfigURL] {
					t.Errorf("config.sub = %q", got)
				}
				if d := sh.Downloads(); len(d) != 1 || d[0].URL != gnuConfigURL {
					t.Errorf("downloads %+v", d)
				}
				return
			}
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
		})
	}
	check("cache hit, network mode", e.downloader(), nil, `GNU_CONFIG_GET config.sub`, true)
	check("cache hit, offline", e.downloader(WithOffline(true)), nil, `GNU_CONFIG_GET config.sub`, true)
	check("cache hit, build mode", e.downloader(WithOffline(true)), []ShimOption{CacheOnly("allow it with [network]")}, `GNU_CONFIG_GET config.sub`, true)
	check("offline miss", e.downloader(WithOffline(true)), nil, `wget `+jarURL,
		false, "recipe demo", jarURL, "offline")
	check("build-mode miss", e.downloader(WithOffline(true)), []ShimOption{CacheOnly(`or allow network builds for it: [network] allow = ["demo"] in cook.toml`)},
		`curl -sS -o x `+jarURL, false, "recipe demo", jarURL, "builds have no network", `allow = ["demo"]`)
}

func TestShimOutsideScript(t *testing.T) {
	t.Setenv(EnvShimSocket, "")
	var out bytes.Buffer
	if code := ShimMain([]string{"wget", "https://example.org/x"}, &out, &out); code == 0 || !strings.Contains(out.String(), EnvShimSocket) {
		t.Errorf("exit %d, %q", code, out.String())
	}
	_ = time.Second
}
