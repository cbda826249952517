package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// snapshot describes every file under dir: path, mode, size, time and
// content digest, so that any write shows.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s %v %d", rel, st.Mode(), st.ModTime().UnixNano())
		if st.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			line += fmt.Sprintf(" %d %s", st.Size(), hex.EncodeToString(s[:]))
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// chmodTree sets every entry under dir to mode&perm (directories keep x).
func chmodTree(t *testing.T, dir string, write bool) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		m := st.Mode().Perm()
		if write {
			m |= 0o200
		} else {
			m &^= 0o222
		}
		return os.Chmod(p, m)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGitFileMirrorReadOnly: a --mirror rule pointing an upstream git URL
// at a local bare repository (file://) works for every kind of git source,
// with the mirror read-only, and nothing under the mirror changes.
func TestGitFileMirrorReadOnly(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	bare := filepath.Join(root, "kernel.git")
	runGit(t, root, "init", "-q", "--bare", bare)
	work := filepath.Join(root, "work")
	runGit(t, root, "clone", "-q", bare, work)
	r := &repo{t: t, bare: bare, work: work}
	c1 := r.commit("one", map[string]string{"README": "one\n"})
	runGit(t, work, "tag", "-a", "-m", "v1", "v1.0")
	runGit(t, work, "push", "-q", "origin", "v1.0")
	c2 := r.commit("two", map[string]string{"README": "two\n"})
	runGit(t, work, "checkout", "-q", "-b", "dev")
	c3 := r.commit("dev", map[string]string{"README": "dev\n"})
	runGit(t, work, "checkout", "-q", "main")

	const up = "https://gitlab.redox-os.org/redox-os/kernel.git"
	tree := testTree(t, map[string]string{
		"kernel":  "[source]\ngit = \"" + up + "\"\n",
		"named":   "[source]\ngit = \"" + up + "\"\nbranch = \"dev\"\n",
		"rev":     "[source]\ngit = \"" + up + "\"\nrev = \"" + c1 + "\"\n",
		"tag":     "[source]\ngit = \"" + up + "\"\nrev = \"v1.0\"\n",
		"shallow": "[source]\ngit = \"" + up + "\"\nshallow_clone = true\n",
	})
	chmodTree(t, bare, false)
	t.Cleanup(func() { chmodTree(t, bare, true) })
	before := snapshot(t, bare)

	f := newTestFetcher(t, tree, "", map[string]string{up: "file://" + bare})
	for _, tc := range []struct{ name, commit, readme string }{
		{"kernel", c2, "two\n"},
		{"named", c3, "dev\n"},
		{"rev", c1, "one\n"},
		{"tag", c1, "one\n"},
		{"shallow", c2, "two\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.Fetch(ctx, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if res.Info.SourceIdentifier != tc.commit {
				t.Errorf("commit %s, want %s", res.Info.SourceIdentifier, tc.commit)
			}
			if got := readFile(t, filepath.Join(res.Source, "README")); got != tc.readme {
				t.Errorf("README %q, want %q", got, tc.readme)
			}
			if cfg := readFile(t, filepath.Join(res.Source, ".git", "config")); !strings.Contains(cfg, up) {
				t.Errorf("origin does not name the upstream URL:\n%s", cfg)
			}
		})
	}
	// an update asks the mirror for the branch head
	fu, err := New(tree, f.work, f.dl, WithUpdate(true))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := fu.Fetch(ctx, "kernel"); err != nil || res.Status != Cached {
		t.Errorf("update with nothing new: %+v %v", res, err)
	}
	if after := snapshot(t, bare); after != before {
		t.Errorf("the mirror changed:\n--- before\n%s\n--- after\n%s", before, after)
	}
	assertNoTmp(t, f)
}
