package vm

import (
	"fmt"
	"strconv"
	"strings"
)

// Spec is a machine as a user writes it, in text: the hypervisor (qemu,
// ch), network (user, tap, none; "" for the hypervisor's default), CPUs,
// memory (2048M, 2G), KVM (auto, on, off), firmware file, BIOS boot, TAP
// device and MAC, and HOST:GUEST port forwards.
type Spec struct {
	Hypervisor, Net string
	CPUs            int
	Memory, KVM     string
	Firmware        string
	BIOS            bool
	TAP, MAC        string
	Forwards        []string
}

// Options checks the spec and turns it into Prepare's options; errors name
// the flag at fault.
func (s Spec) Options() ([]Option, error) {
	hv, err := ParseHypervisor(s.Hypervisor)
	if err != nil {
		return nil, fmt.Errorf("--vm: %w", err)
	}
	opts := []Option{WithHypervisor(hv), WithBIOS(s.BIOS), WithTAP(s.TAP, s.MAC)}
	if s.Net != "" {
		n, err := ParseNetMode(s.Net)
		if err != nil {
			return nil, fmt.Errorf("--net: %w", err)
		}
		opts = append(opts, WithNet(n))
	}
	if s.CPUs < 1 {
		return nil, fmt.Errorf("--cpus %d: want at least 1", s.CPUs)
	}
	opts = append(opts, WithCPUs(s.CPUs))
	mib, err := ParseMemory(s.Memory)
	if err != nil {
		return nil, fmt.Errorf("--memory: %w", err)
	}
	opts = append(opts, WithMemory(mib))
	k, err := ParseKVMMode(s.KVM)
	if err != nil {
		return nil, fmt.Errorf("--kvm: %w", err)
	}
	opts = append(opts, WithKVM(k))
	if s.Firmware != "" {
		opts = append(opts, WithFirmware(s.Firmware))
	}
	if len(s.Forwards) > 0 {
		var fw []Forward
		for _, f := range s.Forwards {
			h, g, ok := strings.Cut(f, ":")
			hp, err1 := strconv.Atoi(h)
			gp, err2 := strconv.Atoi(g)
			if !ok || err1 != nil || err2 != nil || hp < 1 || hp > 65535 || gp < 1 || gp > 65535 {
				return nil, fmt.Errorf("--forward %q: want HOST:GUEST port numbers, like 8022:22", f)
			}
			fw = append(fw, Forward{Host: hp, Guest: gp})
		}
		opts = append(opts, WithForwards(fw...))
	}
	return opts, nil
}
