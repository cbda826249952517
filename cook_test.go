// End-to-end tests: the cook binary, built once, run as a user runs it. The
// slowest ones, building upstream recipes from the real tree in $COOK_SHARED,
// are in e2e_upstream_test.go behind the e2e build tag.
package cook_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var cookBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cook-e2e-")
	if err != nil {
		panic(err)
	}
	cookBin = filepath.Join(dir, "cook")
	// Read every Go source the binary is built from: go test's result cache
	// keys on the files a test opens, so a changed source reruns these tests.
	filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".sh") || strings.HasSuffix(p, ".toml")) {
			os.ReadFile(p)
		}
		return nil
	})
	out, err := exec.Command("go", "build", "-o", cookBin, "./cmd/cook").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building cook: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func need(t testing.TB, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s is not installed", c)
		}
	}
}

func runOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// TestInterrupt sends SIGINT to a build with running jobs: cook exits 130,
// no process it started survives, and no stage is left half-written.
func TestInterrupt(t *testing.T) {
	for _, sandbox := range []bool{true, false} {
		t.Run(fmt.Sprintf("sandbox=%v", sandbox), func(t *testing.T) {
			dir := t.TempDir()
			marker := fmt.Sprintf("cook-interrupt-marker-%d-%v", time.Now().UnixNano(), sandbox)
			for _, name := range []string{"slow-a", "slow-b"} {
				rdir := filepath.Join(dir, "book", "recipes", name)
				os.MkdirAll(rdir, 0o755)
				script := fmt.Sprintf(`mkdir -p "${COOKBOOK_STAGE}/usr/share"
echo partial > "${COOKBOOK_STAGE}/usr/share/half-written"
(exec -a %s sleep 300) &
exec -a %s sleep 301
`, marker, marker)
				os.WriteFile(filepath.Join(rdir, "recipe.toml"), []byte("[build]\ntemplate = \"custom\"\nscript = '''\n"+script+"'''\n"), 0o644)
			}
			args := []string{"--cookbook", filepath.Join(dir, "book"), "--work", filepath.Join(dir, "work"),
				"--target", "x86_64-unknown-linux-gnu", "-j", "2", "build", "slow-a", "slow-b"}
			if !sandbox {
				args = append(args, "--no-sandbox")
			}
			cmd := exec.Command(cookBin, args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// wait until both jobs run their sleeps
			deadline := time.Now().Add(30 * time.Second)
			for countProcs(marker) < 4 {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("jobs never started (%d processes)\n%s", countProcs(marker), out.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGINT)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if cmd.ProcessState.ExitCode() != 130 {
					t.Errorf("exit %d (%v), want 130\n%s", cmd.ProcessState.ExitCode(), err, out.String())
				}
			case <-ctx.Done():
				cmd.Process.Kill()
				t.Fatalf("cook did not stop after SIGINT\n%s", out.String())
			}
			time.Sleep(300 * time.Millisecond)
			if n := countProcs(marker); n != 0 {
				t.Errorf("%d processes survived the interrupt", n)
			}
			for _, name := range []string{"slow-a", "slow-b"} {
				tdir := filepath.Join(dir, "work", "recipes", name, "target", "x86_64-unknown-linux-gnu")
				for _, p := range []string{"stage", "stage.tmp", "stage.pkgar"} {
					if _, err := os.Stat(filepath.Join(tdir, p)); err == nil {
						t.Errorf("%s/%s exists after the interrupt", name, p)
					}
				}
			}
		})
	}
}

// countProcs counts processes whose command line starts with marker.
func countProcs(marker string) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.HasPrefix(b, []byte(marker)) {
			n++
		}
	}
	return n
}

// TestDemo runs the README's first command: the embedded demo cookbook
// through the whole pipeline, for this machine, into an image.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the demo")
	}
	need(t, "gcc", "cargo")
	work := t.TempDir()
	out, err := exec.Command(cookBin, "--work", work, "demo").CombinedOutput()
	if err != nil {
		t.Fatalf("cook demo: %v\n%s", err, out)
	}
	for _, want := range []string{"usr/bin", "hello", "rhello", "libhello.so.1", "hello.pkgar_head", "That was a demonstration"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	stage := filepath.Join(work, "demo", "work", "recipes")
	cmd := exec.Command(filepath.Join(stage, "hello/target/x86_64-unknown-linux-gnu/stage/usr/bin/hello"))
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(stage, "libhello/target/x86_64-unknown-linux-gnu/stage/usr/lib"))
	if got, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(got), "Hello from libhello") {
		t.Errorf("hello: %v %q", err, got)
	}
	if got := runOut(t, filepath.Join(stage, "rhello/target/x86_64-unknown-linux-gnu/stage/usr/bin/rhello")); !strings.Contains(got, "Hello from Rust") {
		t.Errorf("rhello: %q", got)
	}
	// A second run builds nothing and shows the same image.
	out2, err := exec.Command(cookBin, "--work", work, "demo").CombinedOutput()
	if err != nil || !bytes.Contains(out2, []byte("0 built, 4 cached")) {
		t.Errorf("second demo run: %v\n%s", err, out2)
	}
}
