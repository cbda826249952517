package script

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// deliberate lists every line of cook's prelude that differs from upstream's
// on purpose (each is in docs/recipe-format.md, "The build script"): where it
// is (a constant or a function), upstream's line and cook's.
var deliberate = []struct{ where, upstream, cook string }{
	// An empty LD_LIBRARY_PATH would leave a trailing ':', an empty entry
	// the dynamic loader reads as the current directory: host tools run in
	// the build directory would load the cross-built libraries there.
	{"BUILD_PRESCRIPT",
		`export LD_LIBRARY_PATH="${COOKBOOK_TOOLCHAIN}/lib:${LD_LIBRARY_PATH}"`,
		`export LD_LIBRARY_PATH="${COOKBOOK_TOOLCHAIN}/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"`},
}

// upstream is the upstream prelude text the test found, by where it came from.
type upstream struct {
	consts map[string]string // SHARED_PRESCRIPT, BUILD_PRESCRIPT, BUILD_POSTSCRIPT (from script.rs)
	funcs  map[string]string // shell function name → its text
	origin map[string]string // shell function name → file it was read from
	looked []string          // every place looked at
}

// loadUpstream reads upstream's text from, in order: $COOK_UPSTREAM_REDOX
// (a checkout of github.com/redox-os/redox) and $COOK_SHARED's corpus
// (src/cook/script.rs, upstream's own source), then the spec's quotations
// (fenced code blocks in $COOK_SHARED/spec/cookbook.md). It skips the test
// when neither variable is set.
func loadUpstream(t *testing.T) *upstream {
	t.Helper()
	shared, checkout := os.Getenv("COOK_SHARED"), os.Getenv("COOK_UPSTREAM_REDOX")
	if shared == "" && checkout == "" {
		t.Skip("COOK_SHARED is not set (nor COOK_UPSTREAM_REDOX): no upstream text to compare with")
	}
	u := &upstream{consts: map[string]string{}, funcs: map[string]string{}, origin: map[string]string{}}
	var rsFiles []string
	if checkout != "" {
		rsFiles = append(rsFiles, filepath.Join(checkout, "src/cook/script.rs"))
	}
	if shared != "" {
		rsFiles = append(rsFiles, filepath.Join(shared, "corpus/redox/src/cook/script.rs"))
	}
	for _, p := range rsFiles {
		u.looked = append(u.looked, p)
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, name := range []string{"SHARED_PRESCRIPT", "BUILD_PRESCRIPT", "BUILD_POSTSCRIPT"} {
			text, ok := rustRawString(string(data), name)
			if !ok {
				t.Fatalf("%s: no raw string constant %s", p, name)
			}
			if _, done := u.consts[name]; !done {
				u.consts[name] = text
				u.add(text, p)
			}
		}
	}
	if shared != "" {
		spec := filepath.Join(shared, "spec/cookbook.md")
		u.looked = append(u.looked, spec)
		if data, err := os.ReadFile(spec); err == nil {
			for _, block := range fencedBlocks(string(data)) {
				u.add(block, spec)
			}
		}
	}
	return u
}

func (u *upstream) add(text, origin string) {
	for name, body := range shellFunctions(text) {
		if _, ok := u.funcs[name]; !ok {
			u.funcs[name], u.origin[name] = body, origin
		}
	}
}

// rustRawString returns the value of `static NAME: &str = r#"..."#;`.
func rustRawString(src, name string) (string, bool) {
	re := regexp.MustCompile(`static ` + name + `: &str = r#"((?s).*?)"#;`)
	m := re.FindStringSubmatch(src)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// fencedBlocks returns the contents of the ``` code blocks of a Markdown text.
func fencedBlocks(md string) []string {
	var out []string
	var cur []string
	in := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			if in {
				out = append(out, strings.Join(cur, "\n"))
				cur = nil
			}
			in = !in
			continue
		}
		if in {
			cur = append(cur, line)
		}
	}
	return out
}

var funcStart = regexp.MustCompile(`^(?:function\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(\))?\s*\{\s*$`)

