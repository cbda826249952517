package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// NetConfig describes the host side of a Cloud Hypervisor guest's network
// (seed-system.md §4.2): a TAP device with the host's address, IPv4
// forwarding, NAT of the guest subnet, and optionally a DHCP server.
type NetConfig struct {
	TAP  string // default DefaultTAP
	CIDR string // host address and prefix, default "172.16.0.1/24"
	// DHCP runs dnsmasq on the TAP, handing the guest the next address
	// after the host's (172.16.0.2), the host as router and DNS as server.
	DHCP bool
	DNS  string // default "1.1.1.1"
	// Owner may open the TAP without root (default $SUDO_USER, if any).
	Owner string
	// Firewall is "iptables", "nft", or "" for iptables when installed,
	// else nft.
	Firewall string
	// StateDir holds dnsmasq's pid and lease files (default /run/cook).
	StateDir string
	// Commander runs ip, iptables, nft and dnsmasq (default: exec).
	Commander Commander
}

// DefaultCIDR is the host side of the Cloud Hypervisor TAP network.
const DefaultCIDR = "172.16.0.1/24"

// Commander runs a host command and returns its standard output.
type Commander interface {
	Run(ctx context.Context, name string, args ...string) (string, error)
}

// ExecCommander runs commands with os/exec.
type ExecCommander struct{}

// Run runs name with args; a failure carries the command's stderr.
func (ExecCommander) Run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}

// euid is the effective user id; a variable for tests.
var euid = os.Geteuid

// ipForwardFile is the IPv4 forwarding switch (per network namespace).
var ipForwardFile = "/proc/sys/net/ipv4/ip_forward"

type hostNet struct {
	NetConfig
	host   netip.Prefix // host address with prefix
	subnet netip.Prefix // masked
	guest  netip.Addr
	mask   string
}

func resolveNet(c NetConfig) (*hostNet, error) {
	if c.TAP == "" {
		c.TAP = DefaultTAP
	}
	if c.CIDR == "" {
		c.CIDR = DefaultCIDR
	}
	if c.DNS == "" {
		c.DNS = "1.1.1.1"
	}
	if c.Owner == "" {
		c.Owner = os.Getenv("SUDO_USER")
	}
	if c.StateDir == "" {
		c.StateDir = "/run/cook"
	}
	if c.Commander == nil {
		c.Commander = ExecCommander{}
	}
	if c.Firewall == "" {
		c.Firewall = "nft"
		if _, err := exec.LookPath("iptables"); err == nil {
			c.Firewall = "iptables"
		}
	}
	if c.Firewall != "iptables" && c.Firewall != "nft" {
		return nil, fmt.Errorf("firewall %q: want iptables or nft", c.Firewall)
	}
	if len(c.TAP) > 15 || strings.ContainsAny(c.TAP, "/ \t") {
		return nil, fmt.Errorf("--tap %q: not a valid interface name", c.TAP)
	}
	p, err := netip.ParsePrefix(c.CIDR)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return nil, fmt.Errorf("--cidr %q: want an IPv4 host address with a prefix of at most /30, like %s", c.CIDR, DefaultCIDR)
	}
	h := &hostNet{NetConfig: c, host: p, subnet: p.Masked()}
	if p.Addr() == h.subnet.Addr() {
		return nil, fmt.Errorf("--cidr %q: that is the network address; give the host's address, like %s", c.CIDR, DefaultCIDR)
	}
	h.guest = p.Addr().Next()
	if !h.subnet.Contains(h.guest) || h.guest == lastAddr(h.subnet) {
		return nil, fmt.Errorf("--cidr %q: no room for a guest address after the host's", c.CIDR)
	}
	m := net.CIDRMask(p.Bits(), 32)
	h.mask = net.IP(m).String()
	return h, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func requireRoot(what string) error {
	if euid() != 0 {
		return fmt.Errorf("cook net %s must run as root (it changes network devices and firewall rules): run it with sudo", what)
	}
	return nil
}

