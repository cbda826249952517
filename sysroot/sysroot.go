// Package sysroot assembles the directory a recipe builds against from its dependencies' staged trees, out of hard links, reusing it as is when no input changed.
package sysroot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/redox-cook/cook/internal/fsutil"
)

// Input is one dependency's staged tree.
type Input struct {
	Name   string // package name, e.g. "zlib" or "llvm21.dev"; names the tag file
	Stage  string // the staged tree's root
	Digest string // the staged tree's output digest
}

// TagDir is the directory of tag files inside a sysroot.
const TagDir = ".tags"

var topLinks = []string{"bin", "include", "lib", "share"}

// Assemble makes dir hold exactly inputs. Inputs are installed in
// lexicographic order of their names, later ones replacing files of earlier
// ones, as upstream installs them. When dir already holds the same inputs with
// the same digests it is left alone and Assemble returns false. Otherwise the
// tree is built next to dir and renamed over it, so a failure never leaves a
// half-assembled sysroot.
//
// A sysroot is usr/{bin,include,lib,share} with the top-level bin, include,
// lib and share symlinks upstream's sysroots have, filled with hard links (so
// assembly costs a link per file, not a copy), and tagged with the digest of
// every input so that an unchanged sysroot is reused as is.
func Assemble(ctx context.Context, dir string, inputs []Input) (changed bool, err error) {
	inputs = append([]Input(nil), inputs...)
	sort.Slice(inputs, func(i, j int) bool { return inputs[i].Name < inputs[j].Name })
	for i := 1; i < len(inputs); i++ {
		if inputs[i].Name == inputs[i-1].Name {
			return false, fmt.Errorf("sysroot %s: input %q given twice", dir, inputs[i].Name)
		}
	}
	if upToDate(dir, inputs) {
		return false, nil
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return false, fmt.Errorf("sysroot: %w", err)
	}
	if stale, _ := filepath.Glob(filepath.Join(parent, filepath.Base(dir)+".tmp-*.old")); len(stale) > 0 {
		for _, p := range stale {
			os.RemoveAll(p)
		}
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(dir)+".tmp-")
	if err != nil {
		return false, fmt.Errorf("sysroot: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := skeleton(tmp); err != nil {
		return false, fmt.Errorf("sysroot %s: %w", dir, err)
	}
	if err := populate(ctx, tmp, inputs); err != nil {
		return false, fmt.Errorf("sysroot %s: %w", dir, err)
	}
	for _, in := range inputs {
		if err := writeTag(filepath.Join(tmp, TagDir, in.Name), in.Digest); err != nil {
			return false, fmt.Errorf("sysroot %s: %w", dir, err)
		}
	}
	// Swap the new tree in with two renames; the old one is deleted after.
	trash := ""
	if _, err := os.Lstat(dir); err == nil {
		trash = tmp + ".old"
		if err := os.Rename(dir, trash); err != nil {
			return false, fmt.Errorf("sysroot %s: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return false, fmt.Errorf("sysroot %s: %w", dir, err)
	}
	if trash != "" {
		// The build can start while the previous tree goes away; a tree
		// left behind by an exit in between is removed by the next Assemble.
		go os.RemoveAll(trash)
	}
	return true, nil
}

// writeTag makes the tag file p, which must not exist yet: never a write
// through something a stage put there.
func writeTag(p, digest string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(digest + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// maxTag bounds a tag file read back (a digest and a newline).
const maxTag = 4 << 10

func skeleton(dir string) error {
	for _, d := range []string{TagDir, "usr/bin", "usr/include", "usr/lib", "usr/share"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	for _, l := range topLinks {
		if err := os.Symlink("usr/"+l, filepath.Join(dir, l)); err != nil {
			return err
		}
	}
	return nil
}

// upToDate reports whether dir's tags name exactly inputs with their digests.
func upToDate(dir string, inputs []Input) bool {
	entries, err := os.ReadDir(filepath.Join(dir, TagDir))
	if err != nil {
		return false
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	if len(names) != len(inputs) {
		return false
	}
	for i, in := range inputs {
		if names[i] != in.Name {
			return false
		}
		b, _, err := fsutil.ReadRegular(filepath.Join(dir, TagDir, in.Name), maxTag)
		if err != nil || strings.TrimSpace(string(b)) != in.Digest {
			return false
		}
	}
	return true
}

// entry is one path of the assembled tree and where it comes from.
type entry struct {
	src  string // file in a stage (hard-linked)
	link string // symlink target
	dir  bool
}

// populate fills dir with the union of the inputs' trees, later inputs
// replacing earlier ones' files. It reads every stage first (in parallel),
// resolves what wins where, then makes the directories and places hard links
// and symlinks with several workers: these are latency-bound metadata
// operations, so overlapping them is what makes assembly cheap.
func populate(ctx context.Context, dir string, inputs []Input) error {
	trees := make([]map[string]entry, len(inputs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, in := range inputs {
		g.Go(func() error {
			t, err := scan(gctx, in)
			if err != nil {
				return fmt.Errorf("install %s: %w", in.Name, err)
			}
			trees[i] = t
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	final := map[string]entry{}
	for _, t := range trees {
		for rel, e := range t {
			if old, ok := final[rel]; ok && old.dir && !e.dir {
				// a file replaces a directory: drop what was below it
				for k := range final {
					if strings.HasPrefix(k, rel+"/") {
						delete(final, k)
					}
				}
			}
			final[rel] = e
		}
	}
	var dirs, files []string
	for rel, e := range final {
		if e.dir {
			dirs = append(dirs, rel)
		} else {
			files = append(files, rel)
		}
	}
	sort.Strings(dirs) // parents before children
	for _, rel := range dirs {
		if err := os.Mkdir(filepath.Join(dir, rel), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(16)
	const batch = 64
	for i := 0; i < len(files); i += batch {
		chunk := files[i:min(i+batch, len(files))]
		g.Go(func() error {
			for _, rel := range chunk {
				if err := gctx.Err(); err != nil {
					return err
				}
				e := final[rel]
				target := filepath.Join(dir, rel)
				var err error
				if e.link != "" {
					err = os.Symlink(e.link, target)
				} else {
					err = os.Link(e.src, target)
				}
				if err != nil {
					return fmt.Errorf("link %s: %w", rel, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// scan lists a stage's tree. Paths under a top-level bin, include, lib or
// share are moved to usr/..., where the sysroot's symlinks would lead them.
func scan(ctx context.Context, in Input) (map[string]entry, error) {
	t := map[string]entry{}
	err := filepath.WalkDir(in.Stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == in.Stage {
				return fmt.Errorf("stage %s does not exist (was %s built?)", in.Stage, in.Name)
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == in.Stage {
			return nil
		}
		rel, _ := filepath.Rel(in.Stage, p)
		rel = filepath.ToSlash(rel)
		first, rest, _ := strings.Cut(rel, "/")
		if first == TagDir {
			// the sysroot's own: a stage's file there would be a tag cook
			// writes to, or reads back, as if it were its own
			return fmt.Errorf("%s: a stage may not hold %s, the directory of the sysroot's tags", p, TagDir)
		}
		if isTopLink(first) {
			rel = "usr/" + first
			if rest != "" {
				rel += "/" + rest
			}
		}
		switch {
		case d.IsDir():
			if !skeletonDir(rel) {
				t[rel] = entry{dir: true}
			}
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			t[rel] = entry{link: l}
		case d.Type().IsRegular():
			t[rel] = entry{src: p}
		default:
			return fmt.Errorf("%s: not a regular file, directory or symlink", p)
		}
		return nil
	})
	return t, err
}

// skeletonDir reports the directories every sysroot already has.
func skeletonDir(rel string) bool {
	return rel == "usr" || strings.HasPrefix(rel, "usr/") && isTopLink(rel[len("usr/"):])
}

func isTopLink(s string) bool {
	for _, l := range topLinks {
		if s == l {
			return true
		}
	}
	return false
}
