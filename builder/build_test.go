package builder

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/triple"
	"github.com/redox-cook/cook/workdir"
)

// testBuilder loads testdata/cookbook into a builder with a fresh work
// directory.
func testBuilder(t *testing.T, target triple.Triple) *Builder {
	t.Helper()
	tree, err := cookbook.Load(context.Background(), "testdata/cookbook")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range tree.AllDiagnostics(false) {
		if d.Severity == cookbook.Error {
			t.Fatalf("testdata recipe: %s", d)
		}
	}
	work := workdir.New(t.TempDir())
	key, err := pkgar.EnsureKeys(work.Keys())
	if err != nil {
		t.Fatal(err)
	}
	return &Builder{Tree: tree, Work: work, Target: target, Key: key, Jobs: 2,
		CargoHome: filepath.Join(work.Root, "cargo"), CargoRegistry: "/usr/share/cargo/registry"}
}

// stageSource stands in for the fetch phase: it copies a path source into
// the work directory and links same_as sources.
func stageSource(t *testing.T, b *Builder, name string) {
	t.Helper()
	r := b.Tree.Recipes[name]
	dst := b.Work.Source(name)
	if _, err := os.Lstat(dst); err == nil {
		return
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	switch {
	case r.Source == nil:
		return
	case r.Source.Kind == cookbook.SameAs:
		other := filepath.Base(r.Source.SameAs)
		stageSource(t, b, other)
		if err := os.Symlink(b.Work.Source(other), dst); err != nil {
			t.Fatal(err)
		}
		return
	case r.Source.Kind == cookbook.Path:
		out, err := exec.Command("cp", "-a", filepath.Join(b.Tree.Root, r.Source.Path), dst).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	// A path source is a plain copy; an autoconf project gets the configure
	// script its release tarball would ship.
	if _, err := os.Stat(filepath.Join(dst, "configure.ac")); err == nil {
		cmd := exec.Command("autoreconf", "-fi")
		cmd.Dir = dst
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("autoreconf: %v\n%s", err, out)
		}
	}
}

// buildAll builds name and everything it needs, dependencies first.
func buildAll(t *testing.T, b *Builder, name string) (*Result, error) {
	t.Helper()
	n := cookbook.Node{Name: name}
	order, err := b.Tree.NewGraph([]cookbook.Node{n}, cookbook.BuildEdge|cookbook.DevEdge).Order()
	if err != nil {
		t.Fatal(err)
	}
	var res *Result
	for _, m := range order {
		stageSource(t, b, m.Name)
		res, err = b.Build(context.Background(), m)
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

func need(t *testing.T, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s not installed", c)
		}
	}
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestTemplatesHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds real projects")
	}
	host := triple.Host()
	for _, tc := range []struct {
		recipe, bin, want string
		tools             []string
	}{
		{"hello-autoconf", "usr/bin/hello-autoconf", "hello-autoconf says hi", []string{"autoreconf", "make"}},
		{"hello-cmake", "usr/bin/hello-cmake", "built by cmake 42", []string{"cmake", "ninja"}},
		{"hello-meson", "usr/bin/hello-meson", "built by meson", []string{"meson", "ninja"}},
		{"hello-cargo", "usr/bin/hello-cargo", "hello from cargo", []string{"cargo"}},
		{"greeter", "usr/bin/greeter", "hello from libgreet", nil},
	} {
		t.Run(tc.recipe, func(t *testing.T) {
			need(t, append([]string{"gcc"}, tc.tools...)...)
			b := testBuilder(t, host)
			res, err := buildAll(t, b, tc.recipe)
			if err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(res.Stage, tc.bin)
			env := os.Environ()
			cmd := exec.Command(bin)
			cmd.Env = append(env, "LD_LIBRARY_PATH="+filepath.Join(res.Stage, "usr/lib")+":"+filepath.Join(b.Work.Stage("libgreet", string(host), ""), "usr/lib"))
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != tc.want {
				t.Fatalf("%s: %v: %q", bin, err, out)
			}
			if _, err := os.Stat(res.Package); err != nil {
				t.Errorf("no package: %v", err)
			}
			if !res.Hermetic {
				t.Error("build not reported hermetic")
			}
		})
	}
}

