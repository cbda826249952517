package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// bigRepo makes a bare repository whose one commit holds n files (one blob
// written n times: a checkout writes each), with git fast-import.
func bigRepo(t *testing.T, n int) (url, commit string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	bare := filepath.Join(t.TempDir(), "big.git")
	runGit(t, filepath.Dir(bare), "init", "-q", "--bare", bare)
	var s bytes.Buffer
	s.WriteString("blob\nmark :1\ndata 2\nx\n")
	s.WriteString("commit refs/heads/main\ncommitter t <t@example.com> 1767225600 +0000\ndata 4\nbig\n")
	for i := range n {
		fmt.Fprintf(&s, "M 100644 :1 d%d/f%d\n", i%100, i)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Stdin = bare, &s
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git fast-import: %v\n%s", err, out)
	}
	return "file://" + bare, runGit(t, bare, "rev-parse", "main")
}

// TestGitCheckoutInterrupt cancels a clone while it checks out a large
// tree (a branch clone, and a pinned rev's checkout): it must stop within
// a second, leaving no source and nothing in tmp/. go-git's checkout takes
// no context: it wrote every file first (seconds for these 30,000; minutes
// for a large upstream source).
func TestGitCheckoutInterrupt(t *testing.T) {
	url, commit := bigRepo(t, 10000)
	tree := testTree(t, map[string]string{
		"branch": "[source]\ngit = \"" + url + "\"\n",
		"rev":    "[source]\ngit = \"" + url + "\"\nrev = \"" + commit + "\"\n",
	})
	for _, name := range []string{"branch", "rev"} {
		t.Run(name, func(t *testing.T) {
			f := newTestFetcher(t, tree, "", nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { _, err := f.Fetch(ctx, name); done <- err }()
			// cancel once the checkout is under way
			deadline := time.After(30 * time.Second)
			for started := false; !started; {
				select {
				case err := <-done:
					t.Fatalf("the fetch ended before the checkout was seen: %v", err)
				case <-deadline:
					t.Fatal("no checkout seen in 30s")
				case <-time.After(5 * time.Millisecond):
				}
				dirs, _ := filepath.Glob(filepath.Join(f.work.Tmp(), "fetch-*", "source", "d*"))
				started = len(dirs) >= 10
			}
			cancel()
			stopped := time.Now()
			select {
			case err := <-done:
				if took := time.Since(stopped); !errors.Is(err, context.Canceled) || took > time.Second {
					t.Errorf("Fetch returned %v %v after the cancel; want context.Canceled within 1s", err, took)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("Fetch still running 60s after the cancel")
			}
			if _, err := os.Lstat(f.Source(name)); !errors.Is(err, os.ErrNotExist) {
				t.Error("an interrupted clone left a source directory")
			}
			assertNoTmp(t, f)
		})
	}
}
