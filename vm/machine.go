// Package vm boots cook's disk images in QEMU or Cloud Hypervisor, on the terminal or as a boot test waiting for serial-console milestones, and sets up host networking for Cloud Hypervisor guests.
package vm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Hypervisor names a virtual machine monitor.
type Hypervisor string

// The supported hypervisors.
const (
	QEMU            Hypervisor = "qemu"
	CloudHypervisor Hypervisor = "ch"
)

// ParseHypervisor accepts qemu, ch and cloud-hypervisor.
func ParseHypervisor(s string) (Hypervisor, error) {
	switch s {
	case "qemu", "":
		return QEMU, nil
	case "ch", "cloud-hypervisor":
		return CloudHypervisor, nil
	}
	return "", fmt.Errorf("unknown hypervisor %q (want qemu or ch)", s)
}

// NetMode is how the guest's network card is connected.
type NetMode string

// The network modes.
const (
	NetUser NetMode = "user" // QEMU user-mode networking (SLiRP) with port forwards
	NetTAP  NetMode = "tap"  // a host TAP device (see NetSetup)
	NetNone NetMode = "none" // no network card
)

// ParseNetMode accepts user, tap and none.
func ParseNetMode(s string) (NetMode, error) {
	switch NetMode(s) {
	case NetUser, NetTAP, NetNone:
		return NetMode(s), nil
	}
	return "", fmt.Errorf("unknown network mode %q (want user, tap or none)", s)
}

// Forward is a TCP port forward from the host's 127.0.0.1 to the guest.
type Forward struct {
	Host, Guest int
}

// Firmware is what the machine boots first.
type Firmware struct {
	// Code is the firmware file: OVMF.fd (QEMU -bios), OVMF_CODE.fd (QEMU
	// pflash, with Vars), or CLOUDHV.fd / hypervisor-fw (Cloud Hypervisor).
	Code string
	// Vars is a writable copy of the UEFI variable store that goes with Code
	// (QEMU pflash only). Empty means Code is a single image passed with -bios.
	Vars string
}

// Machine is a fully resolved virtual machine.
type Machine struct {
	Hypervisor Hypervisor
	// Binary is the program to run; empty means qemu-system-x86_64 or
	// cloud-hypervisor.
	Binary string

	Disk       string // the disk image as run (an overlay or a copy)
	DiskFormat string // raw (default) or qcow2

	CPUs      int // default 2
	MemoryMiB int // default 2048
	KVM       bool

	// BIOS boots QEMU with its default SeaBIOS instead of UEFI firmware.
	BIOS     bool
	Firmware Firmware

	// GUI shows a graphical display (QEMU only); otherwise there is no
	// display at all.
	GUI bool
	// Framebuffer gives a headless guest a graphics adapter all the same
	// (QEMU), as real machines have: Redox's bootloader then offers its
	// resolution menu and the kernel its graphical debug.
	Framebuffer bool

	Net      NetMode
	Forwards []Forward // NetUser
	TAP      string    // NetTAP
	MAC      string    // NetTAP; default DefaultMAC

	// SerialFile sends the serial console to a file; empty means the
	// terminal (QEMU: with the monitor multiplexed, Ctrl-A X quits).
	SerialFile string
	// SerialStdio (QEMU) puts the serial console, and nothing else, on the
	// process's standard input and output: a boot test reads it and answers
	// prompts.
	SerialStdio bool

	// NoReboot makes QEMU exit instead of rebooting (boot tests).
	NoReboot bool
}

// Defaults used when a Machine leaves a field empty.
const (
	DefaultCPUs      = 2
	DefaultMemoryMiB = 2048
	DefaultMAC       = "52:54:00:12:34:56"
	DefaultTAP       = "tap0"
)

// DefaultForwards are the user-mode port forwards of seed-system.md §4.1:
// host 8022 → guest ssh, host 8080 → guest http.
var DefaultForwards = []Forward{{8022, 22}, {8080, 80}}

// Program returns the binary the machine runs.
func (m *Machine) Program() string {
	if m.Binary != "" {
		return m.Binary
	}
	if m.Hypervisor == CloudHypervisor {
		return "cloud-hypervisor"
	}
	return "qemu-system-x86_64"
}

// Args returns the machine's command line without the program name.
func (m *Machine) Args() ([]string, error) {
	if m.Disk == "" {
		return nil, errors.New("vm: no disk image")
	}
	switch m.Hypervisor {
	case QEMU, "":
		return m.qemuArgs()
	case CloudHypervisor:
		return m.chArgs()
	}
	return nil, fmt.Errorf("vm: unknown hypervisor %q", m.Hypervisor)
}

func (m *Machine) cpus() int {
	if m.CPUs > 0 {
		return m.CPUs
	}
	return DefaultCPUs
}

func (m *Machine) memory() int {
	if m.MemoryMiB > 0 {
		return m.MemoryMiB
	}
	return DefaultMemoryMiB
}

func (m *Machine) mac() string {
	if m.MAC != "" {
		return m.MAC
	}
	return DefaultMAC
}

func (m *Machine) tap() string {
	if m.TAP != "" {
		return m.TAP
	}
	return DefaultTAP
}

func (m *Machine) diskFormat() string {
	if m.DiskFormat != "" {
		return m.DiskFormat
	}
	return "raw"
}

