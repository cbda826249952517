package main

import (
	"encoding/xml"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/internal/golden"
)

// TestTreeGolden pins `cook tree` for the core recipes of the upstream corpus.
func TestTreeGolden(t *testing.T) {
	corpus := filepath.Join(sharedDir(t), "corpus", "redox")
	for _, name := range []string{"relibc", "base", "ion", "helix", "server", "wasi-testsuite"} {
		t.Run(name, func(t *testing.T) {
			out, errs, code := cook(t, "--cookbook", corpus, "tree", name)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden.Check(t, filepath.Join("testdata", filepath.Join("tree", name+".golden")), out)
			out, errs, code = cook(t, "--cookbook", corpus, "--json", "tree", name)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden.Check(t, filepath.Join("testdata", filepath.Join("tree", name+".json.golden")), out)
		})
	}
}

// TestTreeGraphCorpus draws core recipes of the upstream corpus: the dot
// output is read by graphviz (where installed) and the SVG is well-formed
// XML with a box per node.
func TestTreeGraphCorpus(t *testing.T) {
	corpus := filepath.Join(sharedDir(t), "corpus", "redox")
	args := []string{"--cookbook", corpus, "tree", "--format"}
	roots := []string{"server", "wasi-testsuite", "helix"}
	out, errs, code := cook(t, append(append(args, "svg"), roots...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	dec := xml.NewDecoder(strings.NewReader(out))
	dec.Strict = true
	nodes := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "g" {
			for _, a := range se.Attr {
				if a.Name.Local == "class" && strings.HasPrefix(a.Value, "node") && a.Value != "nodes" {
					nodes++
				}
			}
		}
	}
	if nodes < 40 {
		t.Errorf("%d nodes drawn", nodes)
	}
	dotOut, errs, code := cook(t, append(append(args, "dot"), roots...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got := strings.Count(dotOut, " -> "); got < nodes {
		t.Errorf("%d edges in dot for %d nodes", got, nodes)
	}
	bin, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("graphviz is not installed")
	}
	cmd := exec.Command(bin, "-Tsvg")
	cmd.Stdin = strings.NewReader(dotOut)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("dot -Tsvg: %v %s", err, stderr.String())
	}
}
