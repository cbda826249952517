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

// BenchmarkPackage100MiB packages a 100 MiB tree and, over the same files
// in the same run, times b3sum (Debian's b3sum package) for comparison: the
// target is at most 1.5× b3sum's time. The ratio is reported as
// x_b3sum (pkgar time / b3sum time).
func BenchmarkPackage100MiB(b *testing.B) {
	root, files := benchTree(b)
	key := testKey(b)
	out := filepath.Join(b.TempDir(), "bench.pkgar")
	ctx := context.Background()
	// Warm the page cache for both contenders.
	if _, err := Create(ctx, out, root, key); err != nil {
		b.Fatal(err)
	}
	var pkgarNs, b3Ns float64
	b.Run("pkgar", func(b *testing.B) {
		b.SetBytes(100 << 20)
		start := time.Now()
		var paused time.Duration
		for b.Loop() {
			if _, err := Create(ctx, out, root, key); err != nil {
				b.Fatal(err)
			}
			// Removing the previous output is not part of packaging.
			b.StopTimer()
			t := time.Now()
			if err := os.Remove(out); err != nil {
				b.Fatal(err)
			}
			paused += time.Since(t)
			b.StartTimer()
		}
		pkgarNs = float64((time.Since(start) - paused).Nanoseconds()) / float64(b.N)
	})
	b3sum, err := exec.LookPath("b3sum")
	if err != nil {
		b.Log("b3sum not installed (Debian package b3sum): skipping the comparison")
		return
	}
	b.Run("b3sum", func(b *testing.B) {
		b.SetBytes(100 << 20)
		start := time.Now()
		for b.Loop() {
			cmd := exec.Command(b3sum, files...)
			cmd.Stdout = nil
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
		b3Ns = float64(time.Since(start).Nanoseconds()) / float64(b.N)
	})
	if b3Ns > 0 {
		b.ReportMetric(pkgarNs/b3Ns, "x_b3sum")
		b.Logf("pkgar %.1f ms, b3sum %.1f ms, ratio %.2f (target <= 1.5)", pkgarNs/1e6, b3Ns/1e6, pkgarNs/b3Ns)
	}
}
