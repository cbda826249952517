package script

import (
	"os/exec"
	"strings"
	"testing"
)

func runBash(t *testing.T, text string, env ...string) string {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	cmd := exec.Command("bash", "-e")
	cmd.Stdin = strings.NewReader(text)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	return string(out)
}

func TestSharedPrescriptFunctions(t *testing.T) {
	out := runBash(t, SourceScript(`
DYNAMIC_INIT
echo "dyn=${COOKBOOK_DYNAMIC} cfg=${COOKBOOK_CONFIGURE_FLAGS[*]} meson=${COOKBOOK_MESON_FLAGS[*]}"
echo "ld=$LDFLAGS"
DYNAMIC_STATIC_INIT
echo "cfg2=${COOKBOOK_CONFIGURE_FLAGS[*]}"
declare -F autotools_recursive_regenerate GNU_CONFIG_GET
`), "TARGET=x86_64-unknown-redox", "GNU_TARGET=x86_64-unknown-redox", "COOKBOOK_SYSROOT=/s")
	for _, want := range []string{
		"dyn=1 cfg=--host=x86_64-unknown-redox --prefix=/usr --enable-shared --disable-static",
		"meson=--buildtype release --wrap-mode nofallback -Ddefault_library=shared -Dprefix=/usr",
		"ld=-Wl,-rpath-link,/s/lib -L/s/lib -Wl,--export-dynamic",
		"cfg2=--host=x86_64-unknown-redox --prefix=/usr --enable-shared --enable-static",
		"autotools_recursive_regenerate\nGNU_CONFIG_GET",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestDynamicInitStaticOnlyTargets(t *testing.T) {
	for _, target := range []string{"i586-unknown-redox", "riscv64gc-unknown-redox"} {
		out := runBash(t, SourceScript(`DYNAMIC_INIT; echo "dyn=[${COOKBOOK_DYNAMIC}]"`), "TARGET="+target, "COOKBOOK_VERBOSE=1")
		if !strings.Contains(out, "dyn=[]") || !strings.Contains(out, "does not support dynamic linking") {
			t.Errorf("%s: %s", target, out)
		}
	}
}

func TestAutotoolsRecursiveRegenerateOrder(t *testing.T) {
	dir := t.TempDir()
	out := runBash(t, "cd "+dir+"\nmkdir -p b a/x\ntouch b/configure.ac a/x/configure.in a/configure.ac\n"+
		SourceScript(`COOKBOOK_AUTORECONF=echo; COOKBOOK_HOST_SYSROOT=/h; autotools_recursive_regenerate -Wall`))
	want := "* autotools regen in './a'...\n-fvi -Wall -I/h/share/aclocal\n* autotools regen in './a/x'...\n-fvi -Wall -I/h/share/aclocal\n* autotools regen in './b'...\n-fvi -Wall -I/h/share/aclocal\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}
