package builder_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cookbook"
)

// genCookbook writes n tiny recipes, each compiling a C program with the
// host compiler; recipe i > 0 depends on recipe (i-1)/2, so the graph is a
// binary tree with sysroots to assemble.
func genCookbook(tb testing.TB, n int) string {
	root := tb.TempDir()
	for i := 0; i < n; i++ {
		dir := filepath.Join(root, "recipes", fmt.Sprintf("r%03d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		deps := ""
		if i > 0 {
			deps = fmt.Sprintf("dependencies = [\"r%03d\"]\n", (i-1)/2)
		}
		recipe := fmt.Sprintf(`[build]
template = "custom"
%sscript = """
printf 'int main(void) { return %d %%%% 7; }\n' > m.c
"${CC}" -O1 m.c -o r%03d
mkdir -p "${COOKBOOK_STAGE}/usr/bin" "${COOKBOOK_STAGE}/usr/share/r%03d"
cp r%03d "${COOKBOOK_STAGE}/usr/bin/"
echo "recipe %d" > "${COOKBOOK_STAGE}/usr/share/r%03d/README"
ln -s ../../bin/r%03d "${COOKBOOK_STAGE}/usr/share/r%03d/link"
"""
`, deps, i, i, i, i, i, i, i, i)
		if err := os.WriteFile(filepath.Join(dir, "recipe.toml"), []byte(recipe), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return root
}

// schedule builds every recipe of m's tree the way cook build does: the
// parallel scheduler, -j jobs.
func (m *machine) schedule(tb testing.TB, jobs int) map[builder.Status]int {
	var js []builder.Job
	var all []cookbook.Node
	for name := range m.b.Tree.Recipes {
		all = append(all, cookbook.Node{Name: name})
	}
	g := m.b.Tree.NewGraph(all, cookbook.BuildEdge|cookbook.DevEdge)
	order, err := g.Order()
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range order {
		j := builder.Job{Node: n}
		for _, e := range m.b.Tree.Deps(n) {
			j.Deps = append(j.Deps, e.To)
		}
		js = append(js, j)
	}
	s := &builder.Scheduler{Jobs: jobs, Run: m.b.Ensure}
	count := map[builder.Status]int{}
	for _, o := range s.Execute(context.Background(), js) {
		if o.Err != nil {
			tb.Fatalf("%s: %v", o.Node, o.Err)
		}
		count[o.Status]++
	}
	if err := m.b.Flush(); err != nil {
		tb.Fatal(err)
	}
	if m.ac != nil {
		if err := m.ac.Flush(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
	return count
}

// BenchmarkRemoteRestore300 builds 300 recipes cold on machine A (uploading
// to a bazel-remote on loopback), then restores all of them on an empty
// machine B from the warm cache; it reports both wall times.
//
//	go test ./cache -run '^$' -bench RemoteRestore300 -benchtime 1x
func BenchmarkRemoteRestore300(b *testing.B) {
	const n = 300
	root := genCookbook(b, n)
	tree, err := cookbook.Load(context.Background(), root)
	if err != nil {
		b.Fatal(err)
	}
	jobs := 2
	var cold, coldNoCache, restore time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		br := startBazelRemote(b)
		// the cold build without any cache, for the upload overhead
		plain := newMachine(b, machineOpt{tree: tree, noSandbox: true})
		t0 := time.Now()
		if c := plain.schedule(b, jobs); c[builder.Built] != n {
			b.Fatalf("plain: %v", c)
		}
		coldNoCache += time.Since(t0)

		a := newMachine(b, machineOpt{tree: tree, noSandbox: true, keysFrom: plain.b, store: remoteStore(b, br.URL)})
		t0 = time.Now()
		if c := a.schedule(b, jobs); c[builder.Built] != n {
			b.Fatalf("A: %v", c)
		}
		cold += time.Since(t0) // includes waiting for the uploads
		b.StartTimer()
		m := newMachine(b, machineOpt{tree: tree, noSandbox: true, keysFrom: a.b, store: remoteStore(b, br.URL)})
		t0 = time.Now()
		if c := m.schedule(b, jobs); c[builder.RemoteCached] != n {
			b.Fatalf("B: %v", c)
		}
		restore += time.Since(t0)
		b.StopTimer()
		br.stop()
	}
	b.ReportMetric(coldNoCache.Seconds()/float64(b.N), "cold-nocache-s")
	b.ReportMetric(cold.Seconds()/float64(b.N), "cold+upload-s")
	b.ReportMetric(restore.Seconds()/float64(b.N), "restore-s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRemoteRestoreLarge restores one recipe whose stage holds 256 MiB
// of incompressible data (in 64 files) from bazel-remote on loopback, and
// reports the throughput.
//
//	go test ./cache -run '^$' -bench RemoteRestoreLarge -benchtime 3x
func BenchmarkRemoteRestoreLarge(b *testing.B) {
	const mib = 256
	root := b.TempDir()
	dir := filepath.Join(root, "recipes", "big")
	os.MkdirAll(dir, 0o755)
	recipe := fmt.Sprintf(`[build]
template = "custom"
script = """
mkdir -p "${COOKBOOK_STAGE}/usr/share/big"
for i in $(seq 1 64); do head -c %d /dev/urandom > "${COOKBOOK_STAGE}/usr/share/big/f$i"; done
"""
`, mib<<20/64)
	if err := os.WriteFile(filepath.Join(dir, "recipe.toml"), []byte(recipe), 0o644); err != nil {
		b.Fatal(err)
	}
	tree, err := cookbook.Load(context.Background(), root)
	if err != nil {
		b.Fatal(err)
	}
	br := startBazelRemote(b, "--max_size", "4")
	a := newMachine(b, machineOpt{tree: tree, noSandbox: true, store: remoteStore(b, br.URL)})
	t0 := time.Now()
	if c := a.schedule(b, 2); c[builder.Built] != 1 {
		b.Fatalf("A: %v", c)
	}
	cold := time.Since(t0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := newMachine(b, machineOpt{tree: tree, noSandbox: true, keysFrom: a.b, store: remoteStore(b, br.URL)})
		if c := m.schedule(b, 2); c[builder.RemoteCached] != 1 {
			b.Fatalf("B: %v", c)
		}
		b.StopTimer()
		os.RemoveAll(m.b.Work.Root)
		b.StartTimer()
	}
	b.ReportMetric(float64(mib*b.N)/b.Elapsed().Seconds(), "MiB/s")
	b.ReportMetric(cold.Seconds(), "build+upload-s")
}
