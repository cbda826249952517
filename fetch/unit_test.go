package fetch

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMirrors(t *testing.T) {
	m := NewMirrors(map[string]string{
		"ftp.gnu.org/gnu":                      "https://mirror.example/gnu",
		"ftp.gnu.org/gnu/m4":                   "http://m4.example/m4/",
		"https://gitlab.redox-os.org/redox-os": "file:///srv/git",
	})
	for _, tc := range []struct{ in, want string }{
		{"https://ftp.gnu.org/gnu/patch/patch-2.7.6.tar.xz", "https://mirror.example/gnu/patch/patch-2.7.6.tar.xz"},
		{"http://ftp.gnu.org/gnu/patch/p.tar.xz", "https://mirror.example/gnu/patch/p.tar.xz"},
		{"https://ftp.gnu.org/gnu/m4/m4-1.4.19.tar.xz", "http://m4.example/m4/m4-1.4.19.tar.xz"}, // longest prefix wins
		{"https://gitlab.redox-os.org/redox-os/gnu-config/-/raw/master/config.sub?inline=false", "file:///srv/git/gnu-config/-/raw/master/config.sub?inline=false"},
		{"http://gitlab.redox-os.org/redox-os/x", "http://gitlab.redox-os.org/redox-os/x"}, // the rule names https
		{"https://example.org/x", "https://example.org/x"},
	} {
		if got, _ := m.Translate(tc.in); got != tc.want {
			t.Errorf("%s → %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestPatchIdentifier(t *testing.T) {
	if PatchIdentifier(nil, "") != "" {
		t.Error("no patches, no script: want empty")
	}
	a := PatchIdentifier([][]byte{[]byte("p1"), []byte("p2")}, "")
	b := PatchIdentifier([][]byte{[]byte("p2"), []byte("p1")}, "")
	c := PatchIdentifier([][]byte{[]byte("p1"), []byte("p2")}, "echo")
	if len(a) != 64 || a == b || a == c {
		t.Errorf("order and script must matter: %s %s %s", a, b, c)
	}
	// One input: rotl8(0, 2) ^ h = h, the input's own BLAKE3.
	if got := PatchIdentifier(nil, "script"); got != b3hex([]byte("script")) {
		t.Errorf("single input: %s, want its BLAKE3", got)
	}
}

func TestGitProgress(t *testing.T) {
	var c countCounter
	g := &gitProgress{pc: &c}
	g.Write([]byte("Counting objects:  50% (5/10)\rCounting objects: 100% (10/10), done.\n"))
	g.Write([]byte("Receiving objects:  25% (25/100)\rReceiving objects:  10"))
	g.Write([]byte("0% (100/100), done.\n"))
	if c.total != 100 || c.n != 110 {
		t.Errorf("total %d, count %d; want 100, 110", c.total, c.n)
	}
}

type countCounter struct{ total, n int64 }

func (c *countCounter) SetTotal(n int64) { c.total = n }
func (c *countCounter) Add(n int)        { c.n += int64(n) }
func (c *countCounter) Done()            {}

// Every compression upstream tarballs use, and zip, extract like tar -x
// --strip-components 1 (contents, modes, times, links).
func TestExtractFormats(t *testing.T) {
	src := t.TempDir()
	top := filepath.Join(src, "pkg-1.0")
	os.MkdirAll(filepath.Join(top, "sub", "deep"), 0o755)
	os.WriteFile(filepath.Join(top, "configure"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.WriteFile(filepath.Join(top, "sub", "deep", "file.c"), []byte(strings.Repeat("int x;\n", 5000)), 0o644)
	os.Symlink("deep/file.c", filepath.Join(top, "sub", "link.c"))
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(top, "configure"), old, old)

	tarball := filepath.Join(src, "pkg.tar")
	if out, err := exec.Command("tar", "-C", src, "-cf", tarball, "pkg-1.0").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	formats := map[string][]string{
		"tar": nil, "gz": {"gzip", "-k"}, "xz": {"xz", "-k"}, "bz2": {"bzip2", "-k"}, "zst": {"zstd", "-q"}, "lz": {"lzip", "-k"},
	}
	for ext, tool := range formats {
		t.Run(ext, func(t *testing.T) {
			file := tarball
			if tool != nil {
				if _, err := exec.LookPath(tool[0]); err != nil {
					t.Skip(err)
				}
				if out, err := exec.Command(tool[0], append(tool[1:], "-f", tarball)...).CombinedOutput(); err != nil {
					t.Fatalf("%s: %v %s", tool[0], err, out)
				}
				file = tarball + "." + ext
			}
			checkExtract(t, file, old)
		})
	}
	t.Run("zip", func(t *testing.T) {
		if _, err := exec.LookPath("zip"); err != nil {
			t.Skip(err)
		}
		z := filepath.Join(src, "pkg.zip")
		cmd := exec.Command("zip", "-qry", z, "pkg-1.0")
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("zip: %v %s", err, out)
		}
		checkExtract(t, z, old)
	})
}

func checkExtract(t *testing.T, file string, mtime time.Time) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "out")
	if err := Extract(context.Background(), file, dest); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dest, "configure"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o111 == 0 {
		t.Error("configure lost its executable bit")
	}
	if !st.ModTime().Equal(mtime) {
		t.Errorf("configure mtime %v, want %v", st.ModTime(), mtime)
	}
	if got := readFile(t, filepath.Join(dest, "sub", "deep", "file.c")); got != strings.Repeat("int x;\n", 5000) {
		t.Error("file.c differs")
	}
	if l, err := os.Readlink(filepath.Join(dest, "sub", "link.c")); err != nil || l != "deep/file.c" {
		t.Errorf("link.c: %q %v", l, err)
	}
}

// A failing git rev on a recipe fetched before leaves the old checkout.
func TestGitBadRevKeepsPrevious(t *testing.T) {
	srv := newGitServer(t)
	lib := srv.newRepo(t, "lib")
	c1 := lib.commit("one", map[string]string{"README": "one\n"})
	cr := newCookRoot(t)
	f := newTestFetcher(t, cr.write(map[string]string{"g": "[source]\ngit = \"" + lib.URL + "\"\nrev = \"" + c1 + "\"\n"}), "", nil)
	if _, err := f.Fetch(context.Background(), "g"); err != nil {
		t.Fatal(err)
	}
	bad := "1111111111111111111111111111111111111111"
	g := refetcher(t, f, cr.write(map[string]string{"g": "[source]\ngit = \"" + lib.URL + "\"\nrev = \"" + bad + "\"\n"}))
	_, err := g.Fetch(context.Background(), "g")
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), lib.URL) {
		t.Fatalf("error %v", err)
	}
	if head, err := gitHead(f.Source("g")); err != nil || head != c1 {
		t.Errorf("checkout now at %s (%v), want %s", head, err, c1)
	}
	if info, _ := f.Info("g"); info.SourceIdentifier != c1 {
		t.Errorf("source_info.toml changed: %+v", info)
	}
	assertNoTmp(t, f)
}