// shellFunctions returns the functions a shell text defines at its top
// level, each from its first line to the `}` in column 0 that ends it.
func shellFunctions(text string) map[string]string {
	out := map[string]string{}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		m := funcStart.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		for j := i + 1; j < len(lines); j++ {
			if strings.TrimRight(lines[j], " \t") == "}" {
				out[m[1]] = strings.Join(lines[i:j+1], "\n")
				i = j
				break
			}
		}
	}
	return out
}

// applyDeliberate turns upstream's text into what cook must have at where.
func applyDeliberate(where, text string) string {
	for _, d := range deliberate {
		if d.where == where {
			text = strings.Replace(text, d.upstream, d.cook, 1)
		}
	}
	return text
}

// lineDiff describes how got differs from want, line by line.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || (i >= len(g)) != (i >= len(w)) {
			fmt.Fprintf(&b, "line %d:\n  cook:     %q\n  upstream: %q\n", i+1, gl, wl)
		}
	}
	return b.String()
}

// TestPreludeMatchesUpstream compares, line for line, every shell function
// cook's prelude defines with upstream's text, and every constant as a whole
// when upstream's source is at hand; the only differences allowed are those
// in deliberate. A function whose upstream text is nowhere to be found is
// skipped, naming the places looked at.
func TestPreludeMatchesUpstream(t *testing.T) {
	u := loadUpstream(t)
	cook := map[string]string{
		"SHARED_PRESCRIPT": SharedPrescript(),
		"BUILD_PRESCRIPT":  BuildPrescript(),
		"BUILD_POSTSCRIPT": BuildPostscript(),
	}
	cookFuncs := map[string]string{}
	where := map[string]string{}
	for c, text := range cook {
		for name, body := range shellFunctions(text) {
			cookFuncs[name], where[name] = body, c
		}
	}
	names := make([]string, 0, len(cookFuncs))
	for n := range cookFuncs {
		names = append(names, n)
	}
	for n := range u.funcs {
		if _, ok := cookFuncs[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var missing []string
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			got, ok := cookFuncs[name]
			if !ok {
				t.Fatalf("upstream defines %s (%s), cook does not", name, u.origin[name])
			}
			want, ok := u.funcs[name]
			if !ok {
				missing = append(missing, name)
				t.Skipf("no upstream text of %s in %s", name, strings.Join(u.looked, ", "))
			}
			if want = applyDeliberate(name, want); got != want {
				t.Errorf("%s differs from upstream's (%s):\n%s", name, u.origin[name], lineDiff(got, want))
			}
		})
	}
	for _, c := range []string{"SHARED_PRESCRIPT", "BUILD_PRESCRIPT", "BUILD_POSTSCRIPT"} {
		t.Run(c, func(t *testing.T) {
			want, ok := u.consts[c]
			if !ok {
				t.Skipf("upstream's src/cook/script.rs is not in %s", strings.Join(u.looked, ", "))
			}
			if want = applyDeliberate(c, want); cook[c] != want {
				t.Errorf("%s differs from upstream's:\n%s", c, lineDiff(cook[c], want))
			}
		})
	}
	if len(missing) > 0 {
		t.Logf("upstream text missing for: %s", strings.Join(missing, ", "))
	}
}

// TestDeliberateDifferencesApply keeps the table honest: each listed line is
// in cook's text, and upstream's line is not.
func TestDeliberateDifferencesApply(t *testing.T) {
	texts := map[string]string{
		"SHARED_PRESCRIPT": SharedPrescript(),
		"BUILD_PRESCRIPT":  BuildPrescript(),
		"BUILD_POSTSCRIPT": BuildPostscript(),
	}
	for _, d := range deliberate {
		text, ok := texts[d.where]
		if !ok {
			for _, all := range texts {
				if f, ok := shellFunctions(all)[d.where]; ok {
					text = f
				}
			}
		}
		if !strings.Contains(text, d.cook+"\n") || strings.Contains(text, d.upstream+"\n") {
			t.Errorf("%s: want cook's line %q instead of upstream's %q", d.where, d.cook, d.upstream)
		}
	}
}

func TestShellFunctions(t *testing.T) {
	fs := shellFunctions("x=1\nfunction a {\n    function inner {\n    }\n}\nb() {\n  echo\n}\n")
	if len(fs) != 2 || fs["a"] != "function a {\n    function inner {\n    }\n}" || fs["b"] != "b() {\n  echo\n}" {
		t.Errorf("%q", fs)
	}
}
