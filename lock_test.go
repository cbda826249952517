package cook_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writeBook writes recipes (name → custom build script) into a cookbook.
func writeBook(t *testing.T, dir string, recipes map[string]string) string {
	t.Helper()
	book := filepath.Join(dir, "book")
	for name, script := range recipes {
		rdir := filepath.Join(book, "recipes", name)
		os.MkdirAll(rdir, 0o755)
		os.WriteFile(filepath.Join(rdir, "recipe.toml"), []byte("[build]\ntemplate = \"custom\"\nscript = '''\n"+script+"\n'''\n"), 0o644)
	}
	return book
}

const lockTarget = "x86_64-unknown-linux-gnu"

// manyFiles stages n files slowly, so that two runs would interleave.
func manyFiles(n int) string {
	return fmt.Sprintf(`mkdir -p "${COOKBOOK_STAGE}/usr/share/many"
for i in $(seq 1 %d); do echo "$i" > "${COOKBOOK_STAGE}/usr/share/many/$i"; sleep 0.005; done`, n)
}

// TestConcurrentBuilds runs two cook build on one work directory at once:
// the second waits for the first (saying so), both succeed, the package is
// complete and the state of both recipes is recorded.
func TestConcurrentBuilds(t *testing.T) {
	dir := t.TempDir()
	book := writeBook(t, dir, map[string]string{"many": manyFiles(200), "other": manyFiles(50)})
	work := filepath.Join(dir, "work")
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 2)
	errs := make([]error, 2)
	for i, recipes := range [][]string{{"many", "other"}, {"other", "many"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(cookBin, append([]string{"--cookbook", book, "--work", work, "--target", lockTarget, "build"}, recipes...)...)
			cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
			errs[i] = cmd.Run()
		}()
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("build %d: %v\n%s", i, errs[i], outs[i].String())
		}
	}
	both := outs[0].String() + outs[1].String()
	if !strings.Contains(both, "waiting") || !strings.Contains(both, "pid") {
		t.Errorf("neither run waited for the other:\n%s\n%s", outs[0].String(), outs[1].String())
	}
	files, _ := os.ReadDir(filepath.Join(work, "recipes", "many", "target", lockTarget, "stage", "usr", "share", "many"))
	if len(files) != 200 {
		t.Errorf("the package has %d of 200 files", len(files))
	}
	runOut(t, cookBin, "--cookbook", book, "--work", work, "--target", lockTarget, "pkgar", "verify",
		filepath.Join(work, "recipes", "many", "target", lockTarget, "stage.pkgar"))
	dry := runOut(t, cookBin, "--cookbook", book, "--work", work, "--target", lockTarget, "build", "--dry-run", "many", "other")
	if !strings.Contains(dry, "0 of 2 would be built") {
		t.Errorf("after both runs:\n%s", dry)
	}
}

// TestNoWait: with --no-wait a second writer fails at once, naming the
// holder's pid; readers need no lock.
func TestNoWait(t *testing.T) {
	dir := t.TempDir()
	book := writeBook(t, dir, map[string]string{"slow": `mkdir -p "${COOKBOOK_STAGE}"; sleep 3`, "quick": `mkdir -p "${COOKBOOK_STAGE}"`})
	work := filepath.Join(dir, "work")
	first := exec.Command(cookBin, "--cookbook", book, "--work", work, "--target", lockTarget, "build", "slow")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Wait()
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(work, "lock"))
		return strings.TrimSpace(string(b)) == fmt.Sprint(first.Process.Pid)
	})
	start := time.Now()
	cmd := exec.Command(cookBin, "--cookbook", book, "--work", work, "--target", lockTarget, "--no-wait", "build", "quick")
	out, err := cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), fmt.Sprintf("pid %d", first.Process.Pid)) {
		t.Errorf("--no-wait: %v\n%s", err, out)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("--no-wait waited %v", time.Since(start))
	}
	// a reader runs while the writer holds the lock
	if out, err := exec.Command(cookBin, "--cookbook", book, "--work", work, "--target", lockTarget, "explain", "quick").CombinedOutput(); err != nil {
		t.Errorf("explain while locked: %v\n%s", err, out)
	}
}

// TestKilledBuildLeftovers kills cook (SIGKILL) while a sandboxed build
// writes its stage; the next run clears the half-written stage, the overlay
// layers, the sandbox's mount point and the download-shim directory.
func TestKilledBuildLeftovers(t *testing.T) {
	dir := t.TempDir()
	book := writeBook(t, dir, map[string]string{
		"victim": `mkdir -p "${COOKBOOK_STAGE}/usr"; echo half > "${COOKBOOK_STAGE}/usr/half"; touch /cook/source/x; sleep 300`,
		"quick":  `mkdir -p "${COOKBOOK_STAGE}"`,
	})
	work := filepath.Join(dir, "work")
	cmd := exec.Command(cookBin, "--cookbook", book, "--work", work, "--target", lockTarget, "build", "victim")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tdir := filepath.Join(work, "recipes", "victim", "target", lockTarget)
	waitFor(t, func() bool {
		_, err := os.Stat(filepath.Join(tdir, "stage.tmp", "usr", "half"))
		return err == nil
	})
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	leftovers := []string{filepath.Join(tdir, "stage.tmp"), filepath.Join(tdir, "overlay"), filepath.Join(tdir, "root")}
	shims, _ := filepath.Glob(filepath.Join(work, "tmp", "shim-*"))
	leftovers = append(leftovers, shims...)
	for _, p := range leftovers {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the killed build left no %s (the test needs it): %v", p, err)
		}
	}
	runOut(t, cookBin, "--cookbook", book, "--work", work, "--target", lockTarget, "build", "quick")
	for _, p := range leftovers {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
