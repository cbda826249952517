package build

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/zeebo/blake3"
)

// TreeDigest hashes a staged tree: every path in sorted order with its type,
// permission bits, and content or link target. Times and owners are left out,
// so two builds that stage the same files have the same digest. A missing
// directory hashes as an empty tree.
func TreeDigest(ctx context.Context, dir string) (string, error) {
	h := blake3.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && os.IsNotExist(err) {
				return filepath.SkipDir
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		switch {
		case d.IsDir():
			fmt.Fprintf(h, "d %s %o\x00", filepath.ToSlash(rel), mode.Perm())
		case mode&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "l %s %s\x00", filepath.ToSlash(rel), l)
		case mode.IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			fh := blake3.New()
			_, err = io.Copy(fh, f)
			f.Close()
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "f %s %o %x\x00", filepath.ToSlash(rel), mode.Perm()|mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), fh.Sum(nil))
		default:
			return fmt.Errorf("%s: unsupported file type %v", p, mode.Type())
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("digest %s: %w", dir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
