package builder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/sandbox"
	"github.com/redox-cook/cook/triple"
	"github.com/redox-cook/cook/workdir"
)

// TestScriptSeesNothingOfTheHost builds a recipe whose script, as a hostile
// recipe would, tries to read the signing key, the state files, another
// recipe's stage and the host's secrets, and to write another recipe's
// stage, the recipe tree, /etc and the user's home. In the sandbox every
// attempt must fail; without it (the control) the key is readable, which
// shows the probe is real.
func TestScriptSeesNothingOfTheHost(t *testing.T) {
	if err := sandbox.Available(); err != nil {
		t.Skip(err)
	}
	host := string(triple.Host())
	for _, sandboxed := range []bool{true, false} {
		t.Run(fmt.Sprintf("sandbox=%v", sandboxed), func(t *testing.T) {
			root := t.TempDir()
			work := workdir.New(filepath.Join(root, "work"))
			key, err := pkgar.EnsureKeys(work.Keys())
			if err != nil {
				t.Fatal(err)
			}
			home, _ := os.UserHomeDir()
			victimStage := work.Stage("victim", host, "")
			reads := []string{
				filepath.Join(work.Keys(), "id_ed25519.toml"),
				filepath.Join(victimStage, "usr/share/victim.txt"),
				work.State(),
				"/etc/shadow",
				filepath.Join(root, "cookbook", "recipes", "victim", "recipe.toml"),
			}
			// the user's home: only a rustup installation may show there
			entries, _ := os.ReadDir(home)
			for _, e := range entries {
				if e.Name() != ".rustup" && e.Name() != ".cargo" && len(reads) < 12 {
					reads = append(reads, filepath.Join(home, e.Name()))
				}
			}
			var writes []string // the control writes nothing: it would really write
			if sandboxed {
				writes = []string{
					filepath.Join(victimStage, "usr/share/trojan"),
					filepath.Join(root, "cookbook", "recipes", "victim", "trojan"),
					filepath.Join(work.Keys(), "trojan"),
					"/etc/cook-trojan",
					filepath.Join(home, "cook-trojan"),
				}
			}
			var script strings.Builder
			script.WriteString("report=\"${COOKBOOK_STAGE}/report\"\n: > \"$report\"\n")
			for _, p := range reads {
				fmt.Fprintf(&script, "if [ -e %q ]; then echo 'saw %s' >> \"$report\"; fi\n", p, p)
			}
			for _, p := range writes {
				fmt.Fprintf(&script, "if ( echo trojan > %q ) 2>/dev/null; then echo 'wrote %s' >> \"$report\"; fi\n", p, p)
			}
			writeRecipe(t, root, "victim", `mkdir -p "${COOKBOOK_STAGE}/usr/share"
echo victim > "${COOKBOOK_STAGE}/usr/share/victim.txt"`)
			writeRecipe(t, root, "snoop", script.String())
			tree, err := cookbook.Load(context.Background(), filepath.Join(root, "cookbook"))
			if err != nil {
				t.Fatal(err)
			}
			b := &Builder{Tree: tree, Work: work, Target: triple.Host(), Key: key, NoSandbox: !sandboxed}
			for _, n := range []string{"victim", "snoop"} {
				os.MkdirAll(work.Source(n), 0o755)
				if _, err := b.Build(context.Background(), cookbook.Node{Name: n}); err != nil {
					t.Fatal(err)
				}
			}
			report, err := os.ReadFile(filepath.Join(work.Stage("snoop", host, ""), "report"))
			if err != nil {
				t.Fatal(err)
			}
			if sandboxed {
				if len(report) != 0 {
					t.Errorf("the sandboxed script reached the host:\n%s", report)
				}
				for _, p := range writes {
					if _, err := os.Stat(p); err == nil {
						os.Remove(p)
						t.Errorf("%s was written", p)
					}
				}
			} else if !strings.Contains(string(report), "saw "+reads[0]) {
				t.Errorf("control: without the sandbox the key should be readable; report:\n%s", report)
			}
		})
	}
}

func writeRecipe(t *testing.T, root, name, script string) {
	t.Helper()
	dir := filepath.Join(root, "cookbook", "recipes", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("[build]\ntemplate = \"custom\"\nscript = '''\n%s\n'''\n", script)
	if err := os.WriteFile(filepath.Join(dir, "recipe.toml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
