package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTargetTraversal: a target names directories of the work directory,
// so --target, COOK_TARGET and cook.toml's target accept only real
// triples, and `cook clean` never removes anything outside the work
// directory.
func TestTargetTraversal(t *testing.T) {
	const evil = "x-x-linux-x/../../../../.."
	for _, how := range []string{"flag", "env", "cook.toml"} {
		t.Run(how, func(t *testing.T) {
			base := t.TempDir()
			book := filepath.Join(base, "book")
			work := filepath.Join(base, "deep", "er", "work")
			os.MkdirAll(filepath.Join(book, "recipes", "a"), 0o755)
			os.WriteFile(filepath.Join(book, "recipes", "a", "recipe.toml"), []byte("[build]\ntemplate = \"none\"\n"), 0o644)
			os.MkdirAll(filepath.Join(work, "recipes", "a"), 0o755)
			sentinel := filepath.Join(base, "sentinel")
			os.WriteFile(sentinel, []byte("keep"), 0o644)
			args := []string{"--cookbook", book, "--work", work}
			switch how {
			case "flag":
				args = append(args, "--target", evil)
			case "env":
				t.Setenv("COOK_TARGET", evil)
			case "cook.toml":
				os.WriteFile(filepath.Join(book, "cook.toml"), []byte("target = \""+evil+"\"\n"), 0o644)
			}
			_, stderr, code := cook(t, append(args, "clean")...)
			if code != exitUsage || !strings.Contains(stderr, "unknown target") {
				t.Errorf("clean with target %q: exit %d, stderr %q; want exit 2 naming the target", evil, code, stderr)
			}
			for _, p := range []string{sentinel, work, filepath.Join(book, "recipes", "a", "recipe.toml")} {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("%s is gone: %v", p, err)
				}
			}
		})
	}
}

// TestMessagesOnce: a failure is reported once, and a dependency naming no
// recipe that stops a build is an error, not a "warning:".
func TestMessagesOnce(t *testing.T) {
	base := t.TempDir()
	book := filepath.Join(base, "book")
	for name, text := range map[string]string{
		"badsrc": "[source]\ntar = \"file:///nonexistent/cook-test.tar.gz\"\nblake3 = \"" + strings.Repeat("0", 64) + "\"\n[build]\ntemplate = \"custom\"\nscript = \"true\"\n",
		"needs":  "[build]\ntemplate = \"custom\"\ndependencies = [\"nosuch\"]\nscript = \"true\"\n",
	} {
		os.MkdirAll(filepath.Join(book, "recipes", name), 0o755)
		os.WriteFile(filepath.Join(book, "recipes", name, "recipe.toml"), []byte(text), 0o644)
	}
	args := []string{"--cookbook", book, "--work", filepath.Join(base, "work"), "--target", "x86_64-unknown-linux-gnu"}
	for _, cmd := range [][]string{{"fetch", "badsrc"}, {"build", "badsrc"}} {
		_, stderr, code := cook(t, append(args, cmd...)...)
		if code != exitFailed || strings.Count(stderr, "download file:///nonexistent/cook-test.tar.gz") != 1 {
			t.Errorf("cook %s: exit %d, the error should appear once:\n%s", cmd[0], code, stderr)
		}
	}
	_, stderr, code := cook(t, append(args, "build", "needs")...)
	if code != exitFailed || strings.Contains(stderr, "warning") || !strings.Contains(stderr, `"nosuch", which is no recipe`) {
		t.Errorf("missing dependency: exit %d:\n%s", code, stderr)
	}
}
