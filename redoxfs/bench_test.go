package redoxfs

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchTree writes a 200 MiB host tree: 160 files of 1 MiB, 32 of
// 1 MiB + 3 KiB (one short record each), a 4 MiB file with a hole, and
// 2,000 small files in 20 directories.
func benchTree(b *testing.B) (dir string, bytes int64) {
	dir = filepath.Join(b.TempDir(), "tree")
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(name string, size int, hole bool) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, size)
		for i := 0; i+8 <= len(buf); i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if hole {
			clear(buf[recSize : 3*recSize])
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
		bytes += int64(size)
	}
	for i := range 160 {
		write(fmt.Sprintf("usr/lib/big%03d.so", i), 1<<20, false)
	}
	for i := range 32 {
		write(fmt.Sprintf("usr/bin/tool%02d", i), 1<<20+3<<10, false)
	}
	write("usr/share/hole.img", 4<<20, true)
	for i := range 2000 {
		write(fmt.Sprintf("usr/share/doc/d%02d/f%04d.txt", i%20, i), 100+i%2000*4, false)
	}
	return dir, bytes
}

// BenchmarkBuild writes a 512 MiB filesystem from a 200 MiB host tree and,
// in the same run, copies the same tree with cp -r. It reports cp's time,
// the ratio of Build's time to cp's (target at most 1.5) and the peak
// resident memory during Build (target under 100 MiB).
func BenchmarkBuild(b *testing.B) {
	if _, err := exec.LookPath("cp"); err != nil {
		b.Skip("cp not found")
	}
	src, size := benchTree(b)
	work := b.TempDir()
	// Warm the page cache for both contestants.
	if out, err := exec.Command("cp", "-r", src, filepath.Join(work, "warm")).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v\n%s", err, out)
	}
	os.RemoveAll(filepath.Join(work, "warm"))

	var cpTime, buildTime time.Duration
	var peak int64
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		dst := filepath.Join(work, fmt.Sprint("cp", i))
		start := time.Now()
		if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v\n%s", err, out)
		}
		cpTime += time.Since(start)
		os.RemoveAll(dst)

		tree := NewTree()
		if err := tree.AddHostDir(context.Background(), src, ""); err != nil {
			b.Fatal(err)
		}
		img := filepath.Join(work, fmt.Sprint("fs", i, ".img"))
		f, err := os.Create(img)
		if err != nil {
			b.Fatal(err)
		}
		resetPeakRSS()
		b.StartTimer()
		start = time.Now()
		if _, err := Build(context.Background(), f, tree, Options{Size: 512 << 20, Time: epoch}); err != nil {
			b.Fatal(err)
		}
		buildTime += time.Since(start)
		b.StopTimer()
		peak = max(peak, peakRSS())
		f.Close()
		os.Remove(img)
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(cpTime.Milliseconds())/n, "cp-ms/op")
	b.ReportMetric(float64(buildTime.Milliseconds())/n, "build-ms/op")
	b.ReportMetric(float64(buildTime)/float64(cpTime), "x-cp")
	if peak > 0 {
		b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	}
}

// resetPeakRSS resets the kernel's peak resident set size of this process
// (Linux: writing 5 to /proc/self/clear_refs).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS returns VmHWM, the peak resident set size since the last reset,
// in bytes, or 0 when unknown.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
