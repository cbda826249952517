package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/internal/efitest"
)

func fakeImage(t *testing.T, work string) string {
	t.Helper()
	dir := filepath.Join(work, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "harddrive.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return img
}

func fakeFile(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("fw"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunDryRun(t *testing.T) {
	work := t.TempDir()
	img := fakeImage(t, work)
	fw := fakeFile(t, "OVMF.fd")
	out, errs, code := cook(t, "--work="+work, "run", "--dry-run", "--kvm=off", "--net=none", "--firmware="+fw, "--cpus=3", "--memory=1G")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"qemu-system-x86_64 ", "-accel tcg", "-smp 3", "-m 1024", "-bios " + fw, ",format=qcow2,", "-nic none", "-serial mon:stdio"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(work, "tmp")); err == nil {
		t.Error("--dry-run wrote to the work directory")
	}

	out, errs, code = cook(t, "--work="+work, "--json", "run", "--dry-run", "--kvm=off", "--gui", "--image="+img, "--firmware="+fw, "--forward=18022:22")
	var j struct{ Command []string }
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	cmdline := strings.Join(j.Command, " ")
	if !strings.Contains(cmdline, "-vga std") || !strings.Contains(cmdline, "hostfwd=tcp:127.0.0.1:") || !strings.Contains(cmdline, "-:22") {
		t.Errorf("gui/user-net command: %s", cmdline)
	}
}

func TestRunUsageErrors(t *testing.T) {
	work := t.TempDir()
	fakeImage(t, work)
	for _, args := range [][]string{
		{"run", "--vm=vbox"},
		{"run", "--net=bridge"},
		{"run", "--memory=lots"},
		{"run", "--kvm=maybe"},
		{"run", "--cpus=0"},
		{"run", "--forward=22"},
		{"run", "extra-arg"},
		{"boot-test", "--timeout=0s"},
	} {
		_, errs, code := cook(t, append([]string{"--work=" + work}, args...)...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs)
		}
	}
}

func TestRunMissingImage(t *testing.T) {
	_, errs, code := cook(t, "--work="+t.TempDir(), "run", "--dry-run", "--kvm=off", "--firmware="+fakeFile(t, "OVMF.fd"))
	if code != 1 || !strings.Contains(errs, "harddrive.img") || !strings.Contains(errs, "cook image") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestRunCloudHypervisorNeedsKVM(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err == nil {
		t.Skip("this host has /dev/kvm; the probe might pass")
	}
	work := t.TempDir()
	fakeImage(t, work)
	_, errs, code := cook(t, "--work="+work, "run", "--vm=ch", "--dry-run", "--firmware="+fakeFile(t, "CLOUDHV.fd"))
	if code != 1 || !strings.Contains(errs, "KVM") || !strings.Contains(errs, "/dev/kvm") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestNetCommandErrors(t *testing.T) {
	if _, _, code := cook(t, "net", "frobnicate"); code != 2 {
		t.Errorf("unknown action: exit %d", code)
	}
	if _, errs, code := cook(t, "net", "setup", "--cidr=172.16.0.0/24"); code != 2 || !strings.Contains(errs, "network address") {
		t.Errorf("bad cidr: exit %d %s", code, errs)
	}
	if os.Geteuid() != 0 {
		if _, errs, code := cook(t, "net", "setup"); code != 1 || !strings.Contains(errs, "root") {
			t.Errorf("not root: exit %d %s", code, errs)
		}
	}
}

// TestBootTestRealQEMU runs cook boot-test against a real QEMU (TCG) boot
// of the efitest UEFI image: it passes when the marker appears, and fails
// with the missed milestone and the log's tail when it does not.
func TestBootTestRealQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("boots real VMs (about a minute under TCG)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	work := t.TempDir()
	img := efitest.Image(t, efitest.Program{Lines: []string{"COOK-BOOT-TEST-MARKER"}})
	out, errs, code := cook(t, "--work="+work, "boot-test", "--image="+img, "--kvm=off", "--cpus=1", "--memory=256M",
		"--timeout=3m", "--expect=COOK-BOOT-TEST-MARKER")
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "COOK-BOOT-TEST-MARKER") {
		t.Errorf("serial not echoed:\n%s", out)
	}
	if !strings.Contains(errs, "boot test passed") {
		t.Errorf("stderr: %s", errs)
	}
	log, err := os.ReadFile(filepath.Join(work, "logs", "boot-test-qemu.log"))
	if err != nil || !bytes.Contains(log, []byte("COOK-BOOT-TEST-MARKER")) {
		t.Errorf("serial log: %v %q", err, log)
	}

	// A program that prints something else and hangs: the marker never
	// comes and the test times out.
	hang := efitest.Image(t, efitest.Program{Lines: []string{"COOK-SOMETHING-ELSE"}, Halt: true})
	out, errs, code = cook(t, "--work="+work, "boot-test", "--image="+hang, "--kvm=off", "--cpus=1", "--memory=256M",
		"--timeout=40s", "--expect=COOK-SOMETHING-ELSE", "--expect=COOK-BOOT-TEST-MARKER")
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{`milestone "COOK-BOOT-TEST-MARKER" not reached: timed out after 40s`, `reached: "COOK-SOMETHING-ELSE"`, "| COOK-SOMETHING-ELSE", "boot-test-qemu.log"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	t.Logf("failure report:\n%s", errs)
}
