package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/internal/golden"
)

func TestCookConfigs(t *testing.T) {
	for _, name := range []string{"minimal", "cloud-hypervisor", "base"} {
		c, err := FindConfig(name, "x86_64-unknown-redox", "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, "testdata/golden/"+"cook-"+name+".toml", b)
	}
	if _, err := FindConfig("cloud-hypervisor", "aarch64-unknown-redox", ""); err == nil {
		t.Errorf("the x86_64 config was found for aarch64")
	}
	_, err := FindConfig("nope", "x86_64-unknown-redox", "")
	if err == nil || !strings.Contains(err.Error(), "cloud-hypervisor, minimal") {
		t.Errorf("unknown name: %v", err)
	}
}

// The shipped Cloud Hypervisor config holds exactly what --ch-static writes.
func TestCloudHypervisorConfigMatchesFlag(t *testing.T) {
	c, err := FindConfig("cloud-hypervisor", "x86_64-unknown-redox", "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range c.Files {
		got[f.Path] = f.Data
	}
	for _, f := range CloudHypervisorStatic().files() {
		if strings.HasPrefix(f.Path, staticConfigDir) {
			continue
		}
		g := got[f.Path]
		if f.Path == dhcpdUnit {
			// Same unit, less the comment line cook image adds.
			_, rest, _ := strings.Cut(f.Data, "\n")
			if g != rest {
				t.Errorf("%s:\n%s\nwant\n%s", f.Path, g, rest)
			}
			continue
		}
		if g != f.Data {
			t.Errorf("%s = %q, want %q", f.Path, g, f.Data)
		}
	}
}

func TestFindUpstreamConfig(t *testing.T) {
	root := filepath.Join(sharedDir(t), "corpus", "redox")
	c, err := FindConfig("server", "x86_64-unknown-redox", root)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "server" || c.Path != filepath.Join(root, "config", "server.toml") {
		t.Errorf("found %s at %s", c.Name, c.Path)
	}
	c, err = FindConfig("demo", "x86_64-unknown-redox", root)
	if err != nil || c.Path != filepath.Join(root, "config", "x86_64", "demo.toml") {
		t.Errorf("demo: %v %v", c, err)
	}
	if _, err := FindConfig("cloud-hypervisor", "x86_64-unknown-redox", root); err == nil {
		t.Errorf("cook's own config was used for an upstream tree")
	}
	// A file path works from anywhere.
	wd, _ := os.Getwd()
	c, err = FindConfig(filepath.Join(wd, "testdata", "test.toml"), "x86_64-unknown-redox", root)
	if err != nil || c.Name != "test" {
		t.Errorf("file: %v %v", c, err)
	}
}
