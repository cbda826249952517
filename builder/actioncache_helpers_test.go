package builder_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/triple"
	"github.com/redox-cook/cook/workdir"
)

// bazelRemoteBin is the bazel-remote binary for the tests: $COOK_BAZEL_REMOTE
// when set (CI builds it once), else built from internal/tools/bazelremote
// into a directory shared by this test binary's tests.
var bazelRemoteBin = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("COOK_BAZEL_REMOTE"); p != "" {
		return p, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	bin := filepath.Join(dir, "cook-test", "bazel-remote-v2.6.2")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.Command("go", "build", "-o", bin, "github.com/buchgr/bazel-remote/v2")
	cmd.Dir = filepath.Join("..", "internal", "tools", "bazelremote")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building bazel-remote: %v\n%s", err, out)
	}
	return bin, nil
})

// bazelRemote is a running bazel-remote on 127.0.0.1.
type bazelRemote struct {
	URL  string
	cmd  *exec.Cmd
	dir  string
	addr string
	log  *bytes.Buffer
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startBazelRemote runs bazel-remote with a fresh disk cache; extra flags
// are appended.
func startBazelRemote(t testing.TB, extra ...string) *bazelRemote {
	t.Helper()
	bin, err := bazelRemoteBin()
	if err != nil {
		t.Skip(err)
	}
	br := &bazelRemote{dir: t.TempDir(), addr: freePort(t), log: &bytes.Buffer{}}
	br.URL = "http://" + br.addr
	br.start(t, bin, extra...)
	t.Cleanup(br.stop)
	return br
}

func (br *bazelRemote) start(t testing.TB, bin string, extra ...string) {
	args := append([]string{"--dir", br.dir, "--max_size", "1", "--http_address", br.addr,
		"--grpc_address", "none"}, extra...)
	br.cmd = exec.Command(bin, args...)
	br.cmd.Stdout, br.cmd.Stderr = br.log, br.log
	if err := br.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(br.URL + "/status")
		if err == nil { // up, even when it wants credentials
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			br.stop()
			t.Fatalf("bazel-remote did not come up: %v\n%s", err, br.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (br *bazelRemote) stop() {
	if br.cmd != nil && br.cmd.Process != nil {
		br.cmd.Process.Kill()
		br.cmd.Wait()
		br.cmd = nil
	}
}

// machine is one work directory with its builder, loading testdata/cookbook
// (testdata/shared-cookbook, or root) for the host.
type machine struct {
	b     *builder.Builder
	ac    *builder.ActionCache
	store cache.Store
}

type machineOpt struct {
	root      string           // recipe tree (default testdata/cookbook)
	keysFrom  *builder.Builder // share the signing key (it is an input of the action key)
	store     func(w workdir.Dir) cache.Store
	noSandbox bool
	warn      func(string)
	tree      *cookbook.Tree
}

func newMachine(t testing.TB, o machineOpt) *machine {
	t.Helper()
	if o.root == "" {
		o.root = "testdata/shared-cookbook"
	}
	tree := o.tree
	if tree == nil {
		var err error
		tree, err = cookbook.Load(context.Background(), o.root)
		if err != nil {
			t.Fatal(err)
		}
	}
	work := workdir.New(t.TempDir())
	if o.keysFrom != nil {
		if out, err := exec.Command("cp", "-a", o.keysFrom.Work.Keys(), work.Keys()).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	key, err := pkgar.EnsureKeys(work.Keys())
	if err != nil {
		t.Fatal(err)
	}
	b := &builder.Builder{Tree: tree, Work: work, Target: triple.Host(), Key: key, Jobs: 2,
		NoSandbox: o.noSandbox, CargoHome: filepath.Join(work.Root, "cargo")}
	m := &machine{b: b}
	if o.store != nil {
		warn := o.warn
		if warn == nil {
			warn = func(s string) { t.Log(s) }
		}
		os.MkdirAll(work.Tmp(), 0o755)
		m.store = o.store(work)
		m.ac, err = builder.NewActionCache(m.store, builder.WithWarnings(warn), builder.WithTempDir(work.Tmp()))
		if err != nil {
			t.Fatal(err)
		}
		b.Cache = m.ac
	}
	return m
}

// stageSources stands in for the fetch phase: path sources are copied.
func (m *machine) stageSources(t testing.TB) {
	t.Helper()
	for name, r := range m.b.Tree.Recipes {
		if r.Source == nil || r.Source.Kind != cookbook.Path {
			continue
		}
		dst := m.b.Work.Source(name)
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if out, err := exec.Command("cp", "-a", filepath.Join(m.b.Tree.Root, r.Source.Path), dst).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
}

// buildAll ensures every node of roots' graph, in order, and returns each
// node's status; it fails the test on a build error.
func (m *machine) buildAll(t testing.TB, roots ...string) map[string]builder.Status {
	t.Helper()
	m.stageSources(t)
	var ns []cookbook.Node
	for _, r := range roots {
		ns = append(ns, cookbook.Node{Name: r})
	}
	order, err := m.b.Tree.NewGraph(ns, cookbook.BuildEdge|cookbook.DevEdge|cookbook.PackageEdge).Order()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]builder.Status{}
	for _, n := range order {
		st, _, err := m.b.Ensure(context.Background(), n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		got[n.String()] = st
	}
	if err := m.b.Flush(); err != nil {
		t.Fatal(err)
	}
	if m.ac != nil {
		if err := m.ac.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// outputs lists every output file of the machine's built recipes (stages,
// packages, metadata) relative to the work dir, as "path mode
// content-or-link" lines, so two machines can be compared byte for byte.
func (m *machine) outputs(t testing.TB) map[string]string {
	t.Helper()
	got := map[string]string{}
	root := filepath.Join(m.b.Work.Root, "recipes")
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(m.b.Work.Root, p)
		parts := strings.Split(rel, string(filepath.Separator))
		// recipes/<name>/target/<T>/<stage...>
		if len(parts) < 5 || parts[2] != "target" {
			return nil
		}
		top := parts[4]
		if !(strings.HasPrefix(top, "stage") || top == "auto_deps.toml") {
			if info.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			got[rel] = fmt.Sprintf("link %s", l)
		case info.IsDir():
			got[rel] = fmt.Sprintf("dir %v", info.Mode())
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = fmt.Sprintf("file %v %x", info.Mode(), cache.DigestBytes(data).Hash)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// faultProxy sits in front of a server and misbehaves on demand.
type faultProxy struct {
	URL     string
	srv     *httptest.Server
	mode    atomic.Value // string: "", "500", "corrupt", "slow"
	reqs    atomic.Int64
	corrupt atomic.Int64
}

func newFaultProxy(t testing.TB, target string) *faultProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	fp := &faultProxy{}
	fp.mode.Store("")
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if fp.mode.Load() == "corrupt" && resp.Request.Method == http.MethodGet &&
			strings.Contains(resp.Request.URL.Path, "/cas/") && resp.StatusCode == 200 {
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if len(data) > 0 {
				data[len(data)/2] ^= 0x55
				fp.corrupt.Add(1)
			}
			resp.Body = io.NopCloser(bytes.NewReader(data))
		}
		return nil
	}
	fp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fp.reqs.Add(1)
		switch fp.mode.Load() {
		case "500":
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		case "slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	fp.URL = fp.srv.URL
	t.Cleanup(fp.srv.Close)
	return fp
}

// memServer is an in-memory server of the same protocol, for tests that
// need no real bazel-remote.
type memServer struct {
	mu    sync.Mutex
	blobs map[string][]byte
	puts  atomic.Int64
	heads atomic.Int64
}

func (s *memServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blobs == nil {
		s.blobs = map[string][]byte{}
	}
	key := strings.TrimPrefix(r.URL.Path, "/")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if r.Method == http.MethodHead {
			s.heads.Add(1)
		}
		b, ok := s.blobs[key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		if r.Method == http.MethodGet {
			w.Write(b)
		}
	case http.MethodPut:
		s.puts.Add(1)
		b, _ := io.ReadAll(r.Body)
		s.blobs[key] = b
	}
}

func shaBase64(s string) string {
	h := sha1.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(h[:])
}

// key is the action key of name's build on m now.
func (m *machine) key(t testing.TB, name string) cache.ActionKey {
	t.Helper()
	in, err := m.b.Inputs(context.Background(), cookbook.Node{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return in.Key()
}
