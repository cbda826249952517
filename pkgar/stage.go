package pkgar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zeebo/blake3"
)

// ErrStageMismatch is matched by VerifyStage's error for a package whose
// files differ from its stage directory.
var ErrStageMismatch = errors.New("package does not match its stage")

// VerifyStage checks that the package at path is what Create makes of
// stageDir with a key whose public half is trusted: the signature verifies
// with trusted (checked first, on the header alone), every entry's data is
// present and matches its BLAKE3 with nothing after it, and the package
// holds exactly the files and symlinks of stageDir — the same paths, kinds,
// permission bits and contents (BLAKE3 of a file, or of a symlink's
// target), nothing missing and nothing extra. Errors name the package; a
// difference from the stage matches ErrStageMismatch, a bad package a
// *VerifyError (ErrHeadOnly for one cut after its entry table).
//
// Use it wherever a package is about to be trusted because of where it
// lies: publishing, or restoring a build from a cache.
func VerifyStage(ctx context.Context, path, stageDir string, trusted PublicKey, opts ...ReadOption) error {
	f, err := Open(path, trusted, opts...)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Verify(ctx); err != nil {
		return err
	}
	stage, err := walkStage(stageDir)
	if err != nil {
		return fmt.Errorf("package %s: %w", path, err)
	}
	inPkg := make(map[string]*Entry, len(f.Entries))
	for i := range f.Entries {
		inPkg[f.Entries[i].Path] = &f.Entries[i]
	}
	var diffs, missing, extra []string
	h := newHasher()
	for i := range stage {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := &stage[i]
		e, ok := inPkg[s.Path]
		if !ok {
			extra = append(extra, s.Path)
			continue
		}
		delete(inPkg, s.Path)
		if e.Mode != s.Mode {
			diffs = append(diffs, fmt.Sprintf("%s: mode %06o in the package, %06o in the stage", s.Path, e.Mode, s.Mode))
			continue
		}
		sum, err := stageHash(ctx, h, filepath.Join(stageDir, filepath.FromSlash(s.Path)), s)
		if err != nil {
			return fmt.Errorf("package %s: stage: %w", path, err)
		}
		if sum != e.Blake3 {
			diffs = append(diffs, s.Path+": contents differ")
		}
	}
	for p := range inPkg {
		missing = append(missing, p)
	}
	sort.Strings(missing)
	if len(diffs)+len(missing)+len(extra) == 0 {
		return nil
	}
	var why []string
	why = append(why, first(diffs)...)
	if len(missing) > 0 {
		why = append(why, "in the package but not in the stage: "+strings.Join(first(missing), ", "))
	}
	if len(extra) > 0 {
		why = append(why, "in the stage but not in the package: "+strings.Join(first(extra), ", "))
	}
	return fmt.Errorf("package %s: %w %s: %s", path, ErrStageMismatch, stageDir, strings.Join(why, "; "))
}

// first returns the first few of list, and how many more there are.
func first(list []string) []string {
	const n = 5
	if len(list) <= n {
		return list
	}
	return append(list[:n:n], fmt.Sprintf("and %d more", len(list)-n))
}

// stageHash is the BLAKE3 a package entry for stage file s would carry.
func stageHash(ctx context.Context, h *hasher, full string, s *Entry) (Hash, error) {
	if s.IsSymlink() {
		target, err := os.Readlink(full)
		if err != nil {
			return Hash{}, err
		}
		return Hash(blake3.Sum256([]byte(target))), nil
	}
	f, err := os.Open(full)
	if err != nil {
		return Hash{}, err
	}
	defer f.Close()
	sum, _, err := h.copyAndHash(ctx, io.Discard, f)
	return sum, err
}
