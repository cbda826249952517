package vm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redox-cook/cook/internal/efitest"
)

// chStandIn is a stand-in for cloud-hypervisor: it records its arguments,
// plays back a serial log into the --serial file=PATH it was given, then
// either stays up (like a booted VM) or exits.
const chStandIn = `#!/bin/sh
printf '%s\n' "$@" > "$STANDIN_ARGS"
serial=
for a in "$@"; do case "$a" in file=*) serial=${a#file=};; esac; done
[ -n "$serial" ] || { echo "stand-in: no --serial file=" >&2; exit 3; }
sleep 300 &
child=$!
echo $child > "$STANDIN_ARGS.child"
while IFS= read -r line || [ -n "$line" ]; do printf '%s\r\n' "$line" >> "$serial"; sleep 0.02; done < "$STANDIN_PLAYBACK"
[ "$STANDIN_EXIT" = 1 ] && { kill $child; echo "stand-in: guest powered off" >&2; exit 0; }
wait
`

// redoxSerial is what a Redox boot prints on the serial console, abridged.
const redoxSerial = `Redox OS Bootloader 1.0.0 on x86_64/UEFI
Redox OS starting...
kernel::arch::x86_64::start:INFO -- Redox OS starting...
init: Transitioning from initfs to rootfs
Boot Complete
 ########## Redox OS ##########
 # Login with the following:  #
 # 'user'                      #
 # 'root':'password'           #
 ##############################

redox login: `

func standIn(t *testing.T, playback string, exit bool) (bin, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	bin = filepath.Join(dir, "cloud-hypervisor")
	if err := os.WriteFile(bin, []byte(chStandIn), 0o755); err != nil {
		t.Fatal(err)
	}
	pb := filepath.Join(dir, "playback.log")
	if err := os.WriteFile(pb, []byte(playback), 0o644); err != nil {
		t.Fatal(err)
	}
	argsFile = filepath.Join(dir, "args")
	t.Setenv("STANDIN_ARGS", argsFile)
	t.Setenv("STANDIN_PLAYBACK", pb)
	if exit {
		t.Setenv("STANDIN_EXIT", "1")
	} else {
		t.Setenv("STANDIN_EXIT", "0")
	}
	return bin, argsFile
}

