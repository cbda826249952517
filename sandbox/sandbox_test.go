package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func skipIfUnavailable(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
}

func env() []string { return []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"} }

func TestIsolation(t *testing.T) {
	skipIfUnavailable(t)
	base := t.TempDir()
	ro := filepath.Join(base, "ro")
	src := filepath.Join(base, "src")
	hidden := filepath.Join(base, "hidden")
	for _, d := range []string{ro, src, hidden, filepath.Join(base, "up"), filepath.Join(base, "wk")} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(src, "file"), []byte("pristine"), 0o644)
	os.WriteFile(filepath.Join(hidden, "secret.h"), []byte("x"), 0o644)
	spec := Spec{Dir: base, Env: env(), Mounts: []Mount{
		{Kind: ReadOnly, Target: ro},
		{Kind: Overlay, Target: src, Upper: filepath.Join(base, "up"), Work: filepath.Join(base, "wk")},
		{Kind: Hide, Target: hidden},
	}}
	script := `
set -u
echo "pid=$$"
if touch ro/x 2>/dev/null; then echo "ro=writable"; else echo "ro=readonly"; fi
echo changed > src/file && echo "src=$(cat src/file)"
if [ -e hidden/secret.h ]; then echo hidden=visible; else echo hidden=hidden; fi
`
	out, err := Command(context.Background(), spec, "/bin/bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"pid=1", "ro=readonly", "src=changed", "hidden=hidden"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in:\n%s", want, s)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(src, "file")); string(b) != "pristine" {
		t.Errorf("the overlaid source changed on the host: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(base, "up", "file")); string(b) != "changed\n" {
		t.Errorf("upper layer = %q", b)
	}
}

func TestNoNetwork(t *testing.T) {
	skipIfUnavailable(t)
	out, err := Command(context.Background(), Spec{Dir: "/", Env: env()}, "/bin/sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "lo" {
		t.Errorf("network devices in the sandbox: %q", out)
	}
}

// TestKillsEverything cancels a sandbox whose command left a background
// process; the whole pid namespace must die.
func TestKillsEverything(t *testing.T) {
	skipIfUnavailable(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "alive")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := Command(ctx, Spec{Dir: dir, Env: env()}, "/bin/sh", "-c",
		"(while true; do date > "+marker+"; sleep 0.1; done) & sleep 100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("background loop never ran")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	cmd.Wait()
	time.Sleep(300 * time.Millisecond)
	st1, _ := os.Stat(marker)
	time.Sleep(500 * time.Millisecond)
	st2, _ := os.Stat(marker)
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Error("a background process survived the sandbox")
	}
}
