package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/vm"
)

// chStandIn records its arguments and plays the serial log in $STANDIN_LOG
// into the file named by --serial file=PATH, then exits.
const chStandIn = `#!/bin/sh
printf '%s\n' "$@" > "$STANDIN_ARGS"
for a in "$@"; do case "$a" in file=*) serial=${a#file=};; esac; done
cat "$STANDIN_LOG" >> "$serial"
`

// TestBootTestCloudHypervisorCLI drives cook boot-test --vm ch against a
// stand-in cloud-hypervisor on PATH (Cloud Hypervisor cannot run here), with
// the KVM probe stubbed to succeed.
func TestBootTestCloudHypervisorCLI(t *testing.T) {
	vmTestOptions = []vm.Option{vm.WithKVMProbe(func(context.Context) vm.KVMVerdict { return vm.KVMVerdict{OK: true} })}
	defer func() { vmTestOptions = nil }()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "cloud-hypervisor"), []byte(chStandIn), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	args := filepath.Join(t.TempDir(), "args")
	t.Setenv("STANDIN_ARGS", args)
	serial := filepath.Join(t.TempDir(), "serial")
	t.Setenv("STANDIN_LOG", serial)
	work := t.TempDir()
	fakeImage(t, work)
	fw := fakeFile(t, "CLOUDHV.fd")

	os.WriteFile(serial, []byte("Redox OS Bootloader\r\nRedox OS starting\r\ninit: Transitioning from initfs\r\nredox login: "), 0o644)
	out, errs, code := cook(t, "--work="+work, "boot-test", "--vm=ch", "--firmware="+fw, "--timeout=30s")
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "boot test passed") || !strings.Contains(errs, "login prompt") {
		t.Errorf("stderr: %s", errs)
	}
	got, _ := os.ReadFile(args)
	for _, want := range []string{"--firmware\n" + fw + "\n", "--serial\nfile=" + filepath.Join(work, "logs", "boot-test-ch.log") + "\n", "--console\noff\n", "--disk\npath=" + work + "/tmp/cook-vm-"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("arguments lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "--net") {
		t.Errorf("network card without --net tap:\n%s", got)
	}

	// The guest stops before init: exit 1 naming init, with the tail.
	os.WriteFile(serial, []byte("Redox OS Bootloader\r\nRedox OS starting\r\nkernel panic: no initfs\r\n"), 0o644)
	out, errs, code = cook(t, "--work="+work, "--json", "boot-test", "--vm=ch", "--firmware="+fw, "--timeout=30s")
	var res vm.BootResult
	if code != 1 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errs)
	}
	if res.Passed || res.Missed != "init" || !strings.Contains(res.Reason, "exited") || len(res.Tail) == 0 || res.Tail[len(res.Tail)-1] != "kernel panic: no initfs" {
		t.Errorf("result %+v", res)
	}
	if _, err := os.Stat(filepath.Join(work, "tmp")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(work, "tmp"))
		if len(entries) != 0 {
			t.Errorf("run directories left behind: %v", entries)
		}
	}
}