// qemuArgs follows seed-system.md §4.1 (HEAD): virtio-blk disk, e1000 NIC,
// no VGA when headless (so the Redox bootloader shows no mode picker).
func (m *Machine) qemuArgs() ([]string, error) {
	a := []string{"-machine", "q35"}
	if m.KVM {
		a = append(a, "-accel", "kvm", "-cpu", "host")
	} else {
		a = append(a, "-accel", "tcg", "-cpu", "max")
	}
	a = append(a, "-smp", strconv.Itoa(m.cpus()), "-m", strconv.Itoa(m.memory()))
	if !m.BIOS {
		switch {
		case m.Firmware.Code == "":
			return nil, errors.New("vm: UEFI boot needs OVMF firmware (install ovmf, pass --firmware, or boot with BIOS)")
		case m.Firmware.Vars != "":
			a = append(a,
				"-drive", "if=pflash,format=raw,readonly=on,file="+qemuOpt(m.Firmware.Code),
				"-drive", "if=pflash,format=raw,file="+qemuOpt(m.Firmware.Vars))
		default:
			a = append(a, "-bios", m.Firmware.Code)
		}
	}
	a = append(a,
		"-drive", "file="+qemuOpt(m.Disk)+",format="+m.diskFormat()+",if=none,id=disk0",
		"-device", "virtio-blk-pci,drive=disk0")
	switch m.Net {
	case NetUser, "":
		nd := "user,id=net0"
		for _, f := range m.Forwards {
			nd += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", f.Host, f.Guest)
		}
		a = append(a, "-netdev", nd, "-device", "e1000,netdev=net0")
	case NetTAP:
		a = append(a,
			"-netdev", "tap,id=net0,ifname="+m.tap()+",script=no,downscript=no",
			"-device", "e1000,netdev=net0,mac="+m.mac())
	case NetNone:
		a = append(a, "-nic", "none")
	default:
		return nil, fmt.Errorf("vm: unknown network mode %q", m.Net)
	}
	switch {
	case m.GUI:
		a = append(a, "-vga", "std", "-device", "qemu-xhci", "-device", "usb-kbd", "-device", "usb-tablet")
	case m.Framebuffer:
		a = append(a, "-vga", "std", "-display", "none")
	default:
		a = append(a, "-vga", "none", "-display", "none")
	}
	switch {
	case m.SerialStdio:
		a = append(a, "-chardev", "stdio,id=serial0,signal=off", "-serial", "chardev:serial0", "-monitor", "none")
	case m.SerialFile != "":
		a = append(a, "-serial", "file:"+m.SerialFile, "-monitor", "none")
	default:
		a = append(a, "-serial", "mon:stdio")
	}
	a = append(a, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")
	if m.NoReboot {
		a = append(a, "-no-reboot")
	}
	return a, nil
}

// chArgs follows seed-system.md §4.2.
func (m *Machine) chArgs() ([]string, error) {
	switch {
	case m.GUI:
		return nil, errors.New("vm: Cloud Hypervisor has no graphical display; use --vm qemu for --gui")
	case m.BIOS:
		return nil, errors.New("vm: Cloud Hypervisor boots firmware only; BIOS boot needs --vm qemu")
	case m.Firmware.Code == "":
		return nil, errors.New("vm: Cloud Hypervisor needs firmware (CLOUDHV.fd or hypervisor-fw); pass --firmware")
	case m.diskFormat() != "raw":
		return nil, fmt.Errorf("vm: Cloud Hypervisor runs raw disk images, not %s", m.diskFormat())
	}
	a := []string{
		"--firmware", m.Firmware.Code,
		"--disk", "path=" + m.Disk,
		"--cpus", "boot=" + strconv.Itoa(m.cpus()),
		"--memory", "size=" + strconv.Itoa(m.memory()) + "M",
		"--platform", "num_pci_segments=1",
		"--pci-segment", "pci_segment=0,mmio32_aperture_weight=4",
	}
	if m.SerialFile != "" {
		a = append(a, "--serial", "file="+m.SerialFile)
	} else {
		a = append(a, "--serial", "tty")
	}
	a = append(a, "--console", "off")
	switch m.Net {
	case NetNone:
	case NetTAP:
		a = append(a, "--net", "tap="+m.tap()+",mac="+m.mac()+",num_queues=2,queue_size=256")
	case NetUser, "":
		return nil, errors.New("vm: Cloud Hypervisor has no user-mode networking; use --net tap (see cook net setup) or --net none")
	default:
		return nil, fmt.Errorf("vm: unknown network mode %q", m.Net)
	}
	return a, nil
}

// qemuOpt escapes a value inside a QEMU option list (commas are doubled).
func qemuOpt(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// ParseMemory parses a memory size: a number of MiB, or a number with a K,
// M, G or T suffix (optionally followed by B or iB). It returns MiB.
func ParseMemory(s string) (int, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := 1.0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult, t = 1.0/1024, t[:n-1]
		case 'M':
			t = t[:n-1]
		case 'G':
			mult, t = 1024, t[:n-1]
		case 'T':
			mult, t = 1024*1024, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("memory size %q: want e.g. 2048, 512M or 2G", s)
	}
	mib := int(v * mult)
	if mib < 16 {
		return 0, fmt.Errorf("memory size %q: want at least 16 MiB", s)
	}
	return mib, nil
}

// ShellQuote renders argv as a shell command line (for --dry-run and logs).
func ShellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, s := range argv {
		q[i] = shellQuote(s)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
