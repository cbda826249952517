package vm

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestNetConfigValidation(t *testing.T) {
	defer func(f func() int) { euid = f }(euid)
	euid = func() int { return 0 }
	for _, cidr := range []string{"172.16.0.0/24", "172.16.0.1", "::1/64", "10.0.0.1/31", "10.0.0.254/24"} {
		if _, err := NetSetup(context.Background(), NetConfig{CIDR: cidr, Commander: failCommander{t}}); err == nil || !strings.Contains(err.Error(), "--cidr") {
			t.Errorf("--cidr %s: err = %v", cidr, err)
		}
	}
	g, err := NetConfig{}.GuestAddress()
	if err != nil || g != "172.16.0.2" {
		t.Errorf("guest address %s, %v", g, err)
	}
}

func TestNetSetupNeedsRoot(t *testing.T) {
	defer func(f func() int) { euid = f }(euid)
	euid = func() int { return 1000 }
	_, err := NetSetup(context.Background(), NetConfig{Commander: failCommander{t}})
	if err == nil || !strings.Contains(err.Error(), "must run as root") || !strings.Contains(err.Error(), "sudo") {
		t.Errorf("err = %v", err)
	}
	if _, err := NetTeardown(context.Background(), NetConfig{Commander: failCommander{t}}); err == nil {
		t.Error("teardown ran without root")
	}
}

type failCommander struct{ t *testing.T }

func (f failCommander) Run(_ context.Context, name string, args ...string) (string, error) {
	f.t.Errorf("ran %s %v", name, args)
	return "", os.ErrPermission
}

