package main

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNetCLIInNamespace runs cook net setup and teardown for real inside a
// network namespace of its own (unshare -n), never touching the host's
// interfaces.
func TestNetCLIInNamespace(t *testing.T) {
	if os.Getenv("COOK_NETNS_CLI_HELPER") == "1" {
		netCLIHelper(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace with a TAP device")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	cmd := exec.Command("unshare", "--net", "--", os.Args[0], "-test.run=^TestNetCLIInNamespace$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "COOK_NETNS_CLI_HELPER=1", "COOK_NETNS_STATE="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("in the namespace:\n%s", out)
	if err != nil || !strings.Contains(string(out), "NETNS-CLI-HELPER-DONE") {
		t.Fatalf("namespace helper: %v", err)
	}
}

func netCLIHelper(t *testing.T) {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" {
		t.Fatalf("not in a fresh network namespace (interfaces %v); refusing to touch the network", ifs)
	}
	state := "--state-dir=" + os.Getenv("COOK_NETNS_STATE")
	out, errs, code := cook(t, "net", "setup", "--tap=cooktap1", "--cidr=10.99.0.1/24", state)
	if code != 0 || !strings.Contains(out, "created TAP device cooktap1") || !strings.Contains(out, "guest: 10.99.0.2/24, gateway 10.99.0.1") {
		t.Errorf("setup: %d\n%s\n%s", code, out, errs)
	}
	t.Logf("setup:\n%s", out)
	out, errs, code = cook(t, "net", "setup", "--tap=cooktap1", "--cidr=10.99.0.1/24", state)
	if code != 0 || !strings.HasPrefix(out, "nothing to change") {
		t.Errorf("setup again: %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = cook(t, "--json", "net", "teardown", "--tap=cooktap1", "--cidr=10.99.0.1/24", state)
	if code != 0 || !strings.Contains(out, `"deleted TAP device cooktap1"`) {
		t.Errorf("teardown: %d\n%s\n%s", code, out, errs)
	}
	out, errs, code = cook(t, "net", "teardown", "--tap=cooktap1", "--cidr=10.99.0.1/24", state)
	if code != 0 || !strings.HasPrefix(out, "nothing to change") {
		t.Errorf("teardown again: %d\n%s\n%s", code, out, errs)
	}
	if !t.Failed() {
		t.Log("NETNS-CLI-HELPER-DONE")
	}
}
