package script

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// prelude is the text every build script starts with.
func prelude() string { return BuildPrescript() + "\n" + SharedPrescript() + "\n" }

// TestPreludeBehavesAsUpstream runs the prelude's functions with stand-in
// tools and checks what upstream's text does, without needing upstream's
// source at hand (TestPreludeMatchesUpstream compares the text itself).
func TestPreludeBehavesAsUpstream(t *testing.T) {
	dir := t.TempDir()
	env := []string{"TARGET=x86_64-unknown-redox", "GNU_TARGET=x86_64-unknown-redox", "COOKBOOK_HOST_TARGET=x86_64-unknown-linux-gnu",
		"COOKBOOK_SYSROOT=/s", "COOKBOOK_SOURCE=/src", "COOKBOOK_STAGE=" + dir + "/stage", "COOKBOOK_BUILD=" + dir,
		"COOKBOOK_RECIPE=/r/demo", "COOKBOOK_MAKE_JOBS=3", "COOKBOOK_REDOXER=echo"}

	t.Run("cmake file takes C++ flags from CFLAGS", func(t *testing.T) {
		runBash(t, "cd "+dir+"\n"+prelude()+`CFLAGS=-O2; CXXFLAGS=-Oxx; generate_cookbook_cmake_file "$TARGET" x- /s f.cmake`, env...)
		data, _ := os.ReadFile(filepath.Join(dir, "f.cmake"))
		for _, want := range []string{`set(CMAKE_C_FLAGS "-O2 -I/s/include")`, `set(CMAKE_CXX_FLAGS "-O2 -I/s/include")`, "set(CMAKE_PREFIX_PATH, /s)"} {
			if !strings.Contains(string(data), want+"\n") {
				t.Errorf("no %q in\n%s", want, data)
			}
		}
	})

	t.Run("meson cross file", func(t *testing.T) {
		runBash(t, "cd "+dir+"\n"+prelude()+`CC="cc -m64"; CXX=c++; COOKBOOK_MESON=true; COOKBOOK_NINJA=true; cookbook_meson`, env...)
		data, _ := os.ReadFile(filepath.Join(dir, "cross_file.txt"))
		s := string(data)
		if strings.Contains(s, "cpp_link_args") || !strings.Contains(s, "c = ['cc', '-m64']\n") ||
			!strings.Contains(s, "c_link_args = ['-L/s/lib', '--static']\n") || strings.Contains(s, "\n\n") {
			t.Errorf("cross_file.txt:\n%s", s)
		}
	})

	t.Run("PYTHON_INIT", func(t *testing.T) {
		out := runBash(t, prelude()+`PYTHONPATH=/pre; PYTHON_INIT; echo "$_PYTHON_HOST_PLATFORM|$PYTHONPATH|$_PYTHON_SYSCONFIGDATA_NAME|$PYTHONPYCACHEPREFIX"`,
			append(env[1:], "TARGET=x86_64-unknown-linux-gnu")...)
		want := "linux-gnu-x86_64|/pre:/s/usr/lib/python3.12:/s/usr/lib/python3.12/site-packages|_sysconfigdata__linux_x86_64-linux-gnu|" + dir + "\n"
		if !strings.HasSuffix(out, want) {
			t.Errorf("got %q, want %q", out, want)
		}
	})

	t.Run("cookbook_cargo_build without a cargo path", func(t *testing.T) {
		out := runBash(t, "cd "+dir+"\nmkdir -p target/x86_64-unknown-redox/release && touch target/x86_64-unknown-redox/release/tool\n"+
			prelude()+`bin_name=tool cookbook_cargo_build; ls "$COOKBOOK_STAGE/usr/bin"`, env...)
		if !strings.Contains(out, "build --manifest-path /src/Cargo.toml --release -j 3 --locked\n") || !strings.HasSuffix(out, "demo_tool\n") {
			t.Errorf("%s", out)
		}
		// With no bin_name either, upstream takes the basename of the empty
		// path: an empty name, so cp is handed the profile directory itself.
		out = runBash(t, "cd "+dir+"\n"+prelude()+`cp() { echo "cp $*"; }; cookbook_cargo_build`, env...)
		if want := "cp -v target/x86_64-unknown-redox/release/./ " + dir + "/stage/usr/bin/demo_\n"; !strings.HasSuffix(out, want) {
			t.Errorf("got %q, want suffix %q", out, want)
		}
	})

	t.Run("postscript tags every component", func(t *testing.T) {
		meta := filepath.Join(dir, "stage/usr/share/metainfo")
		os.MkdirAll(meta, 0o755)
		os.WriteFile(filepath.Join(meta, "a.xml"), []byte("<component></component><component></component>\n"), 0o644)
		runBash(t, BuildPostscript(), append(env, "COOKBOOK_NAME=demo", "COOKBOOK_NOSTRIP=1")...)
		data, _ := os.ReadFile(filepath.Join(meta, "a.xml"))
		if want := "<component><pkgname>demo</pkgname></component><component><pkgname>demo</pkgname></component>\n"; string(data) != want {
			t.Errorf("got %q, want %q", data, want)
		}
	})

	t.Run("no empty library path entry", func(t *testing.T) {
		out := runBash(t, BuildPrescript()+`echo "[$LD_LIBRARY_PATH]"`, append(env, "COOKBOOK_TOOLCHAIN=/tc")...)
		if !strings.HasSuffix(out, "[/tc/lib]\n") {
			t.Errorf("%q", out)
		}
	})
}