// GuestAddress returns the address NetSetup's DHCP server hands out and
// the one a static image should use (the host's address plus one).
func (c NetConfig) GuestAddress() (string, error) {
	h, err := resolveNet(c)
	if err != nil {
		return "", err
	}
	return h.guest.String(), nil
}

// NetSetup creates what Cloud Hypervisor guests need on the host. It is
// idempotent and returns one line per change it made (none when everything
// was already in place).
func NetSetup(ctx context.Context, c NetConfig) ([]string, error) {
	if err := requireRoot("setup"); err != nil {
		return nil, err
	}
	h, err := resolveNet(c)
	if err != nil {
		return nil, err
	}
	var changes []string
	run := func(name string, args ...string) (string, error) {
		return h.Commander.Run(ctx, name, args...)
	}

	// TAP device.
	if _, err := run("ip", "link", "show", "dev", h.TAP); err != nil {
		args := []string{"tuntap", "add", "dev", h.TAP, "mode", "tap"}
		if h.Owner != "" {
			args = append(args, "user", h.Owner)
		}
		if _, err := run("ip", args...); err != nil {
			return changes, err
		}
		msg := "created TAP device " + h.TAP
		if h.Owner != "" {
			msg += " (owned by " + h.Owner + ")"
		}
		changes = append(changes, msg)
	}
	// Host address.
	out, err := run("ip", "-o", "-4", "addr", "show", "dev", h.TAP)
	if err != nil {
		return changes, err
	}
	if !hasAddr(out, h.host.String()) {
		if _, err := run("ip", "addr", "add", h.host.String(), "dev", h.TAP); err != nil {
			return changes, err
		}
		changes = append(changes, "added address "+h.host.String()+" to "+h.TAP)
	}
	// Link up.
	out, err = run("ip", "-o", "link", "show", "dev", h.TAP)
	if err != nil {
		return changes, err
	}
	if !linkUp(out) {
		if _, err := run("ip", "link", "set", "dev", h.TAP, "up"); err != nil {
			return changes, err
		}
		changes = append(changes, "brought "+h.TAP+" up")
	}
	// Forwarding.
	fwd, err := os.ReadFile(ipForwardFile)
	if err != nil {
		return changes, fmt.Errorf("read %s: %w", ipForwardFile, err)
	}
	if strings.TrimSpace(string(fwd)) != "1" {
		if err := os.WriteFile(ipForwardFile, []byte("1\n"), 0o644); err != nil {
			return changes, fmt.Errorf("enable IPv4 forwarding: %w", err)
		}
		changes = append(changes, "enabled IPv4 forwarding (net.ipv4.ip_forward=1)")
	}
	// NAT and forwarding rules.
	ch, err := h.firewallSetup(ctx)
	changes = append(changes, ch...)
	if err != nil {
		return changes, err
	}
	// DHCP.
	if h.DHCP {
		ch, err := h.dhcpSetup(ctx)
		changes = append(changes, ch...)
		if err != nil {
			return changes, err
		}
	}
	return changes, nil
}

// NetTeardown removes what NetSetup created: the DHCP server, the firewall
// rules and the TAP device. IPv4 forwarding is left as it is, since other
// things on the host may rely on it. It is idempotent.
func NetTeardown(ctx context.Context, c NetConfig) ([]string, error) {
	if err := requireRoot("teardown"); err != nil {
		return nil, err
	}
	h, err := resolveNet(c)
	if err != nil {
		return nil, err
	}
	var changes []string
	if msg, err := h.dhcpStop(); err != nil {
		return changes, err
	} else if msg != "" {
		changes = append(changes, msg)
	}
	ch, err := h.firewallTeardown(ctx)
	changes = append(changes, ch...)
	if err != nil {
		return changes, err
	}
	if _, err := h.Commander.Run(ctx, "ip", "link", "show", "dev", h.TAP); err == nil {
		if _, err := h.Commander.Run(ctx, "ip", "link", "delete", "dev", h.TAP); err != nil {
			return changes, err
		}
		changes = append(changes, "deleted TAP device "+h.TAP)
	}
	return changes, nil
}

