package vm

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func kvmWorks(context.Context) KVMVerdict  { return KVMVerdict{OK: true, Reason: "stub"} }
func kvmBroken(context.Context) KVMVerdict { return KVMVerdict{Reason: "stub says no"} }

func writeImage(t *testing.T) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "harddrive.img")
	b := make([]byte, 4<<20)
	copy(b[1<<20:], "PRISTINE")
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return img
}

func fakeFirmware(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("firmware"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrepareQEMUFallsBackToTCG(t *testing.T) {
	img := writeImage(t)
	fw := fakeFirmware(t, "OVMF.fd")
	inst, err := Prepare(context.Background(), img, WithKVMProbe(kvmBroken), WithFirmware(fw),
		WithNet(NetNone), WithRunDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if inst.Machine.KVM {
		t.Error("KVM used although the probe said no")
	}
	if !strings.Contains(strings.Join(inst.Notes, "\n"), "falls back to TCG") {
		t.Errorf("no TCG note in %q", inst.Notes)
	}
	argv, err := inst.Command()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(argv, " "), "-accel tcg") {
		t.Errorf("not TCG: %q", argv)
	}

	if _, err := Prepare(context.Background(), img, WithKVMProbe(kvmBroken), WithFirmware(fw), WithKVM(KVMOn), WithDryRun(true)); err == nil || !strings.Contains(err.Error(), "stub says no") {
		t.Errorf("--kvm on without KVM: err = %v", err)
	}
	inst, err = Prepare(context.Background(), img, WithKVMProbe(kvmWorks), WithFirmware(fw), WithDryRun(true))
	if err != nil || !inst.Machine.KVM {
		t.Errorf("KVM not used although it works: %v", err)
	}
}

func TestPrepareCloudHypervisorRefusesWithoutKVM(t *testing.T) {
	img := writeImage(t)
	fw := fakeFirmware(t, "CLOUDHV.fd")
	_, err := Prepare(context.Background(), img, WithHypervisor(CloudHypervisor), WithKVMProbe(kvmBroken), WithFirmware(fw))
	if !errors.Is(err, errNoKVM) || !strings.Contains(err.Error(), "stub says no") {
		t.Errorf("err = %v, want the probe's reason", err)
	}
	_, err = Prepare(context.Background(), img, WithHypervisor(CloudHypervisor), WithKVM(KVMOff), WithFirmware(fw))
	if err == nil {
		t.Error("Cloud Hypervisor accepted --kvm off")
	}
}

func TestPrepareSkipsBusyPorts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	img := writeImage(t)
	inst, err := Prepare(context.Background(), img, WithKVMProbe(kvmBroken), WithFirmware(fakeFirmware(t, "OVMF.fd")),
		WithForwards(Forward{busy, 22}), WithDryRun(true))
	if err != nil {
		t.Fatal(err)
	}
	got := inst.Machine.Forwards
	if len(got) != 1 || got[0].Host == busy || got[0].Guest != 22 {
		t.Errorf("forwards = %+v, want host port moved off %d", got, busy)
	}
	if !strings.Contains(strings.Join(inst.Notes, "\n"), strconv.Itoa(busy)+" is busy") {
		t.Errorf("no note about the busy port in %q", inst.Notes)
	}
}

func TestRunDiskOverlayKeepsImagePristine(t *testing.T) {
	if _, err := exec.LookPath("qemu-io"); err != nil {
		t.Skip("qemu-io not installed")
	}
	img := writeImage(t)
	before, _ := os.ReadFile(img)
	disk, format, err := RunDisk(context.Background(), img, t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	if format != "qcow2" {
		t.Fatalf("format %s, want qcow2", format)
	}
	out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", "write -P 0x55 1M 4k", disk).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
	after, _ := os.ReadFile(img)
	if !bytes.Equal(before, after) {
		t.Error("writing to the overlay changed the image")
	}
	out, _ = exec.Command("qemu-io", "-f", "qcow2", "-r", "-c", "read -P 0x55 1M 4k", disk).CombinedOutput()
	if !strings.Contains(string(out), "read 4096/4096") {
		t.Errorf("overlay did not keep the write: %s", out)
	}
}

func TestRunDiskCopy(t *testing.T) {
	img := writeImage(t)
	disk, format, err := RunDisk(context.Background(), img, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if format != "raw" {
		t.Fatalf("format %s", format)
	}
	a, _ := os.ReadFile(img)
	b, _ := os.ReadFile(disk)
	if !bytes.Equal(a, b) {
		t.Error("copy differs from the image")
	}
	if _, _, err := RunDisk(context.Background(), filepath.Join(t.TempDir(), "missing.img"), t.TempDir(), false); err == nil || !strings.Contains(err.Error(), "cook image") {
		t.Errorf("missing image: err = %v", err)
	}
}

func TestFindOVMFPair(t *testing.T) {
	dir := t.TempDir()
	code := filepath.Join(dir, "OVMF_CODE_4M.fd")
	vars := filepath.Join(dir, "OVMF_VARS_4M.fd")
	os.WriteFile(code, []byte("c"), 0o644)
	os.WriteFile(vars, []byte("v"), 0o644)
	fw, err := FindOVMF(code)
	if err != nil || fw.Code != code || fw.Vars != vars {
		t.Errorf("FindOVMF = %+v, %v", fw, err)
	}
	if _, err := FindOVMF(filepath.Join(dir, "nope.fd")); err == nil {
		t.Error("missing firmware accepted")
	}
}

func TestProbeKVMNotADevice(t *testing.T) {
	old := kvmDevice
	defer func() { kvmDevice = old }()
	kvmDevice = "/dev/null"
	v := ProbeKVM(context.Background(), 0)
	if v.OK || v.Reason == "" {
		t.Errorf("/dev/null probed as KVM: %+v", v)
	}
	kvmDevice = filepath.Join(t.TempDir(), "kvm")
	if v := ProbeKVM(context.Background(), 0); v.OK || !strings.Contains(v.Reason, "cannot open") {
		t.Errorf("missing device: %+v", v)
	}
}

func TestProbeQEMUUnderTCG(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	// The same probe cook runs with -accel kvm, here with TCG: it proves the
	// probe kernel and the exit-status check work.
	v := ProbeQEMU(context.Background(), qemu, false, 60*time.Second)
	if !v.OK {
		t.Fatalf("TCG probe: %+v", v)
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		v := ProbeQEMU(context.Background(), qemu, true, 60*time.Second)
		if v.OK || !strings.Contains(v.Reason, "-accel kvm") {
			t.Errorf("KVM probe without /dev/kvm: %+v", v)
		}
		t.Logf("KVM probe here: %s", v.Reason)
	}
}

// TestRunDirIn: the run directory is a new one inside the parent asked for
// (created when missing), and Close removes it but not the parent.
func TestRunDirIn(t *testing.T) {
	img := writeImage(t)
	parent := filepath.Join(t.TempDir(), "work", "tmp")
	inst, err := Prepare(context.Background(), img, WithKVMProbe(kvmBroken), WithFirmware(fakeFirmware(t, "OVMF.fd")),
		WithNet(NetNone), WithRunDirIn(parent))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(inst.RunDir) != parent {
		t.Fatalf("run directory %s is not in %s", inst.RunDir, parent)
	}
	if _, err := os.Stat(inst.RunDir); err != nil {
		t.Fatal(err)
	}
	if err := inst.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(inst.RunDir); !os.IsNotExist(err) {
		t.Errorf("run directory left after Close: %v", err)
	}
	if _, err := os.Stat(parent); err != nil {
		t.Errorf("parent removed: %v", err)
	}
}
