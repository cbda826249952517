package image

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/redox-cook/cook/internal/golden"
)

// sharedDir returns $COOK_SHARED or skips the test.
func sharedDir(t *testing.T) string {
	t.Helper()
	d := os.Getenv("COOK_SHARED")
	if d == "" {
		t.Skip("COOK_SHARED not set (point it at the shared reference tree)")
	}
	return d
}

func TestUpstreamConfigsLoad(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "corpus", "redox", "config")
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".toml") {
			return err
		}
		n++
		c, err := LoadConfig(p)
		if err != nil {
			t.Errorf("%v", err)
			return nil
		}
		if _, err := c.Marshal(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 30 {
		t.Errorf("only %d configs found in %s", n, dir)
	}
}

func TestUpstreamGolden(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "corpus", "redox", "config")
	for _, name := range []string{"minimal", "server", "desktop"} {
		t.Run(name, func(t *testing.T) {
			c, err := LoadConfig(filepath.Join(dir, name+".toml"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			// The merged config must read back to the same thing.
			back, err := LoadConfigFS(fstest.MapFS{"x.toml": {Data: b}}, "x.toml")
			if err != nil {
				t.Fatalf("re-read: %v", err)
			}
			b2, _ := back.Marshal()
			if string(b) != string(b2) {
				t.Errorf("marshal is not stable")
			}
			golden.Check(t, "testdata/golden/"+"upstream-"+name+".toml", b)
		})
	}
}

func TestMergeRules(t *testing.T) {
	fsys := fstest.MapFS{
		"a/base.toml": {Data: []byte(`
[general]
prompt = false
filesystem_size = 100
efi_partition_size = 2
[packages]
one = {}
two = "binary"
[[files]]
path = "/etc/a"
data = "base"
[users.root]
uid = 0
password = "x"
`)},
		"a/mid.toml": {Data: []byte(`
include = ["base.toml"]
[general]
prompt = true
filesystem_size = 200
[packages]
two = "ignore"
three = { version = "1" }
[[files]]
path = "/etc/a"
data = "mid"
`)},
		"top.toml": {Data: []byte(`
include = ["a/mid.toml"]
[general]
skip_partitions = true
[users.root]
uid = 5
`)},
	}
	c, err := LoadConfigFS(fsys, "top.toml")
	if err != nil {
		t.Fatal(err)
	}
	if *c.General.Prompt != false {
		t.Errorf("prompt merged: %v", *c.General.Prompt)
	}
	if c.General.Size() != 200 || c.General.ESPSize() != 2 || !*c.General.SkipPartitions {
		t.Errorf("general = %+v", c.General)
	}
	if got := c.PackageNames(); !cmp.Equal(got, []string{"one", "three"}) {
		t.Errorf("packages = %v", got)
	}
	if len(c.Files) != 2 || c.Files[0].Data != "base" || c.Files[1].Data != "mid" {
		t.Errorf("files = %+v", c.Files)
	}
	if u := c.Users["root"]; *u.UID != 5 || u.Password != nil {
		t.Errorf("users.root not replaced whole: %+v", u)
	}
	if c.Name != "top" {
		t.Errorf("name %q", c.Name)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
		line            int
	}{
		{"syntax", "[general]\nfilesystem_size = = 3\n", "x.toml:2:", 2},
		{"type", "[general]\n\nfilesystem_size = \"big\"\n", "x.toml:3:", 3},
		{"rule", "[packages]\nfoo = {}\nbar = \"recipe\"\n", `x.toml:3: [packages] bar: invalid package rule "recipe"`, 3},
		{"traversal", "[packages]\nion = {}\n\"../../keys/id_ed25519\" = {}\n", `x.toml:3: [packages] "../../keys/id_ed25519": not a package name`, 3},
		{"nopath", "[[files]]\ndata = \"x\"\n\n[[files]]\npath = \"/a\"\n", "x.toml:1: [[files]] entry 1 has no path", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfigFS(fstest.MapFS{"x.toml": {Data: []byte(tc.src)}}, "x.toml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Line != tc.line {
				t.Errorf("line = %+v", ce)
			}
		})
	}
	// An error in an include names the included file.
	_, err := LoadConfigFS(fstest.MapFS{
		"top.toml": {Data: []byte("include = [\"inc.toml\"]\n")},
		"inc.toml": {Data: []byte("\n[packages\n")},
	}, "top.toml")
	if err == nil || !strings.Contains(err.Error(), "inc.toml:2:") {
		t.Errorf("include error = %v", err)
	}
}