func hasAddr(ipAddrOut, cidr string) bool {
	for _, f := range strings.Fields(ipAddrOut) {
		if f == cidr {
			return true
		}
	}
	return false
}

// linkUp reports whether `ip -o link show` lists the UP flag (the TAP has
// no carrier until a VM opens it, so the operational state stays DOWN).
func linkUp(ipLinkOut string) bool {
	i := strings.IndexByte(ipLinkOut, '<')
	j := strings.IndexByte(ipLinkOut, '>')
	if i < 0 || j < i {
		return false
	}
	for _, f := range strings.Split(ipLinkOut[i+1:j], ",") {
		if f == "UP" {
			return true
		}
	}
	return false
}

// iptablesRules are NetSetup's rules: table, chain, rule. Each carries a
// comment naming the TAP so teardown removes exactly these.
func (h *hostNet) iptablesRules() [][]string {
	tag := []string{"-m", "comment", "--comment", "cook-net-" + h.TAP}
	rule := func(table, chain string, r ...string) []string {
		return append(append([]string{table, chain}, r...), tag...)
	}
	return [][]string{
		rule("nat", "POSTROUTING", "-s", h.subnet.String(), "!", "-o", h.TAP, "-j", "MASQUERADE"),
		rule("filter", "FORWARD", "-i", h.TAP, "-j", "ACCEPT"),
		rule("filter", "FORWARD", "-o", h.TAP, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
	}
}

func (h *hostNet) nftTable() string { return "cook-" + h.TAP }

func (h *hostNet) firewallSetup(ctx context.Context) ([]string, error) {
	var changes []string
	if h.Firewall == "nft" {
		if _, err := h.Commander.Run(ctx, "nft", "list", "table", "ip", h.nftTable()); err == nil {
			return nil, nil
		}
		script := fmt.Sprintf(`table ip %[1]s {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[2]s oifname != "%[3]s" masquerade
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "%[3]s" accept
		oifname "%[3]s" ct state related,established accept
	}
}
`, h.nftTable(), h.subnet, h.TAP)
		f, err := os.CreateTemp("", "cook-nft-*.conf")
		if err != nil {
			return nil, err
		}
		defer os.Remove(f.Name())
		if _, err := f.WriteString(script); err != nil {
			f.Close()
			return nil, err
		}
		f.Close()
		if _, err := h.Commander.Run(ctx, "nft", "-f", f.Name()); err != nil {
			return nil, err
		}
		return []string{fmt.Sprintf("added nft table ip %s: masquerade %s, forward to and from %s", h.nftTable(), h.subnet, h.TAP)}, nil
	}
	for _, r := range h.iptablesRules() {
		check := append([]string{"-w", "-t", r[0], "-C", r[1]}, r[2:]...)
		if _, err := h.Commander.Run(ctx, "iptables", check...); err == nil {
			continue
		}
		add := append([]string{"-w", "-t", r[0], "-A", r[1]}, r[2:]...)
		if _, err := h.Commander.Run(ctx, "iptables", add...); err != nil {
			return changes, err
		}
		changes = append(changes, "added iptables rule: -t "+r[0]+" -A "+r[1]+" "+strings.Join(r[2:], " "))
	}
	return changes, nil
}

func (h *hostNet) firewallTeardown(ctx context.Context) ([]string, error) {
	var changes []string
	if _, err := h.Commander.Run(ctx, "nft", "list", "table", "ip", h.nftTable()); err == nil {
		if _, err := h.Commander.Run(ctx, "nft", "delete", "table", "ip", h.nftTable()); err != nil {
			return changes, err
		}
		changes = append(changes, "deleted nft table ip "+h.nftTable())
	}
	if _, err := exec.LookPath("iptables"); err != nil && h.Firewall == "nft" {
		return changes, nil
	}
	for _, r := range h.iptablesRules() {
		check := append([]string{"-w", "-t", r[0], "-C", r[1]}, r[2:]...)
		if _, err := h.Commander.Run(ctx, "iptables", check...); err != nil {
			continue
		}
		del := append([]string{"-w", "-t", r[0], "-D", r[1]}, r[2:]...)
		if _, err := h.Commander.Run(ctx, "iptables", del...); err != nil {
			return changes, err
		}
		changes = append(changes, "deleted iptables rule: -t "+r[0]+" -A "+r[1]+" "+strings.Join(r[2:], " "))
	}
	return changes, nil
}

func (h *hostNet) pidFile() string {
	return filepath.Join(h.StateDir, "dnsmasq-"+h.TAP+".pid")
}

// dnsmasqPid returns the pid of the running dnsmasq NetSetup started, or 0.
func (h *hostNet) dnsmasqPid() int {
	b, err := os.ReadFile(h.pidFile())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "dnsmasq" {
		return 0
	}
	return pid
}

func (h *hostNet) dhcpSetup(ctx context.Context) ([]string, error) {
	if h.dnsmasqPid() != 0 {
		return nil, nil
	}
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		return nil, errors.New("--dhcp needs dnsmasq (Debian: apt-get install dnsmasq-base)")
	}
	if err := os.MkdirAll(h.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("dnsmasq state directory: %w", err)
	}
	g := h.guest.String()
	_, err := h.Commander.Run(ctx, "dnsmasq",
		"--conf-file=/dev/null",
		"--port=0", // DHCP only, no DNS server
		"--interface="+h.TAP, "--bind-interfaces", "--except-interface=lo",
		"--dhcp-range="+g+","+g+","+h.mask+",12h",
		"--dhcp-option=option:router,"+h.host.Addr().String(),
		"--dhcp-option=option:dns-server,"+h.DNS,
		"--dhcp-leasefile="+filepath.Join(h.StateDir, "dnsmasq-"+h.TAP+".leases"),
		"--pid-file="+h.pidFile(),
	)
	if err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("started dnsmasq on %s: guest %s, router %s, DNS %s (pid file %s)",
		h.TAP, g, h.host.Addr(), h.DNS, h.pidFile())}, nil
}

