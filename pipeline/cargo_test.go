package pipeline

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/triple"
	"github.com/redox-cook/cook/workdir"
)

// cargoBuilder is a builder of the build package's test cookbook with
// hello-libc's source in place.
func cargoBuilder(t *testing.T) *builder.Builder {
	t.Helper()
	if _, err := exec.LookPath("cargo"); err != nil {
		t.Skip("cargo is not installed")
	}
	if _, err := os.Stat("/usr/share/cargo/registry/libc-0.2.139"); err != nil {
		t.Skip("Debian's librust-libc-dev is not installed")
	}
	tree, err := cookbook.Load(context.Background(), "../builder/testdata/cookbook")
	if err != nil {
		t.Fatal(err)
	}
	w := workdir.New(t.TempDir())
	key, err := pkgar.EnsureKeys(w.Keys())
	if err != nil {
		t.Fatal(err)
	}
	src := w.Source("hello-libc")
	os.MkdirAll(filepath.Dir(src), 0o755)
	if out, err := exec.Command("cp", "-a", filepath.Join(tree.Root, tree.Recipes["hello-libc"].Source.Path), src).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return &builder.Builder{Tree: tree, Work: w, Target: triple.Host(), Key: key, CargoHome: filepath.Join(w.Root, "cargo")}
}

// TestCargoFetch runs the fetch phase's cargo step against Debian's
// registry configured as the crates.io replacement, and checks that a crate
// the registry lacks fails naming the recipe.
func TestCargoFetch(t *testing.T) {
	b := cargoBuilder(t)
	b.CargoRegistry = "/usr/share/cargo/registry"
	p := New(Config{Tree: b.Tree, Work: b.Work, Target: b.Target})
	r := b.Tree.Recipes["hello-libc"]
	src := b.Work.Source("hello-libc")
	if err := p.cargoFetch(context.Background(), b, r, src); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(b.CargoHome, "config.toml"))
	if !strings.Contains(string(cfg), `directory = "/usr/share/cargo/registry"`) {
		t.Errorf("cargo home config:\n%s", cfg)
	}
	// a dependency nobody has
	os.WriteFile(filepath.Join(src, "Cargo.toml"), []byte("[package]\nname = \"hello-libc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[dependencies]\nno-such-crate-cook = \"1\"\n"), 0o644)
	os.Remove(filepath.Join(src, "Cargo.lock"))
	err := p.cargoFetch(context.Background(), b, r, src)
	if err == nil || !strings.Contains(err.Error(), "cargo fetch for hello-libc") {
		t.Errorf("missing crate: %v", err)
	}
}

// TestCargoFetchVendored: with a vendor directory the cargo step resolves
// from it, offline, and downloads nothing into the shared cargo home.
func TestCargoFetchVendored(t *testing.T) {
	b := cargoBuilder(t)
	b.CargoVendor = "/usr/share/cargo/registry"
	p := New(Config{Tree: b.Tree, Work: b.Work, Target: b.Target})
	if err := p.cargoFetch(context.Background(), b, b.Tree.Recipes["hello-libc"], b.Work.Source("hello-libc")); err != nil {
		t.Fatalf("cargo fetch: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.CargoHome, "registry")); err == nil {
		t.Error("a vendored cargo fetch downloaded into the shared cargo home")
	}
}
