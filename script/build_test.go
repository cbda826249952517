package script

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/cookbook"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestTemplateGolden pins the text each template inserts (spec/cookbook.md
// §5.8), byte for byte as upstream's cook_build.rs formats it (flags_fn's
// block, the empty line after a cargo recipe's flags, no newline after the
// other templates' last call), with flags holding $VAR, ${...}, backticks and spaces, which must
// reach bash unescaped inside double quotes.
func TestTemplateGolden(t *testing.T) {
	cases := map[string]string{
		"cargo": `[build]
template = "cargo"
cargoflags = ["--features", "a b", "--target-dir=$COOKBOOK_BUILD/t"]`,
		"cargo-packages": `[build]
template = "cargo"
cargopath = "cli"
clearlocked = true
cargopackages = ["foo_bar", "baz"]
cargoexamples = ["ex_one"]
cargopackagesprefixed = true`,
		"cargo-examples": `[build]
template = "cargo"
cargoexamples = ["demo"]`,
		"configure": `[build]
template = "configure"
configureflags = ["--with-sysroot=${COOKBOOK_SYSROOT}", "CFLAGS=-O2 -g", "--python=` + "`which python3`" + `"]`,
		"cmake": `[build]
template = "cmake"
cmakeflags = ["-DVORBISFILE_INCLUDE_DIR=${COOKBOOK_SYSROOT}/include", "-DNAME=two words"]`,
		"meson": `[build]
template = "meson"
mesonflags = ["-Dtests=false"]`,
		"meson-empty": `[build]
template = "meson"`,
		"python": `[build]
template = "python"
pyprojectpath = "src/pkg"
legacysetup = true
pipflags = ["--no-deps"]`,
		"custom": `[build]
template = "custom"
script = """
DYNAMIC_INIT
cookbook_configure --disable-nls
"""`,
		"none": ``,
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			r := cookbook.Parse(name, "/r", "recipes/"+name+"/recipe.toml", []byte(text))
			if r.HasErrors() {
				t.Fatalf("%v", r.Diagnostics)
			}
			got := Template(r)
			path := filepath.Join("testdata", name+".golden")
			if *update {
				os.WriteFile(path, []byte(got), 0o644)
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestScriptIsBash checks that the assembled script of every template is
// valid bash, and that flags expand the way upstream recipes rely on.
func TestScriptIsBash(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	for _, tmpl := range []string{"cargo", "configure", "cmake", "meson", "python"} {
		r := cookbook.Parse("x", "/r", "recipes/x/recipe.toml", []byte("[build]\ntemplate = \""+tmpl+"\"\n"))
		s := Generate(r)
		if !strings.HasPrefix(s, BuildPrescript()) || !strings.HasSuffix(s, BuildPostscript()) || !strings.Contains(s, SharedPrescript()) {
			t.Errorf("%s: not prescript + shared + template + postscript", tmpl)
		}
		if out, err := exec.Command("bash", "-n", "-c", s).CombinedOutput(); err != nil {
			t.Errorf("%s: bash -n: %v\n%s", tmpl, err, out)
		}
	}
	// The flag block expands variables and keeps spaces inside one word.
	r := cookbook.Parse("x", "/r", "recipes/x/recipe.toml", []byte(`[build]
template = "configure"
configureflags = ["--prefix=${COOKBOOK_SYSROOT}/usr", "A=two words"]`))
	body := strings.TrimSuffix(Template(r), "cookbook_configure")
	script := "COOKBOOK_SYSROOT=/sys\nCOOKBOOK_CONFIGURE_FLAGS=()\n" + strings.TrimPrefix(body, "DYNAMIC_INIT\n") +
		`printf '[%s]\n' "${COOKBOOK_CONFIGURE_FLAGS[@]}"`
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil || string(out) != "[--prefix=/sys/usr]\n[A=two words]\n" {
		t.Errorf("flags expanded to %q (%v)", out, err)
	}
}