func (h *hostNet) dhcpStop() (string, error) {
	pid := h.dnsmasqPid()
	if pid == 0 {
		return "", nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && err != syscall.ESRCH {
		return "", fmt.Errorf("stop dnsmasq (pid %d): %w", pid, err)
	}
	_ = os.Remove(h.pidFile())
	return fmt.Sprintf("stopped dnsmasq (pid %d) on %s", pid, h.TAP), nil
}

// NetReport is what a host network setup or teardown changed, as cook net
// prints it.
type NetReport struct {
	Action  string   `json:"action"` // "setup" or "teardown"
	TAP     string   `json:"tap"`
	Changes []string `json:"changes"`
	Error   string   `json:"error,omitempty"`
	config  NetConfig
}

// NetChange runs NetSetup or NetTeardown (action "setup" or "teardown") and
// reports what it changed; the error is also in the report.
func NetChange(ctx context.Context, action string, c NetConfig) (*NetReport, error) {
	var changes []string
	var err error
	switch action {
	case "setup":
		changes, err = NetSetup(ctx, c)
	case "teardown":
		changes, err = NetTeardown(ctx, c)
	default:
		return nil, fmt.Errorf("unknown action %q (want setup or teardown)", action)
	}
	r := &NetReport{Action: action, TAP: c.TAP, Changes: append([]string{}, changes...), config: c}
	if err != nil {
		r.Error = err.Error()
	}
	return r, err
}

// WriteText prints each change, or, when there were none, that everything
// was already in place (or gone).
func (r *NetReport) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, ch := range r.Changes {
		b.WriteString(ch + "\n")
	}
	switch {
	case len(r.Changes) > 0 || r.Error != "":
	case r.Action == "setup":
		fmt.Fprintf(&b, "nothing to change: %s is up with %s, forwarding and NAT are in place", r.TAP, r.config.CIDR)
		if r.config.DHCP {
			b.WriteString(", dnsmasq is running")
		}
		b.WriteString("\n")
	default:
		fmt.Fprintf(&b, "nothing to change: no %s, no rules and no dnsmasq of cook's\n", r.TAP)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
