package image

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// NetMode says how the image's network comes up at boot.
type NetMode string

// Network modes.
const (
	// NetDefault leaves the config's network files and units alone
	// (upstream: DHCP through 10_dhcpd.service).
	NetDefault NetMode = ""
	// NetDHCP is DHCP only: the config's files, plus nothing.
	NetDHCP NetMode = "dhcp"
	// NetStatic writes the address files and replaces the DHCP unit with
	// one that sets the static address.
	NetStatic NetMode = "static"
	// NetAuto keeps DHCP and applies the static address when no lease
	// comes within about 30 seconds.
	NetAuto NetMode = "auto"
	// NetNone starts no network stack and no DHCP client.
	NetNone NetMode = "none"
)

// ParseNetMode parses a --net value.
func ParseNetMode(s string) (NetMode, error) {
	switch m := NetMode(s); m {
	case NetDHCP, NetStatic, NetAuto, NetNone:
		return m, nil
	}
	return "", fmt.Errorf("network mode %q: want auto, dhcp, static or none", s)
}

// The Cloud Hypervisor TAP defaults (cook net setup; the seed system's
// 172.16.0.0/24 with the host on .1).
var (
	CHAddress = netip.MustParsePrefix("172.16.0.2/24")
	CHGateway = netip.MustParseAddr("172.16.0.1")
	CHDNS     = netip.MustParseAddr("1.1.1.1")
)

// Network is the network setup baked into an image.
type Network struct {
	Mode    NetMode
	Address netip.Prefix // static address with prefix length (static, auto)
	Gateway netip.Addr
	DNS     netip.Addr
}

// CloudHypervisorStatic is --ch-static: the static address on Cloud
// Hypervisor's TAP network.
func CloudHypervisorStatic() Network {
	return Network{Mode: NetStatic, Address: CHAddress, Gateway: CHGateway, DNS: CHDNS}
}

// Validate checks that static and auto modes have an IPv4 address, gateway and DNS server.
func (n Network) Validate() error {
	switch n.Mode {
	case NetDefault, NetDHCP, NetNone:
		return nil
	case NetStatic, NetAuto:
	default:
		return fmt.Errorf("network mode %q: want auto, dhcp, static or none", n.Mode)
	}
	if !n.Address.IsValid() || !n.Address.Addr().Is4() {
		return fmt.Errorf("--net %s needs an IPv4 address with a prefix length (--ip 172.16.0.2/24)", n.Mode)
	}
	if !n.Gateway.IsValid() || !n.Gateway.Is4() {
		return fmt.Errorf("--net %s needs an IPv4 gateway (--gateway 172.16.0.1)", n.Mode)
	}
	if !n.DNS.IsValid() || !n.DNS.Is4() {
		return fmt.Errorf("--net %s needs an IPv4 DNS server (--dns 1.1.1.1)", n.Mode)
	}
	return nil
}

// Unit and file paths the network modes write (image-formats.md §5).
const (
	dhcpdUnit       = "/etc/init.d/10_dhcpd.service" // overrides /usr/lib/init.d/10_dhcpd.service
	smolnetdUnit    = "/etc/init.d/10_smolnetd.service"
	fallbackUnit    = "/etc/init.d/11_netcfg_fallback.service"
	fallbackScript  = "/usr/lib/cook/netcfg-fallback.ion"
	staticConfigDir = "/etc/net/cloud-hypervisor"
)

func mode(m uint32) *uint32 { return &m }

// files returns the [[files]] entries (post-install, so they win over
// packages) that set the network up.
func (n Network) files() []File {
	f := func(p, data string, m uint32) File {
		return File{Path: p, Data: data, Mode: mode(m), Postinstall: true}
	}
	switch n.Mode {
	case NetStatic:
		return append(n.addrFiles(f), f(dhcpdUnit, n.staticUnit(), 0o644))
	case NetAuto:
		// DHCP stays; a second unit waits for a lease and applies the
		// static address when none came.
		return append(n.addrFiles(f),
			f(fallbackScript, n.fallbackScript(), 0o755),
			f(fallbackUnit, fallbackUnitText, 0o644))
	case NetNone:
		return []File{
			f(smolnetdUnit, disabledUnit("network stack disabled by cook image --net none"), 0o644),
			f(dhcpdUnit, disabledUnit("DHCP disabled by cook image --net none"), 0o644),
		}
	}
	return nil
}

// addrFiles are /etc/net/{ip,ip_subnet,ip_router,dns} (netstack reads
// ip_router for the default route, relibc reads dns) and the same address
// under /etc/net/cloud-hypervisor/ for the seed system's tools.
func (n Network) addrFiles(f func(string, string, uint32) File) []File {
	ip, gw, dns := n.Address.Addr().String(), n.Gateway.String(), n.DNS.String()
	mask := net.IP(net.CIDRMask(n.Address.Bits(), 32)).String()
	return []File{
		f("/etc/net/ip", ip+"\n", 0o644),
		f("/etc/net/ip_subnet", mask+"\n", 0o644),
		f("/etc/net/ip_router", gw+"\n", 0o644),
		f("/etc/net/dns", dns+"\n", 0o644),
		f(staticConfigDir+"/ip", ip+"\n", 0o644),
		f(staticConfigDir+"/prefix", fmt.Sprintf("%d\n", n.Address.Bits()), 0o644),
		f(staticConfigDir+"/gateway", gw+"\n", 0o644),
		f(staticConfigDir+"/dns", dns+"\n", 0o644),
	}
}

