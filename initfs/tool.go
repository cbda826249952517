package initfs

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ToolName is the name under which cook's executable acts as upstream's
// archiver (a multi-call entry, like the wget and curl shims).
const ToolName = "redox-initfs-ar"

// IsTool reports whether argv0 names the archiver.
func IsTool(argv0 string) bool { return filepath.Base(argv0) == ToolName }

const toolUsage = `Usage: redox-initfs-ar [--max-size BYTES] SOURCE BOOTSTRAP_CODE -o OUTPUT

Create an initfs image from the directory SOURCE, with the bootstrap ELF file
BOOTSTRAP_CODE in front of it (cook's implementation of redox-initfs-ar).

  -o, --output OUTPUT   the image file to write
      --max-size BYTES  the largest image allowed (default 67108864)
  -h, --help            print this help
  -V, --version         print the version
`

// ToolMain runs the archiver with upstream's command line, as base's
// recipes call it:
//
//	redox-initfs-ar SOURCE BOOTSTRAP_CODE -o OUTPUT
//
// (initfs/tools/src/bin/archive.rs: two positional arguments and a required
// -o/--output, clap syntax; older versions also took --max-size BYTES, which
// is accepted). It returns the exit status: 0, 1 when archiving failed, 2 for
// a usage error.
func ToolMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "error: "+format+"\n\n%s", append(a, toolUsage)...)
		return 2
	}
	var pos []string
	var out string
	var opt Options
	rest := args[1:]
	value := func(i *int, inline string, hasInline bool) (string, bool) {
		if hasInline {
			return inline, true
		}
		if *i+1 >= len(rest) {
			return "", false
		}
		*i++
		return rest[*i], true
	}
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i+1:]...)
			break
		}
		if a == "-" || !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		name, inline, hasInline := a, "", false
		if strings.HasPrefix(a, "--") {
			if k, v, ok := strings.Cut(a, "="); ok {
				name, inline, hasInline = k, v, true
			}
		} else if len(a) > 2 {
			name, inline, hasInline = a[:2], strings.TrimPrefix(a[2:], "="), true
		}
		switch name {
		case "-h", "--help":
			fmt.Fprint(stdout, toolUsage)
			return 0
		case "-V", "--version":
			fmt.Fprintln(stdout, ToolName, "0.2.0 (cook)")
			return 0
		case "-o", "--output":
			v, ok := value(&i, inline, hasInline)
			if !ok || v == "" {
				return usage("a value is required for '--output <OUTPUT>'")
			}
			out = v
		case "--max-size":
			v, ok := value(&i, inline, hasInline)
			if !ok {
				return usage("a value is required for '--max-size <MAX_SIZE>'")
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return usage("invalid value %q for '--max-size <MAX_SIZE>': a positive number of bytes", v)
			}
			opt.MaxSize = n
		default:
			return usage("unexpected argument '%s' found", a)
		}
	}
	if len(pos) != 2 || out == "" {
		return usage("the following required arguments were not provided: SOURCE BOOTSTRAP_CODE --output <OUTPUT>")
	}
	if _, err := WriteFile(ctx, out, pos[0], pos[1], opt); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", ToolName, err)
		return 1
	}
	return 0
}

// LinkTool puts a redox-initfs-ar symlink to exe into dir (exe "" means
// the running executable), so that build scripts with dir in PATH run the
// archiver. An existing link to the same target is left alone.
func LinkTool(dir, exe string) error {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("linking %s: %w", ToolName, err)
		}
	}
	p := filepath.Join(dir, ToolName)
	if t, err := os.Readlink(p); err == nil && t == exe {
		return nil
	}
	// Builds run in parallel: a private temporary name, then an atomic rename.
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.%x.tmp", ToolName, os.Getpid(), rand.Uint64()))
	if err := os.Symlink(exe, tmp); err != nil {
		return fmt.Errorf("linking %s: %w", ToolName, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("linking %s: %w", ToolName, err)
	}
	return nil
}
