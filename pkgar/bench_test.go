package pkgar

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// benchTree writes a 100 MiB staged tree: 10 files of 5 MiB, 200 of
// 200 KiB and 2800 of 4 KiB, of random data, in nested directories. It
// returns the root and the file paths.
func benchTree(b *testing.B) (string, []string) {
	b.Helper()
	root := filepath.Join(b.TempDir(), "stage")
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 5<<20)
	for i := range buf {
		buf[i] = byte(r.UintN(256))
	}
	var files []string
	add := func(n, size int, dir string) {
		for i := range n {
			p := filepath.Join(root, dir, fmt.Sprintf("d%02d", i%37), fmt.Sprintf("f%04d", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			off := (i * 4099) % (len(buf) - size + 1)
			if err := os.WriteFile(p, buf[off:off+size], 0o644); err != nil {
				b.Fatal(err)
			}
			files = append(files, p)
		}
	}
	add(10, 5<<20, "usr/lib")
	add(200, 200<<10, "usr/bin")
	add(2800, 4<<10, "usr/share")
	return root, files
}

// BenchmarkPackage100MiB packages a 100 MiB tree and, in the same loop
// over the same files, runs b3sum (Debian's b3sum package) on them, so both
// see the same machine load. The target is at most 1.5× b3sum's time.
// Reported: pkgar-ms/op, b3sum-ms/op and x-b3sum (their ratio); ns/op is
// pkgar's time alone. Without b3sum only pkgar is measured.
func BenchmarkPackage100MiB(b *testing.B) {
	root, files := benchTree(b)
	key := testKey(b)
	out := filepath.Join(b.TempDir(), "bench.pkgar")
	ctx := context.Background()
	b3sum, err := exec.LookPath("b3sum")
	if err != nil {
		b.Log("b3sum not installed (Debian package b3sum): measuring pkgar alone")
	}
	// Warm the page cache for both contenders.
	if _, err := Create(ctx, out, root, key); err != nil {
		b.Fatal(err)
	}
	if err := os.Remove(out); err != nil {
		b.Fatal(err)
	}
	var pkgarT, b3T time.Duration
	for b.Loop() {
		t := time.Now()
		if _, err := Create(ctx, out, root, key); err != nil {
			b.Fatal(err)
		}
		pkgarT += time.Since(t)
		// Neither removing the output nor b3sum is part of packaging.
		b.StopTimer()
		if err := os.Remove(out); err != nil {
			b.Fatal(err)
		}
		if b3sum != "" {
			cmd := exec.Command(b3sum, files...)
			t = time.Now()
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
			b3T += time.Since(t)
		}
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(pkgarT.Microseconds())/1e3/n, "pkgar-ms/op")
	if b3T > 0 {
		b.ReportMetric(float64(b3T.Microseconds())/1e3/n, "b3sum-ms/op")
		b.ReportMetric(float64(pkgarT)/float64(b3T), "x-b3sum")
	}
}