// TestLibraryThroughSysroot checks that a dependent finds its library in its
// sysroot (and only there), and that the runtime dependency is detected.
func TestLibraryThroughSysroot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds real projects")
	}
	need(t, "gcc")
	b := testBuilder(t, triple.Host())
	if _, err := buildAll(t, b, "greeter"); err != nil {
		t.Fatal(err)
	}
	host := string(triple.Host())
	if _, err := os.Stat(filepath.Join(b.Work.Sysroot("greeter", host), "usr/include/greet.h")); err != nil {
		t.Error(err)
	}
	deps, err := os.ReadFile(b.Work.AutoDeps("greeter", host))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(deps), `"libgreet"`) {
		t.Errorf("auto_deps.toml = %s; want libgreet (DT_NEEDED libgreet.so.1)", deps)
	}
}

func TestOptionalPackagesAndMeta(t *testing.T) {
	b := testBuilder(t, triple.Host())
	b.NoSandbox = testing.Short()
	if _, err := buildAll(t, b, "splitter"); err != nil {
		t.Fatal(err)
	}
	host := string(triple.Host())
	for _, p := range []string{"usr/include/splitter/a.h", "usr/lib/libsplitter.a"} {
		if _, err := os.Stat(filepath.Join(b.Work.Stage("splitter", host, "dev"), p)); err != nil {
			t.Errorf("dev package lacks %s", p)
		}
		if _, err := os.Stat(filepath.Join(b.Work.Stage("splitter", host, ""), p)); err == nil {
			t.Errorf("main package still has %s", p)
		}
	}
	for _, p := range []string{"usr/bin/splitter", "usr/lib/README"} {
		if _, err := os.Stat(filepath.Join(b.Work.Stage("splitter", host, ""), p)); err != nil {
			t.Errorf("main package lacks %s", p)
		}
	}
	if _, err := os.Stat(b.Work.Pkgar("splitter", host, "dev")); err != nil {
		t.Error(err)
	}
	toml, _ := os.ReadFile(b.Work.StageToml("splitter", host, "dev"))
	if !strings.Contains(string(toml), `name = "splitter.dev"`) {
		t.Errorf("stage.dev.toml:\n%s", toml)
	}
	// template none: a meta package with only metadata
	res, err := b.Build(context.Background(), cookbook.Node{Name: "meta"})
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := os.ReadFile(b.Work.StageToml("meta", host, ""))
	if !strings.Contains(string(meta), "greeter") || res.Package != "" {
		t.Errorf("meta package: %s, archive %q", meta, res.Package)
	}
}

// TestCargoRegistryOffline builds a crate depending on libc from Debian's
// local registry, configured as cook's source replacement, in the sandbox
// without network.
func TestCargoRegistryOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds real projects")
	}
	need(t, "cargo", "gcc")
	if _, err := os.Stat("/usr/share/cargo/registry/libc-0.2.139"); err != nil {
		t.Skip("Debian's librust-libc-dev is not installed")
	}
	b := testBuilder(t, triple.Host())
	res, err := buildAll(t, b, "hello-libc")
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, filepath.Join(res.Stage, "usr/bin/hello-libc")); got != "hello from libc, pid is positive: true" {
		t.Errorf("got %q", got)
	}
}

