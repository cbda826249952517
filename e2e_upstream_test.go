//go:build e2e

// The slowest end-to-end tests: upstream recipes built unchanged with real
// compilers (several minutes). They run with the e2e build tag, as .ci/run
// does: COOK_SHARED=../shared go test -tags e2e -run TestUpstream .
package cook_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func shared(t testing.TB) string {
	t.Helper()
	s := os.Getenv("COOK_SHARED")
	if s == "" {
		t.Skip("COOK_SHARED is not set")
	}
	return s
}

// mirrorFlags serves shared/tarballs on 127.0.0.1 and returns --mirror flags
// sending every URL of MANIFEST.tsv (and the gnu-config script download) there.
func mirrorFlags(t *testing.T, sharedDir string) []string {
	t.Helper()
	dir := filepath.Join(sharedDir, "tarballs")
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var flags []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) < 4 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		url, file := fields[1], fields[2]
		prefix := url[:strings.LastIndex(url, "/")+1]
		to := srv.URL + "/"
		if d := filepath.Dir(file); d != "." {
			to += d + "/"
		}
		flags = append(flags, "--mirror="+prefix+"="+to)
	}
	return flags
}

type result struct {
	Recipe, Status, Stage, Error string
	Seconds                      float64
}

// cook runs the binary and returns its JSON build results.
func cook(t testing.TB, args ...string) ([]result, string, error) {
	t.Helper()
	cmd := exec.Command(cookBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var out struct{ Results []result }
	json.Unmarshal(stdout.Bytes(), &out)
	return out.Results, stdout.String() + stderr.String(), err
}

// TestUpstreamRecipesHost builds the six upstream recipes with real tarballs,
// unchanged, for the host, and runs the built bzip2 and patch.
func TestUpstreamRecipesHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds six upstream recipes")
	}
	s := shared(t)
	need(t, "gcc", "make", "autoreconf")
	work := t.TempDir()
	args := append([]string{"--cookbook", filepath.Join(s, "corpus", "redox"), "--work", work,
		"--target", "x86_64-unknown-linux-gnu", "--json"}, mirrorFlags(t, s)...)
	args = append(args, "build", "--keep-going", "bzip2", "patch", "m4", "libev", "duktape", "libmodplug1")
	res, out, err := cook(t, args...)
	if err != nil {
		t.Fatalf("cook build: %v\n%s", err, out)
	}
	stages := map[string]string{}
	for _, r := range res {
		if r.Status != "built" {
			t.Errorf("%s: %s %s", r.Recipe, r.Status, r.Error)
		}
		stages[r.Recipe] = r.Stage
	}
	if len(stages) != 6 {
		t.Fatalf("results for %d recipes: %v", len(stages), res)
	}
	if v := runOut(t, filepath.Join(stages["bzip2"], "usr/bin/bzip2"), "--help"); !strings.Contains(v, "Version 1.0.8") {
		t.Errorf("bzip2 --help: %s", v)
	}
	if v := runOut(t, filepath.Join(stages["patch"], "usr/bin/patch"), "--version"); !strings.Contains(v, "GNU patch 2.7.6") {
		t.Errorf("patch --version: %s", v)
	}
	if v := runOut(t, filepath.Join(stages["m4"], "usr/bin/m4"), "--version"); !strings.Contains(v, "1.4.19") {
		t.Errorf("m4 --version: %s", v)
	}
	// A second run builds nothing.
	res, out, err = cook(t, args...)
	if err != nil {
		t.Fatalf("second build: %v\n%s", err, out)
	}
	for _, r := range res {
		if r.Status != "cached" {
			t.Errorf("second run: %s %s", r.Recipe, r.Status)
		}
	}
}

// TestUpstreamRecipesCross builds bzip2 and patch for aarch64 with Debian's
// cross gcc, hermetically, and runs them under qemu-aarch64.
func TestUpstreamRecipesCross(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds two upstream recipes")
	}
	s := shared(t)
	need(t, "aarch64-linux-gnu-gcc", "qemu-aarch64", "autoreconf")
	work := t.TempDir()
	args := append([]string{"--cookbook", filepath.Join(s, "corpus", "redox"), "--work", work,
		"--target", "aarch64-unknown-linux-gnu", "--json"}, mirrorFlags(t, s)...)
	args = append(args, "build", "bzip2", "patch")
	res, out, err := cook(t, args...)
	if err != nil {
		t.Fatalf("cook build: %v\n%s", err, out)
	}
	stages := map[string]string{}
	for _, r := range res {
		stages[r.Recipe] = r.Stage
	}
	sysroot := filepath.Join(work, "prefix", "aarch64-unknown-linux-gnu", "sysroot")
	file := runOut(t, "file", "-L", filepath.Join(stages["bzip2"], "usr/bin/bzip2"))
	if !strings.Contains(file, "ARM aarch64") {
		t.Errorf("bzip2 is not an aarch64 binary: %s", file)
	}
	if v := runOut(t, "qemu-aarch64", "-L", sysroot, filepath.Join(stages["bzip2"], "usr/bin/bzip2"), "--help"); !strings.Contains(v, "Version 1.0.8") {
		t.Errorf("bzip2 under qemu: %s", v)
	}
	if v := runOut(t, "qemu-aarch64", "-L", sysroot, filepath.Join(stages["patch"], "usr/bin/patch"), "--version"); !strings.Contains(v, "GNU patch 2.7.6") {
		t.Errorf("patch under qemu: %s", v)
	}
}
