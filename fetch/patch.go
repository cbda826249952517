package fetch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// PatchError is a patch that did not apply.
type PatchError struct {
	Patch  string   // the patch file
	Failed []string // "file: Hunk #2 FAILED at 45." lines, or patch's last message
	Output string   // patch's whole output
}

func (e *PatchError) Error() string {
	return fmt.Sprintf("patch %s does not apply: %s", e.Patch, strings.Join(e.Failed, "; "))
}

var (
	patchingRE = regexp.MustCompile(`^(?:patching|checking) file '?([^']+?)'?$`)
	hunkRE     = regexp.MustCompile(`^Hunk #\d+ FAILED at \d+.*`)
)

// applyPatches applies each patch (a path) in order to src with upstream's
// semantics: the patch text on stdin of `patch --directory <src> --strip=1`.
// --force keeps patch from asking questions on a terminal; it assumes
// patches are not reversed, so a reversed or stale patch fails.
func applyPatches(ctx context.Context, src string, paths []string, contents [][]byte) error {
	for i, p := range paths {
		data := contents[i]
		cmd := exec.CommandContext(ctx, "patch", "--directory", src, "--strip=1", "--force", "--no-backup-if-mismatch")
		cmd.Stdin = bytes.NewReader(data)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				return fmt.Errorf("patch %s: %w", p, err)
			}
			return &PatchError{Patch: p, Failed: failedHunks(out.String()), Output: out.String()}
		}
	}
	// patch leaves *.rej and *.orig only on failure; nothing to tidy here.
	return nil
}

// failedHunks pairs patch's "Hunk #N FAILED" lines with the file being patched.
func failedHunks(out string) []string {
	var failed []string
	file := ""
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if m := patchingRE.FindStringSubmatch(l); m != nil {
			file = m[1]
			continue
		}
		if hunkRE.MatchString(l) {
			failed = append(failed, file+": "+l)
		}
		if strings.HasPrefix(l, "can't find file to patch") || strings.Contains(l, "No such file") {
			failed = append(failed, l)
		}
	}
	if len(failed) == 0 && len(lines) > 0 {
		failed = append(failed, lines[len(lines)-1])
	}
	return failed
}

// readPatches reads the patch files of a recipe (names relative to its directory).
func readPatches(recipeDir string, names []string) (paths []string, contents [][]byte, err error) {
	for _, n := range names {
		p := filepath.Join(recipeDir, n)
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("patch %s: %w", p, err)
		}
		paths = append(paths, p)
		contents = append(contents, data)
	}
	return paths, contents, nil
}
