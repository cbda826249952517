package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/vm"
)

func init() { register(newNetCmd) }

func newNetCmd(a *app) *cobra.Command {
	var c vm.NetConfig
	cmd := &cobra.Command{
		Use:   "net setup|teardown",
		Short: "Set up or tear down host networking for Cloud Hypervisor guests (needs root)",
		Long: `Set up or tear down the host side of a Cloud Hypervisor guest's network:

  setup     creates the TAP device (owned by $SUDO_USER, so cook run --vm ch
            --net tap works without root), gives it the host address
            (--cidr, default 172.16.0.1/24), brings it up, enables IPv4
            forwarding, and adds NAT and forwarding rules (iptables, or nft
            when iptables is missing) tagged with the TAP's name. With --dhcp
            it also runs dnsmasq on the TAP, handing the guest the next
            address (172.16.0.2) with the host as router.
  teardown  stops that dnsmasq, removes exactly those rules and deletes the
            TAP device. IPv4 forwarding is left as it is.

Both are idempotent and print what they changed. Images built with
cook image --ch-static need no DHCP.`,
		Args:      exactArgs(1),
		ValidArgs: []string{"setup", "teardown"},
		RunE: func(cmd *cobra.Command, args []string) error {
			action := args[0]
			if action != "setup" && action != "teardown" {
				return usageErr(fmt.Errorf("cook net: unknown action %q (want setup or teardown)", action))
			}
			guest, err := c.GuestAddress() // validates the flags before touching anything
			if err != nil {
				return usageErr(err)
			}
			rep, err := vm.NetChange(cmd.Context(), action, c)
			if perr := a.output(rep); perr != nil {
				return perr
			}
			if err != nil {
				if a.json {
					return failed(errSilent)
				}
				return failed(err)
			}
			if action == "setup" && !a.quiet && !a.json {
				a.printf("guest: %s/%s, gateway %s; run: cook run --vm ch --net tap --tap %s\n",
					guest, strings.SplitN(c.CIDR, "/", 2)[1], strings.SplitN(c.CIDR, "/", 2)[0], c.TAP)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&c.TAP, "tap", vm.DefaultTAP, "TAP device name")
	fl.StringVar(&c.CIDR, "cidr", vm.DefaultCIDR, "host address and prefix on the TAP")
	fl.BoolVar(&c.DHCP, "dhcp", false, "setup: also run dnsmasq as a DHCP server for the guest")
	fl.StringVar(&c.DNS, "dns", "1.1.1.1", "DNS server the DHCP server announces")
	fl.StringVar(&c.Firewall, "firewall", "", "iptables or nft (default: iptables when installed)")
	fl.StringVar(&c.StateDir, "state-dir", "/run/cook", "where dnsmasq's pid and lease files go")
	return cmd
}
