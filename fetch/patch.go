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

	"golang.org/x/sys/unix"

	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/workdir"
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
//
// Extraction keeps an archive's modes, so a patch may have to write a
// read-only file or into a read-only directory. GNU patch writes a read-only
// file anyway and keeps its mode; a read-only directory a patch must write
// in (patch makes its temporary file there) is made writable for the owner
// first. Each such case is returned as a note, for the caller to report.
func applyPatches(ctx context.Context, src string, paths []string, contents [][]byte) (notes []string, err error) {
	for i, p := range paths {
		data := contents[i]
		for _, d := range readOnlyDirs(src, patchTargets(data)) {
			st, err := os.Stat(d)
			if err != nil {
				continue
			}
			if err := os.Chmod(d, st.Mode().Perm()|0o200); err != nil {
				return notes, fmt.Errorf("patch %s: %w", p, err)
			}
			rel, _ := filepath.Rel(src, d)
			notes = append(notes, fmt.Sprintf("patch %s: directory %s is read-only (%04o); made it writable for the owner so that the patch can write in it",
				filepath.Base(p), filepath.ToSlash(rel), st.Mode().Perm()))
		}
		cmd := exec.CommandContext(ctx, "patch", "--directory", src, "--strip=1", "--force", "--no-backup-if-mismatch")
		cmd.Stdin = bytes.NewReader(data)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				return notes, fmt.Errorf("patch %s: %w", p, err)
			}
			return notes, &PatchError{Patch: p, Failed: failedHunks(out.String()), Output: out.String()}
		}
		for _, l := range strings.Split(out.String(), "\n") {
			if m := readOnlyRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
				mode := ""
				if st, err := os.Stat(filepath.Join(src, m[1])); err == nil {
					mode = fmt.Sprintf(" (%04o)", st.Mode().Perm())
				}
				notes = append(notes, fmt.Sprintf("patch %s: %s is read-only%s; patched anyway, its mode kept", filepath.Base(p), m[1], mode))
			}
		}
	}
	// patch leaves *.rej and *.orig only on failure; nothing to tidy here.
	return notes, nil
}

// readOnlyRE is GNU patch's note on a file without write permission.
var readOnlyRE = regexp.MustCompile(`^File (.+) is read-only; trying to patch anyway$`)

// patchTargets lists the files a unified or context diff names in its
// headers (a --- line followed by +++, or *** followed by ---), with the
// first component stripped as --strip=1 does.
func patchTargets(data []byte) []string {
	lines := strings.Split(string(data), "\n")
	var out []string
	add := func(header string) {
		name := header[4:]
		if i := strings.IndexByte(name, '\t'); i >= 0 {
			name = name[:i]
		}
		name = strings.TrimSpace(name)
		if _, rest, ok := strings.Cut(name, "/"); ok && rest != "" && name != "/dev/null" {
			out = append(out, rest)
		}
	}
	for i := 0; i+1 < len(lines); i++ {
		a, b := lines[i], lines[i+1]
		if strings.HasPrefix(a, "--- ") && strings.HasPrefix(b, "+++ ") || strings.HasPrefix(a, "*** ") && strings.HasPrefix(b, "--- ") {
			add(a)
			add(b)
			i++
		}
	}
	return out
}

// readOnlyDirs returns the existing directories under src holding one of
// files that this process cannot write in (none when it runs as root).
func readOnlyDirs(src string, files []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		clean := filepath.Clean(filepath.FromSlash(f))
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			continue // patch itself refuses these
		}
		d := filepath.Dir(filepath.Join(src, clean))
		if seen[d] {
			continue
		}
		seen[d] = true
		if workdir.Within(src, d) != nil {
			continue // through a symbolic link out of the tree: not cook's to change
		}
		if st, err := os.Lstat(d); err == nil && st.IsDir() && unix.Access(d, unix.W_OK) != nil {
			out = append(out, d)
		}
	}
	return out
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

// maxPatchSize bounds one patch file (upstream's largest are some 30 KiB).
const maxPatchSize = 64 << 20

// readPatches reads the patch files of a recipe (names relative to its directory).
func readPatches(recipeDir string, names []string) (paths []string, contents [][]byte, err error) {
	for _, n := range names {
		p := filepath.Join(recipeDir, n)
		// regular files only, bounded: a FIFO in a stranger's tree would
		// hang the fetch, a device or a huge sparse file fill the memory
		data, _, err := fsutil.ReadRegular(p, maxPatchSize)
		if err != nil {
			return nil, nil, fmt.Errorf("patch: %w", err) // names p
		}
		paths = append(paths, p)
		contents = append(contents, data)
	}
	return paths, contents, nil
}