func prepareCH(t *testing.T, bin string, opts ...Option) *Instance {
	t.Helper()
	img := writeImage(t)
	opts = append([]Option{WithHypervisor(CloudHypervisor), WithBinary(bin), WithKVMProbe(kvmWorks),
		WithFirmware(fakeFirmware(t, "CLOUDHV.fd")), WithRunDir(t.TempDir())}, opts...)
	inst, err := Prepare(context.Background(), img, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	return inst
}

func TestBootTestCloudHypervisorStandIn(t *testing.T) {
	bin, argsFile := standIn(t, redoxSerial, false)
	inst := prepareCH(t, bin, WithCPUs(4))
	log := filepath.Join(t.TempDir(), "logs", "boot-test.log")
	var echo bytes.Buffer
	res, err := inst.BootTest(context.Background(), BootTestOptions{Log: log, Echo: &echo, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed {
		t.Fatalf("boot test failed: %v", res.Error())
	}
	var names []string
	for _, r := range res.Reached {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "bootloader,kernel,init,login prompt" {
		t.Errorf("reached %s", got)
	}
	if !strings.Contains(echo.String(), "Boot Complete") {
		t.Errorf("serial not echoed live: %q", echo.String())
	}
	logged, _ := os.ReadFile(log)
	if !bytes.Contains(logged, []byte("redox login:")) {
		t.Errorf("serial log lacks the prompt: %q", logged)
	}
	args, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--firmware", inst.Machine.Firmware.Code, "--disk", "path=" + inst.Machine.Disk,
		"--cpus", "boot=4", "--memory", "size=2048M", "--platform", "num_pci_segments=1",
		"--pci-segment", "pci_segment=0,mmio32_aperture_weight=4", "--serial", "file=" + log, "--console", "off"}
	if got := strings.Fields(string(args)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("stand-in got\n%q\nwant\n%q", got, want)
	}
	// The image was copied, not run in place.
	if inst.Machine.DiskFormat != "raw" || !strings.HasPrefix(inst.Machine.Disk, inst.RunDir) {
		t.Errorf("disk %s (%s) is not a copy in the run dir", inst.Machine.Disk, inst.Machine.DiskFormat)
	}
	// The VM's whole process group was stopped.
	assertGone(t, argsFile+".child")
}

func TestBootTestCloudHypervisorStandInWithNetwork(t *testing.T) {
	if _, err := os.Stat("/sys/class/net/lo"); err != nil {
		t.Skip("no /sys/class/net")
	}
	bin, argsFile := standIn(t, redoxSerial, true)
	// "lo" stands in for the TAP device: Prepare only checks that it exists.
	inst := prepareCH(t, bin, WithNet(NetTAP), WithTAP("lo", "52:54:00:00:00:01"))
	res, err := inst.BootTest(context.Background(), BootTestOptions{Log: filepath.Join(t.TempDir(), "serial.log"), Timeout: 30 * time.Second})
	if err != nil || !res.Passed {
		t.Fatalf("err %v, result %v", err, res.Error())
	}
	args, _ := os.ReadFile(argsFile)
	if !strings.Contains(string(args), "--net\ntap=lo,mac=52:54:00:00:00:01,num_queues=2,queue_size=256\n") {
		t.Errorf("no --net in %q", args)
	}
}

func TestBootTestMissedMilestone(t *testing.T) {
	// The kernel starts but init never finishes; the VM stays up until the
	// timeout.
	bin, argsFile := standIn(t, "Redox OS Bootloader 1.0\nRedox OS starting...\npanicked at 'init failed'\n", false)
	inst := prepareCH(t, bin)
	start := time.Now()
	res, err := inst.BootTest(context.Background(), BootTestOptions{Log: filepath.Join(t.TempDir(), "serial.log"), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed {
		t.Fatal("passed without init and login")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s with a 2s timeout", d)
	}
	msg := res.Error().Error()
	for _, want := range []string{"milestone init not reached", "timed out after 2s", "reached: bootloader, kernel", "| panicked at 'init failed'"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, msg)
		}
	}
	assertGone(t, argsFile+".child")
}

func TestBootTestVMExitsEarly(t *testing.T) {
	bin, _ := standIn(t, "Redox OS Bootloader 1.0\n", true)
	inst := prepareCH(t, bin)
	res, err := inst.BootTest(context.Background(), BootTestOptions{Log: filepath.Join(t.TempDir(), "serial.log"), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed || res.Missed != "kernel" || !strings.Contains(res.Reason, "exited") || !strings.Contains(res.Reason, "guest powered off") {
		t.Errorf("result %+v", res)
	}
}

func TestBootTestOrder(t *testing.T) {
	// The login prompt before the kernel does not count.
	bin, _ := standIn(t, "login:\nRedox OS Bootloader\nRedox OS starting\nBoot Complete\n", true)
	inst := prepareCH(t, bin)
	res, err := inst.BootTest(context.Background(), BootTestOptions{Log: filepath.Join(t.TempDir(), "serial.log"), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed || res.Missed != "login prompt" {
		t.Errorf("result %+v", res)
	}
}

func assertGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("stand-in child pid: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for i := 0; i < 50; i++ {
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("the VM's child %d outlived the boot test", pid)
}

// realQEMU returns a prepared QEMU instance for a real efitest image, or
// skips the test.
func realQEMU(t *testing.T, p efitest.Program) *Instance {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a real VM (about 10-30 s under TCG)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	if _, err := FindOVMF(""); err != nil {
		t.Skip(err)
	}
	img := efitest.Image(t, p)
	before, _ := os.ReadFile(img)
	t.Cleanup(func() {
		after, _ := os.ReadFile(img)
		if !bytes.Equal(before, after) {
			t.Error("the boot changed the image")
		}
	})
	// --kvm off: KVM is broken or absent on the test machines (feasibility §6).
	inst, err := Prepare(context.Background(), img, WithKVM(KVMOff), WithNet(NetNone), WithCPUs(1), WithMemory(256), WithRunDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	return inst
}

func TestRealQEMUBootPasses(t *testing.T) {
	inst := realQEMU(t, efitest.Program{Lines: []string{"COOK-EFITEST: hello from UEFI"}})
	res, err := inst.BootTest(context.Background(), BootTestOptions{
		Log:        filepath.Join(t.TempDir(), "serial.log"),
		Milestones: append([]Milestone{{Name: "firmware", Patterns: []string{"BdsDxe"}}}, ExpectMilestones("COOK-EFITEST: hello")...),
		Timeout:    3 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed {
		t.Fatal(res.Error())
	}
	t.Logf("marker after %s", res.Reached[len(res.Reached)-1].After)
}

func TestRealQEMUBootFailsWhenMarkerMissing(t *testing.T) {
	// The program prints its line and halts: the expected marker never
	// comes, and the VM stays up until the timeout.
	inst := realQEMU(t, efitest.Program{Lines: []string{"COOK-EFITEST: something else"}, Halt: true})
	start := time.Now()
	res, err := inst.BootTest(context.Background(), BootTestOptions{
		Log:        filepath.Join(t.TempDir(), "serial.log"),
		Milestones: ExpectMilestones("COOK-EFITEST: something", "NEVER-PRINTED"),
		Timeout:    45 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed {
		t.Fatal("passed without the marker")
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("took %s with a 45s timeout", d)
	}
	msg := res.Error().Error()
	t.Log(msg)
	for _, want := range []string{`milestone "NEVER-PRINTED" not reached`, "timed out after 45s", "| COOK-EFITEST: something else"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, msg)
		}
	}
}

// nopCloser is a console that records what is typed on it.
type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// TestConsoleWatchFlood: a guest that floods the serial console holds the
// watcher to a bounded window of it, and milestones and prompts split
// across reads are still found, in order, each prompt answered once.
func TestConsoleWatchFlood(t *testing.T) {
	log := filepath.Join(t.TempDir(), "serial.log")
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var typed bytes.Buffer
	run := &vmRun{start: time.Now(), console: nopCloser{&typed}}
	o := BootTestOptions{Log: log}.withDefaults()
	w, err := watchConsole(log, o, run, &BootResult{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	flood := bytes.Repeat([]byte("kernel::debug: all is well, nothing to see here\r\n"), 200000) // ~10 MiB
	for i, part := range []string{
		"login: too early\r\nRedox OS Boot", "loader 1.0\r\n", string(flood),
		"Arrow keys and enter select mod", "e\r\n", "Redox OS st", "arting...\r\n", string(flood),
		"Arrow keys and enter select mode again\r\n", "init: Transitioning from initfs\r\n", string(flood),
		"redox log", "in: ",
	} {
		if _, err := out.WriteString(part); err != nil {
			t.Fatal(err)
		}
		done := w.scan()
		if len(w.seen) > w.keep {
			t.Fatalf("after part %d the watcher holds %d bytes of the log, more than %d", i, len(w.seen), w.keep)
		}
		if done != (i == 12) {
			t.Fatalf("after part %d: done %v, reached %v", i, done, w.res.Reached)
		}
		if answered := typed.Len() > 0; answered != (i >= 4) {
			t.Fatalf("after part %d: typed %q", i, typed.String())
		}
	}
	var names []string
	for _, r := range w.res.Reached {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "bootloader,kernel,init,login prompt" {
		t.Errorf("reached %s", got)
	}
	if typed.String() != "\r" {
		t.Errorf("typed %q, want one Enter", typed.String())
	}
	if tail := w.logTail(3); strings.Join(tail, "|") != "kernel::debug: all is well, nothing to see here|kernel::debug: all is well, nothing to see here|redox login:" {
		t.Errorf("tail %q", tail)
	}
}

// TestBootResultTailEscaped: a failed boot shows the serial log's last
// lines, which the guest wrote; their control characters are escaped.
func TestBootResultTailEscaped(t *testing.T) {
	r := &BootResult{Missed: "login", Reason: "timed out", Log: "serial.log",
		Tail: []string{"kernel: ok", "\x1b[2J\x1b]0;pwned\a"}}
	msg := r.Error().Error()
	if strings.ContainsAny(msg, "\x1b\a") || !strings.Contains(msg, `  | \x1b[2J\x1b]0;pwned\a`) {
		t.Errorf("failure message %q", msg)
	}
}

// TestBootTestLogBusy: a second boot test writing the serial log a first
// one is still writing fails at once (it would read the first's milestones
// as its own); with its own log it runs.
func TestBootTestLogBusy(t *testing.T) {
	bin, _ := standIn(t, "Redox OS Bootloader 1.0\n", false)
	first, second := prepareCH(t, bin), prepareCH(t, bin)
	log := filepath.Join(t.TempDir(), "serial.log")
	done := make(chan struct{})
	go func() {
		defer close(done)
		first.BootTest(context.Background(), BootTestOptions{Log: log, Timeout: 3 * time.Second})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for { // the first has started once its log exists
		if _, err := os.Stat(log); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := second.BootTest(context.Background(), BootTestOptions{Log: log, Timeout: time.Second})
	if !errors.Is(err, ErrLogBusy) {
		t.Errorf("second boot test on the same log: %v, want ErrLogBusy", err)
	}
	<-done
	if _, err := second.BootTest(context.Background(), BootTestOptions{Log: log, Timeout: 500 * time.Millisecond}); err != nil {
		t.Errorf("boot test once the log is free: %v", err)
	}
}
