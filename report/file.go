package report

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/redox-cook/cook/internal/fsutil"
)

// WriteHTMLFile writes b's HTML timings report to path, through a
// temporary file.
func WriteHTMLFile(path string, b *Build) error {
	return writeFile(path, func(w io.Writer) error { return WriteHTML(w, b) })
}

// WriteTraceFile writes b as Chrome trace-event JSON to path, through a
// temporary file.
func WriteTraceFile(path string, b *Build) error {
	return writeFile(path, func(w io.Writer) error { return WriteTrace(w, b) })
}

// DefaultPath is where a build's timings report goes when no file is
// named: dir/build-<start>.html, or build-<start>-2.html and so on when
// that exists.
func DefaultPath(dir string, b *Build) string {
	base := filepath.Join(dir, "build-"+b.Start.Format("20060102-150405"))
	p := base + ".html"
	for i := 2; ; i++ {
		if _, err := os.Lstat(p); os.IsNotExist(err) {
			return p
		}
		p = fmt.Sprintf("%s-%d.html", base, i)
	}
}

func writeFile(path string, render func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return fsutil.WriteFileAtomic(path, buf.Bytes(), 0o644)
}
