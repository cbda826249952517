package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/initfs"
	"github.com/redox-cook/cook/internal/redoxtest"
)

// initfsInput writes a small tree and the test bootstrap program.
func initfsInput(t *testing.T) (dir, bootstrap string) {
	t.Helper()
	tmp := t.TempDir()
	dir = filepath.Join(tmp, "initfs")
	for p, data := range map[string]string{"bin/init": "\x7fELF init", "etc/init.rc": "logd\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "bin/init"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("init", filepath.Join(dir, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	bootstrap = filepath.Join(tmp, "bootstrap")
	if err := os.WriteFile(bootstrap, redoxtest.Bootstrap(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, bootstrap
}

func TestInitfsCommands(t *testing.T) {
	dir, bs := initfsInput(t)
	img := filepath.Join(t.TempDir(), "initfs.img")

	out, errs, code := cook(t, "initfs", dir, "--bootstrap", bs, "-o", img)
	if code != 0 || !strings.HasPrefix(out, img+": ") || !strings.Contains(out, "6 inodes, bootstrap entry 0x2080") {
		t.Fatalf("write: %d %q %q", code, out, errs)
	}
	first, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code = cook(t, "--json", "initfs", dir, "--bootstrap", bs, "-o", img)
	var w initfsWriteJSON
	if code != 0 || json.Unmarshal([]byte(out), &w) != nil || w.Size != int64(len(first)) || w.BootstrapEntry != "0x2080" {
		t.Fatalf("write --json: %d %q %q", code, out, errs)
	}
	if again, _ := os.ReadFile(img); !bytes.Equal(first, again) {
		t.Error("a second write differs")
	}

	out, errs, code = cook(t, "initfs", "ls", img)
	want := "0555 dir             16 bin\n" +
		"0555 exec             9 bin/init\n" +
		"0777 symlink          4 bin/sh -> init\n" +
		"0555 dir              8 etc\n" +
		"0444 file             5 etc/init.rc\n"
	if code != 0 || out != want {
		t.Errorf("ls: %d\n%s%s", code, out, errs)
	}
	out, _, code = cook(t, "--json", "initfs", "ls", img)
	var l initfs.Listing
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || len(l.Entries) != 5 || l.InodeCount != 6 || l.RootInode != 5 ||
		l.Entries[2].Target != "init" || l.Entries[1].Mode != "0555" || l.Size != int64(len(first)) {
		t.Errorf("ls --json: %d %s", code, out)
	}

	out, errs, code = cook(t, "initfs", "cat", img, "etc/init.rc")
	if code != 0 || out != "logd\n" {
		t.Errorf("cat: %d %q %q", code, out, errs)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"initfs", "cat", img, "etc/nope"}, 1, img + ": etc/nope: no such file"},
		{[]string{"initfs", "cat", img, "bin"}, 1, "not a regular file"},
		{[]string{"initfs", "ls", bs}, 1, bs + ": not an initfs image"},
		{[]string{"initfs", "ls", filepath.Join(dir, "missing")}, 1, "missing"},
		{[]string{"initfs", dir, "-o", img}, 2, "--bootstrap FILE and -o OUT are required"},
		{[]string{"initfs", dir, "--bootstrap", filepath.Join(dir, "etc/init.rc"), "-o", img}, 1, "bad bootstrap: no ELF header"},
		{[]string{"initfs", "ls"}, 2, "accepts 1 arg"},
	} {
		_, errs, code := cook(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: %d %q, want %d %q", c.args, code, errs, c.code, c.msg)
		}
	}
	if again, _ := os.ReadFile(img); !bytes.Equal(first, again) {
		t.Error("a failed write changed the image")
	}
}

// TestInitfsToolLink runs the test binary through a redox-initfs-ar link,
// as a build script would, with upstream's argument order.
func TestInitfsToolLink(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tools := t.TempDir()
	if err := initfs.LinkTool(tools, exe); err != nil {
		t.Fatal(err)
	}
	if err := initfs.LinkTool(tools, exe); err != nil { // idempotent
		t.Fatal(err)
	}
	dir, bs := initfsInput(t)
	img := filepath.Join(t.TempDir(), "initfs.img")
	cmd := exec.Command(filepath.Join(tools, initfs.ToolName), dir, bs, "-o", img)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, msg)
	}
	got, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(t.TempDir(), "want.img")
	if _, _, code := cook(t, "initfs", dir, "--bootstrap", bs, "-o", want); code != 0 {
		t.Fatal("cook initfs failed")
	}
	if w, _ := os.ReadFile(want); !bytes.Equal(got, w) {
		t.Error("redox-initfs-ar and cook initfs wrote different images")
	}
	cmd = exec.Command(filepath.Join(tools, initfs.ToolName), dir, "-o", img)
	if out, err := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "required arguments") {
		t.Errorf("missing argument: %v %s", err, out)
	}
}