// staticUnit replaces the DHCP client: a oneshot that writes the address
// and resolver into netstack's netcfg scheme. The default route comes from
// /etc/net/ip_router when netstack starts.
func (n Network) staticUnit() string {
	cmds := n.netcfgCommands()
	return fmt.Sprintf(`# Written by cook image --net static: a static address instead of DHCP.
[unit]
description = "Static network configuration (%s via %s)"
requires_weak = ["10_smolnetd.service"]

[service]
cmd = "ion"
args = ["-c", %q]
type = "oneshot"
`, n.Address, n.Gateway, strings.Join(cmds, "; "))
}

func (n Network) netcfgCommands() []string {
	return []string{
		fmt.Sprintf("echo %s > /scheme/netcfg/ifaces/eth0/addr/set", n.Address),
		fmt.Sprintf("echo %s > /scheme/netcfg/resolv/nameserver", n.DNS),
	}
}

// fallbackScript polls eth0's address for about 30 seconds and applies the
// static address when DHCP gave none (a lease is an address other than
// netstack's 0.0.0.0 placeholder).
func (n Network) fallbackScript() string {
	var b strings.Builder
	b.WriteString(`# Written by cook image --net auto: apply the static address when DHCP gives no lease.
let tries = 0
while test $tries -lt 30
    let addr = "$(cat /scheme/netcfg/ifaces/eth0/addr/list ^> /dev/null)"
    if matches "$addr" '[1-9][0-9]*\.[0-9]+\.[0-9]+\.[0-9]+'
        echo "netcfg-fallback: DHCP address $addr"
        exit 0
    end
    sleep 1
    let tries += 1
end
echo "netcfg-fallback: no DHCP lease, using the static address"
`)
	for _, c := range n.netcfgCommands() {
		b.WriteString(c + "\n")
	}
	fmt.Fprintf(&b, "echo default via %s > /scheme/netcfg/route/add\n", n.Gateway)
	return b.String()
}

const fallbackUnitText = `# Written by cook image --net auto: static fallback when DHCP gives no lease.
[unit]
description = "Static network fallback"
requires_weak = ["10_smolnetd.service"]

[service]
cmd = "ion"
args = ["` + fallbackScript + `"]
type = "oneshot_async"
`

func disabledUnit(why string) string {
	return fmt.Sprintf(`# Written by cook image --net none.
[unit]
description = %q

[service]
cmd = "true"
type = "oneshot"
`, why)
}

// NetworkSpec is a network at boot as a user writes it: a mode (auto, dhcp,
// static, none; "" for the config's), Cloud Hypervisor's static defaults,
// and an address, gateway and DNS server in text.
type NetworkSpec struct {
	Mode            string
	CloudHypervisor bool // static, with Cloud Hypervisor's TAP defaults
	Address         string
	Gateway, DNS    string
}

// Parse checks the spec and turns it into a Network: CloudHypervisor is
// static mode with CloudHypervisorStatic's addresses, which auto mode also
// falls back to; an address, gateway or DNS server goes with static or auto.
func (s NetworkSpec) Parse() (Network, error) {
	n := Network{}
	if s.Mode != "" {
		m, err := ParseNetMode(s.Mode)
		if err != nil {
			return n, fmt.Errorf("--net: %w", err)
		}
		n.Mode = m
	}
	if s.CloudHypervisor {
		if n.Mode != NetDefault && n.Mode != NetStatic {
			return n, fmt.Errorf("--ch-static is --net static; it cannot go with --net %s", n.Mode)
		}
		n = CloudHypervisorStatic()
	}
	if n.Mode == NetAuto {
		// The fallback defaults to Cloud Hypervisor's TAP address.
		ch := CloudHypervisorStatic()
		n.Address, n.Gateway, n.DNS = ch.Address, ch.Gateway, ch.DNS
	}
	if (s.Address != "" || s.Gateway != "" || s.DNS != "") && n.Mode != NetStatic && n.Mode != NetAuto {
		return n, errors.New("--ip, --gateway and --dns go with --net static, --net auto or --ch-static")
	}
	if s.Address != "" {
		p, err := netip.ParsePrefix(s.Address)
		if err != nil {
			return n, fmt.Errorf("--ip %q: want an address with a prefix length, like 172.16.0.2/24", s.Address)
		}
		n.Address = p
	}
	for _, x := range []struct {
		flag, val string
		dst       *netip.Addr
	}{{"--gateway", s.Gateway, &n.Gateway}, {"--dns", s.DNS, &n.DNS}} {
		if x.val == "" {
			continue
		}
		ad, err := netip.ParseAddr(x.val)
		if err != nil {
			return n, fmt.Errorf("%s %q: want an IPv4 address", x.flag, x.val)
		}
		*x.dst = ad
	}
	return n, n.Validate()
}
