package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// run runs a bash script in a sandbox built from mounts and returns its
// output.
func run(t *testing.T, spec Spec, script string) string {
	t.Helper()
	if spec.Root == "" {
		spec.Root = t.TempDir()
	}
	if spec.Dir == "" {
		spec.Dir = "/"
	}
	if spec.Env == nil {
		spec.Env = env()
	}
	out, err := Command(context.Background(), spec, "bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return string(out)
}

func TestIsolation(t *testing.T) {
	skipIfUnavailable(t)
	base := t.TempDir()
	ro := filepath.Join(base, "ro")
	src := filepath.Join(base, "src")
	rw := filepath.Join(base, "rw")
	for _, d := range []string{ro, src, rw, filepath.Join(src, "hidden"), filepath.Join(base, "up"), filepath.Join(base, "wk")} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(src, "file"), []byte("pristine"), 0o644)
	os.WriteFile(filepath.Join(src, "hidden", "secret.h"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(ro, "data"), []byte("data"), 0o644)
	spec := Spec{Dir: "/w", Mounts: []Mount{
		{Kind: ReadOnly, Source: ro, Target: "/ro"},
		{Kind: Overlay, Source: src, Target: "/src", Upper: filepath.Join(base, "up"), Work: filepath.Join(base, "wk")},
		{Kind: Hide, Target: "/src/hidden"},
		{Kind: Bind, Source: rw, Target: "/w"},
	}}
	out := run(t, spec, `
set -u
echo "pid=$$"
echo "ro=$(cat /ro/data)"
if touch /ro/x 2>/dev/null; then echo "ro=writable"; else echo "ro=readonly"; fi
echo changed > /src/file && echo "src=$(cat /src/file)"
if [ -e /src/hidden/secret.h ]; then echo hidden=visible; else echo hidden=hidden; fi
echo out > made && echo "cwd=$(pwd)"
`)
	for _, want := range []string{"pid=1", "ro=data", "ro=readonly", "src=changed", "hidden=hidden", "cwd=/w"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(src, "file")); string(b) != "pristine" {
		t.Errorf("the overlaid source changed on the host: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(base, "up", "file")); string(b) != "changed\n" {
		t.Errorf("upper layer = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(rw, "made")); string(b) != "out\n" {
		t.Errorf("writable bind: %q", b)
	}
}

// TestHostHidden: the sandbox shows the host's tool directories and
// nothing else: not a file next to the sandbox's own directories, not the
// user's home, not /etc beyond the listed files; and nothing outside the
// writable mounts can be written.
func TestHostHidden(t *testing.T) {
	skipIfUnavailable(t)
	base := t.TempDir()
	secret := filepath.Join(base, "keys", "id_ed25519.toml")
	os.MkdirAll(filepath.Dir(secret), 0o700)
	os.WriteFile(secret, []byte("secret"), 0o600)
	work := filepath.Join(base, "work")
	os.MkdirAll(work, 0o755)
	home, _ := os.UserHomeDir()
	spec := Spec{Dir: "/work", Mounts: []Mount{{Kind: Bind, Source: work, Target: "/work"}}}
	out := run(t, spec, `
for p in `+secret+` `+base+` `+home+` /etc/shadow /etc/hostname /root /home /var /opt /srv /run /sys /boot; do
  if [ -e "$p" ]; then echo "visible $p"; fi
done
for p in /etc/x /usr/x /x /bin/x /work/../x; do
  if ( echo x > "$p" ) 2>/dev/null; then echo "wrote $p"; fi
done
# with the capabilities of the namespace's root, the mounts could be undone
mount -o remount,rw,bind /usr 2>/dev/null && echo "remounted /usr"
umount -l /usr 2>/dev/null && echo "unmounted /usr"
mount -t tmpfs x /tmp 2>/dev/null && echo "mounted"
unshare -Urm sh -c 'mount -o remount,rw,bind /usr && echo x > /usr/cook-sandbox-escape' 2>/dev/null && echo "wrote through a nested namespace"
grep -q '^CapEff:\s*0*$' /proc/self/status && echo caps=none
[ -x /usr/bin/env ] && echo tools=ok
[ -e /etc/passwd ] && echo passwd=ok
[ -c /dev/null ] && echo devnull=ok
echo t > /tmp/t && echo tmp=ok
ls / | tr '\n' ' '
`)
	for _, bad := range []string{"visible", "wrote", "mounted", "remounted"} {
		if strings.Contains(out, bad) {
			t.Errorf("sandbox leaks the host:\n%s", out)
		}
	}
	if _, err := os.Stat("/usr/cook-sandbox-escape"); err == nil {
		os.Remove("/usr/cook-sandbox-escape")
		t.Error("a script wrote the host's /usr")
	}
	for _, want := range []string{"tools=ok", "passwd=ok", "devnull=ok", "tmp=ok", "caps=none"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestNoNetwork(t *testing.T) {
	skipIfUnavailable(t)
	out := run(t, Spec{}, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")
	if strings.TrimSpace(out) != "lo" {
		t.Errorf("network devices in the sandbox: %q", out)
	}
}

func TestBadSpec(t *testing.T) {
	for _, spec := range []Spec{
		{Root: "relative", Dir: "/"},
		{Root: "/r", Dir: "/", Mounts: []Mount{{Kind: ReadOnly, Source: "/x", Target: "/"}}},
		{Root: "/r", Dir: "/", Mounts: []Mount{{Kind: ReadOnly, Source: "x/../y", Target: "/y"}}},
		{Root: "/r", Dir: "/", Mounts: []Mount{{Kind: Overlay, Source: "/s", Target: "/t"}}},
	} {
		err := Command(context.Background(), spec, "true").Run()
		if !errors.Is(err, ErrSpec) {
			t.Errorf("%+v: got %v, want ErrSpec", spec, err)
		}
	}
}

// TestKillsEverything cancels a sandbox whose command left a background
// process; the whole pid namespace must die.
func TestKillsEverything(t *testing.T) {
	skipIfUnavailable(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "alive")
	ctx, cancel := context.WithCancel(context.Background())
	spec := Spec{Root: t.TempDir(), Dir: "/d", Env: env(), Mounts: []Mount{{Kind: Bind, Source: dir, Target: "/d"}}}
	cmd := Command(ctx, spec, "/bin/sh", "-c", "(while true; do date > alive; sleep 0.1; done) & sleep 100")
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

// TestInitRefusesBadSpec: the init checks the Spec it is handed itself, so
// a request that did not come through Command (a mount target climbing out
// of the new root) mounts and creates nothing on the host.
func TestInitRefusesBadSpec(t *testing.T) {
	skipIfUnavailable(t)
	base := t.TempDir()
	root := filepath.Join(base, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Root: root, Dir: "/", Env: env()}
	escaped := Spec{Root: root, Dir: "/", Env: env(), Mounts: []Mount{{Kind: Tmpfs, Target: "/../escaped"}}}
	marshal := func(req request) string {
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for name, raw := range map[string]string{
		"escaping target": marshal(request{escaped, []string{"true"}}),
		"no command":      marshal(request{spec, nil}),
		"not json":        "{",
	} {
		cmd := Command(context.Background(), spec, "true")
		cmd.Env = []string{specEnv + "=" + raw}
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("%s: the init ran the command:\n%s", name, out)
		}
	}
	if _, err := os.Lstat(filepath.Join(base, "escaped")); err == nil {
		t.Error("the init created a mount point outside its root")
	}
}

// TestMountBelowTmp: a host directory shown at its own path below /tmp
// (a vendor directory reached through /tmp, say) stays visible whatever
// the order of the mounts: the build's own /tmp, and the default empty
// one, are mounted first.
func TestMountBelowTmp(t *testing.T) {
	skipIfUnavailable(t)
	host := fmt.Sprintf("/tmp/cook-sandbox-test-%d", os.Getpid()) // below the sandbox's /tmp
	if err := os.MkdirAll(host, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(host) })
	os.WriteFile(filepath.Join(host, "crate"), []byte("bitflags"), 0o644)
	tmp := t.TempDir()
	for name, mounts := range map[string][]Mount{
		"own /tmp after":  {{Kind: ReadOnly, Source: host, Target: host}, {Kind: Bind, Source: tmp, Target: "/tmp"}},
		"default /tmp":    {{Kind: ReadOnly, Source: host, Target: host}},
		"own /tmp before": {{Kind: Bind, Source: tmp, Target: "/tmp"}, {Kind: ReadOnly, Source: host, Target: host}},
	} {
		if out := run(t, Spec{Mounts: mounts}, "cat "+filepath.Join(host, "crate")); out != "bitflags" {
			t.Errorf("%s: %q, want the file below /tmp", name, out)
		}
	}
}
