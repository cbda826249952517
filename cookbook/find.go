package cookbook

import (
	"os"
	"path/filepath"
)

// Find walks up from dir to the first directory holding recipes/, the root
// of a recipe tree ("" when there is none).
func Find(dir string) string {
	for {
		if st, err := os.Stat(filepath.Join(dir, "recipes")); err == nil && st.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
