package initfs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestToolMain(t *testing.T) {
	dir := makeTree(t, sample[:4])
	bs := testBootstrap(t)
	want := writeImage(t, dir, bs)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := ToolMain(context.Background(), append([]string{"/tools/" + ToolName}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	for _, args := range [][]string{
		{dir, bs, "-o", "OUT"}, // base's recipes
		{"-o", "OUT", dir, bs}, // clap takes options anywhere
		{dir, "--output", "OUT", bs},
		{dir, bs, "--output=OUT"},
		{dir, bs, "-oOUT"},
		{dir, bs, "-o=OUT"},
		{"--max-size", "134217728", dir, bs, "-o", "OUT"},    // older versions' option
		{"--max-size=134217728", "-o", "OUT", "--", dir, bs}, // "--" ends the options
	} {
		out := filepath.Join(t.TempDir(), "img")
		for j := range args {
			args[j] = strings.ReplaceAll(args[j], "OUT", out)
		}
		code, _, errs := run(args...)
		got, _ := os.ReadFile(out)
		if code != 0 || !bytes.Equal(got, want) {
			t.Errorf("%v: exit %d %q", args, code, errs)
		}
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{dir, bs}, 2, "required arguments"},
		{[]string{dir, "-o", "x"}, 2, "required arguments"},
		{[]string{dir, bs, "x", "-o", "y"}, 2, "required arguments"},
		{[]string{dir, bs, "-o"}, 2, "a value is required for '--output <OUTPUT>'"},
		{[]string{dir, bs, "-o", "x", "--frobnicate"}, 2, "unexpected argument '--frobnicate'"},
		{[]string{dir, bs, "-o", "x", "--max-size", "lots"}, 2, "invalid value \"lots\""},
		{[]string{dir, bs, "-o", filepath.Join(t.TempDir(), "img"), "--max-size", "8192"}, 1, "too large"},
		{[]string{filepath.Join(dir, "nope"), bs, "-o", filepath.Join(t.TempDir(), "img")}, 1, "nope"},
	} {
		code, _, errs := run(c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d %q, want %d %q", c.args, code, errs, c.code, c.msg)
		}
	}
	if code, out, _ := run("--help"); code != 0 || !strings.Contains(out, "SOURCE BOOTSTRAP_CODE -o OUTPUT") {
		t.Errorf("--help: %d %q", code, out)
	}
	if code, out, _ := run("-V"); code != 0 || !strings.HasPrefix(out, ToolName+" ") {
		t.Errorf("-V: %d %q", code, out)
	}
	if !IsTool("/x/y/redox-initfs-ar") || IsTool("cook") {
		t.Error("IsTool")
	}
}

func TestLinkTool(t *testing.T) {
	dir := t.TempDir()
	for _, exe := range []string{"/usr/bin/cook-a", "/usr/bin/cook-a", "/usr/bin/cook-b"} {
		if err := LinkTool(dir, exe); err != nil {
			t.Fatal(err)
		}
		if got, err := os.Readlink(filepath.Join(dir, ToolName)); err != nil || got != exe {
			t.Errorf("link -> %q %v, want %q", got, err, exe)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}
