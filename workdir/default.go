package workdir

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Default is the work directory cook uses for the recipe tree at root when
// none is named: .cook at the root when it exists or the root is writable,
// else a directory under the user's cache directory keyed by the root's
// path (a read-only checkout stays untouched).
func Default(root string) (string, error) {
	if st, err := os.Stat(filepath.Join(root, ".cook")); err == nil && st.IsDir() {
		return filepath.Join(root, ".cook"), nil
	}
	if writable(root) {
		return filepath.Join(root, ".cook"), nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cannot choose a work directory: %w", err)
	}
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(cache, "cook", filepath.Base(root)+"-"+hex.EncodeToString(sum[:4])), nil
}

// writable reports whether cook may put its work directory in dir: it must
// carry a write permission bit (root ignores permissions, so access(2) alone
// would let cook write into a tree its owner marked read-only) and be
// writable for this process. Nothing is created to find out.
func writable(dir string) bool {
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm()&0o222 == 0 {
		return false
	}
	return unix.Access(dir, unix.W_OK) == nil
}