// A damaged file in the download cache is noticed and downloaded again.
func TestDamagedCacheRedownloads(t *testing.T) {
	up := newUpstream(t)
	body := makeTarGz(t, tarEntry{name: "s/f", body: "fine"})
	const u = "https://example.org/d.tar.gz"
	up.addBody(u, body)
	f := newTestFetcher(t, testTree(t, map[string]string{"d": tarRecipe(u, b3hex(body))}), "", up.mirrors(u))
	ctx := context.Background()
	res, err := f.Fetch(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := f.dl.Lookup(u, b3hex(body))
	os.Chmod(blob.Path, 0o644)
	os.WriteFile(blob.Path, []byte("rot"), 0o444)
	if err := f.Unfetch("d"); err != nil {
		t.Fatal(err)
	}
	if res, err = f.Fetch(ctx, "d"); err != nil || readFile(t, filepath.Join(res.Source, "f")) != "fine" {
		t.Fatalf("%+v %v", res, err)
	}
	if up.hits[urlKey(u)] != 2 {
		t.Errorf("%d downloads, want 2", up.hits[urlKey(u)])
	}
}

// Cancelling a fetch kills the source script's whole process group.
func TestScriptCancelKillsGroup(t *testing.T) {
	up := newUpstream(t)
	body := makeTarGz(t, tarEntry{name: "s/f", body: "x"})
	const u = "https://example.org/slow.tar.gz"
	up.addBody(u, body)
	pidFile := filepath.Join(t.TempDir(), "pid")
	f := newTestFetcher(t, testTree(t, map[string]string{"slow": tarRecipe(u, b3hex(body),
		`script = "sleep 300 & echo $! > `+pidFile+`; wait"`)}), "", up.mirrors(u))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := f.Fetch(ctx, "slow"); done <- err }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("script did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("cancelled fetch succeeded")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("cancel did not stop the script")
	}
	pid := strings.TrimSpace(readFile(t, pidFile))
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat("/proc/" + pid); err == nil {
		if st, _ := os.ReadFile("/proc/" + pid + "/stat"); !strings.Contains(string(st), ") Z ") {
			t.Errorf("the script's child %s survived", pid)
		}
	}
	if _, err := os.Lstat(f.Source("slow")); !os.IsNotExist(err) {
		t.Error("a cancelled fetch left a source")
	}
	assertNoTmp(t, f)
}

// Mirror rules may point at a local directory (file://).
func TestFileMirror(t *testing.T) {
	dir := t.TempDir()
	body := makeTarGz(t, tarEntry{name: "s/f", body: "local"})
	os.MkdirAll(filepath.Join(dir, "pkg"), 0o755)
	os.WriteFile(filepath.Join(dir, "pkg", "x.tar.gz"), body, 0o644)
	const u = "https://example.org/pkg/x.tar.gz"
	f := newTestFetcher(t, testTree(t, map[string]string{"x": tarRecipe(u, b3hex(body))}), "", map[string]string{"https://example.org": "file://" + dir})
	res, err := f.Fetch(context.Background(), "x")
	if err != nil || readFile(t, filepath.Join(res.Source, "f")) != "local" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestNormalizeDownloads(t *testing.T) {
	got := normalizeDownloads([]Download{{"b", "2"}, {"a", "1"}, {"b", "2"}, {"a", "0"}})
	want := []Download{{"a", "0"}, {"a", "1"}, {"b", "2"}}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
}