// TestNetSetupInNamespace runs the real setup and teardown, with ip,
// iptables, nft and dnsmasq, inside a network namespace of its own (unshare
// -n), never touching the host's interfaces.
func TestNetSetupInNamespace(t *testing.T) {
	if os.Getenv("COOK_NETNS_HELPER") == "1" {
		netnsHelper(t)
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
	cmd := exec.Command("unshare", "--net", "--", os.Args[0], "-test.run=^TestNetSetupInNamespace$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "COOK_NETNS_HELPER=1", "COOK_NETNS_STATE="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("in the namespace:\n%s", out)
	if err != nil {
		t.Fatalf("namespace helper: %v", err)
	}
	if !strings.Contains(string(out), "NETNS-HELPER-DONE") {
		t.Fatal("the helper did not finish")
	}
}

func netnsHelper(t *testing.T) {
	// Safety: run only in a fresh namespace, where lo is the only interface.
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" {
		t.Fatalf("not in a fresh network namespace (interfaces %v); refusing to touch the network", ifs)
	}
	oldFwd, _ := os.ReadFile(ipForwardFile)
	t.Logf("ip_forward before: %s", strings.TrimSpace(string(oldFwd)))
	ctx := context.Background()
	state := os.Getenv("COOK_NETNS_STATE")
	sh := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	expect := func(what string, changes []string, err error, want ...string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v (changes so far %q)", what, err, changes)
		}
		t.Logf("%s: %q", what, changes)
		joined := strings.Join(changes, "\n")
		if len(want) == 0 && len(changes) != 0 {
			t.Errorf("%s: changed %q, want nothing", what, changes)
		}
		for _, w := range want {
			if !strings.Contains(joined, w) {
				t.Errorf("%s: changes lack %q", what, w)
			}
		}
	}

	firewalls := []string{}
	if _, err := exec.LookPath("iptables"); err == nil {
		firewalls = append(firewalls, "iptables")
	}
	if _, err := exec.LookPath("nft"); err == nil {
		firewalls = append(firewalls, "nft")
	}
	for _, fw := range firewalls {
		cfg := NetConfig{TAP: "cooktap0", CIDR: "172.16.0.1/24", Firewall: fw, StateDir: filepath.Join(state, fw)}
		ch, err := NetSetup(ctx, cfg)
		expect(fw+" setup", ch, err, "created TAP device cooktap0", "added address 172.16.0.1/24", "brought cooktap0 up")
		if !strings.Contains(sh("ip", "-o", "-4", "addr", "show", "dev", "cooktap0"), "172.16.0.1/24") {
			t.Error("no address on the TAP")
		}
		if fwd, _ := os.ReadFile(ipForwardFile); strings.TrimSpace(string(fwd)) != "1" {
			t.Error("forwarding not enabled")
		}
		if fw == "iptables" {
			nat := sh("iptables", "-t", "nat", "-S", "POSTROUTING")
			if !strings.Contains(nat, "-s 172.16.0.0/24 ! -o cooktap0") || !strings.Contains(nat, "MASQUERADE") {
				t.Errorf("no NAT rule:\n%s", nat)
			}
			if f := sh("iptables", "-S", "FORWARD"); strings.Count(f, "cook-net-cooktap0") != 2 {
				t.Errorf("forward rules:\n%s", f)
			}
		} else {
			if tbl := sh("nft", "list", "table", "ip", "cook-cooktap0"); !strings.Contains(tbl, "masquerade") {
				t.Errorf("nft table:\n%s", tbl)
			}
		}
		ch, err = NetSetup(ctx, cfg)
		expect(fw+" setup again", ch, err)

		if _, err := exec.LookPath("dnsmasq"); err == nil {
			cfg.DHCP = true
			ch, err = NetSetup(ctx, cfg)
			expect(fw+" setup --dhcp", ch, err, "started dnsmasq on cooktap0: guest 172.16.0.2, router 172.16.0.1")
			udp, _ := os.ReadFile("/proc/self/net/udp")
			if !strings.Contains(string(udp), ":0043 ") {
				t.Errorf("nothing listens on the DHCP port:\n%s", udp)
			}
			ch, err = NetSetup(ctx, cfg)
			expect(fw+" setup --dhcp again", ch, err)
		}

		ch, err = NetTeardown(ctx, cfg)
		want := []string{"deleted TAP device cooktap0"}
		if cfg.DHCP {
			want = append(want, "stopped dnsmasq")
		}
		if fw == "iptables" {
			want = append(want, "deleted iptables rule: -t nat -A POSTROUTING")
		} else {
			want = append(want, "deleted nft table ip cook-cooktap0")
		}
		expect(fw+" teardown", ch, err, want...)
		if _, err := exec.Command("ip", "link", "show", "dev", "cooktap0").CombinedOutput(); err == nil {
			t.Error("TAP still there after teardown")
		}
		ch, err = NetTeardown(ctx, cfg)
		expect(fw+" teardown again", ch, err)
		// Start the next round from forwarding off again.
		os.WriteFile(ipForwardFile, []byte("0\n"), 0o644)
	}
	if !t.Failed() {
		t.Log("NETNS-HELPER-DONE")
	}
}

// TestNetReportText: changes are listed one a line; with none, setup says
// what is in place and teardown that nothing of cook's is left; a failed
// run lists only what it changed.
func TestNetReportText(t *testing.T) {
	c := NetConfig{TAP: "tap9", CIDR: "10.9.0.1/24", DHCP: true}
	for _, tc := range []struct {
		rep  NetReport
		want string
	}{
		{NetReport{Action: "setup", TAP: "tap9", Changes: []string{"created tap9", "added NAT"}, config: c}, "created tap9\nadded NAT\n"},
		{NetReport{Action: "setup", TAP: "tap9", config: c}, "nothing to change: tap9 is up with 10.9.0.1/24, forwarding and NAT are in place, dnsmasq is running\n"},
		{NetReport{Action: "teardown", TAP: "tap9", config: c}, "nothing to change: no tap9, no rules and no dnsmasq of cook's\n"},
		{NetReport{Action: "setup", TAP: "tap9", Error: "no permission", config: c}, ""},
	} {
		var b strings.Builder
		if err := tc.rep.WriteText(&b); err != nil || b.String() != tc.want {
			t.Errorf("%+v: %q %v, want %q", tc.rep, b.String(), err, tc.want)
		}
	}
	if _, err := NetChange(context.Background(), "reset", c); err == nil {
		t.Error("an unknown action is accepted")
	}
}