// TestCargoVendorOffline builds the same crate with a vendor directory
// (Debian's registry is one) instead of a registry: the build gets a cargo
// home of its own whose config replaces crates.io, and the vendor
// directory is an input of its action key.
func TestCargoVendorOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds real projects")
	}
	need(t, "cargo", "gcc")
	const vendor = "/usr/share/cargo/registry"
	if _, err := os.Stat(vendor + "/libc-0.2.139"); err != nil {
		t.Skip("Debian's librust-libc-dev is not installed")
	}
	b := testBuilder(t, triple.Host())
	b.CargoRegistry, b.CargoVendor = "", vendor
	res, err := buildAll(t, b, "hello-libc")
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, filepath.Join(res.Stage, "usr/bin/hello-libc")); got != "hello from libc, pid is positive: true" {
		t.Errorf("got %q", got)
	}
	cfg, err := os.ReadFile(filepath.Join(b.CargoHome, "homes", string(triple.Host())+"_hello-libc", "config.toml"))
	// the sandbox shows the vendored crates at a fixed path
	if err != nil || !strings.Contains(string(cfg), `directory = "/cook/vendor"`) || !strings.Contains(string(cfg), "offline = true") {
		t.Errorf("the build's cargo home config (%v):\n%s", err, cfg)
	}
	in, err := b.Inputs(context.Background(), cookbook.Node{Name: "hello-libc"})
	if err != nil || !strings.HasPrefix(in["cargo-vendor"], "vendor ") {
		t.Errorf("inputs %v, %v", in, err)
	}
}

// TestHermeticCross builds for aarch64: a recipe including a header that only
// the host has fails; the same program declaring the library that provides
// it builds, and runs under qemu-aarch64.
func TestHermeticCross(t *testing.T) {
	if testing.Short() {
		t.Skip("builds real projects")
	}
	need(t, "aarch64-linux-gnu-gcc", "qemu-aarch64")
	if _, err := os.Stat("/usr/include/zlib.h"); err != nil {
		t.Skip("the host has no zlib.h (Debian zlib1g-dev) to leak")
	}
	b := testBuilder(t, "aarch64-unknown-linux-gnu")
	_, err := buildAll(t, b, "zlib-undeclared")
	if err == nil {
		t.Fatal("a cross build saw the host's zlib.h")
	}
	if !strings.Contains(err.Error(), "zlib.h") {
		t.Errorf("error does not name the header:\n%v", err)
	}
	res, err := buildAll(t, b, "zlib-declared")
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := b.Toolchain(context.Background(), "aarch64-unknown-linux-gnu")
	out := run(t, "qemu-aarch64", "-L", tc.HostSysroot, filepath.Join(res.Stage, "usr/bin/uses-zlib"))
	if out != "zlib cook-mini-1.0" {
		t.Errorf("got %q", out)
	}
	// The same undeclared recipe builds for the host, where the header is part
	// of the system: the failure above is the sandbox's doing, not the recipe's.
	hb := testBuilder(t, triple.Host())
	if _, err := buildAll(t, hb, "zlib-undeclared"); err != nil {
		t.Errorf("host build: %v", err)
	}
}

// checkPhases asserts that phases are named want, in order, each beginning
// where the one before ended.
func checkPhases(t *testing.T, phases []Phase, want ...string) {
	t.Helper()
	var names []string
	for i, p := range phases {
		names = append(names, p.Name)
		if p.End.Before(p.Start) {
			t.Errorf("phase %s ends before it starts", p.Name)
		}
		if i > 0 && !p.Start.Equal(phases[i-1].End) {
			t.Errorf("phase %s starts at %v, not where %s ended (%v)", p.Name, p.Start, phases[i-1].Name, phases[i-1].End)
		}
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("phases %v, want %v", names, want)
	}
}

// TestBuildPhases: a build times its sysroot, script and package steps; a
// meta package only packages; a failed build keeps the steps it reached.
func TestBuildPhases(t *testing.T) {
	b := testBuilder(t, triple.Host())
	b.NoSandbox = true
	before := time.Now()
	res, err := buildAll(t, b, "splitter")
	if err != nil {
		t.Fatal(err)
	}
	checkPhases(t, res.Phases, "sysroot", "script", "package")
	if first, last := res.Phases[0], res.Phases[len(res.Phases)-1]; first.Start.Before(before) || last.End.After(time.Now()) {
		t.Errorf("phases %v lie outside the build", res.Phases)
	}
	meta, err := b.Build(context.Background(), cookbook.Node{Name: "meta"})
	if err != nil {
		t.Fatal(err)
	}
	checkPhases(t, meta.Phases, "package")

	stageSource(t, b, "broken")
	_, err = b.Build(context.Background(), cookbook.Node{Name: "broken"})
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a *builder.Error", err)
	}
	checkPhases(t, be.Phases, "sysroot", "script")
}
