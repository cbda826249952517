package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/redox-cook/cook/internal/fsutil"
)

// KVMMode says whether to use KVM.
type KVMMode string

// The KVM modes.
const (
	KVMAuto KVMMode = "auto" // use KVM when it really works
	KVMOn   KVMMode = "on"   // require KVM
	KVMOff  KVMMode = "off"  // never use KVM
)

// ParseKVMMode accepts auto, on and off.
func ParseKVMMode(s string) (KVMMode, error) {
	switch KVMMode(s) {
	case KVMAuto, KVMOn, KVMOff:
		return KVMMode(s), nil
	case "":
		return KVMAuto, nil
	}
	return "", fmt.Errorf("unknown KVM mode %q (want auto, on or off)", s)
}

// config collects Prepare's options.
type config struct {
	hv       Hypervisor
	image    string
	binary   string
	gui      bool
	bios     bool
	net      NetMode
	forwards []Forward
	tap, mac string
	cpus     int
	memory   int
	kvm      KVMMode
	firmware string
	runDir   string
	runIn    string // parent of a new run directory
	dryRun   bool
	overlay  bool
	probe    func(context.Context) KVMVerdict
}

// Option configures Prepare.
type Option func(*config) error

// WithHypervisor picks QEMU (default) or Cloud Hypervisor.
func WithHypervisor(h Hypervisor) Option {
	return func(c *config) error {
		if h != QEMU && h != CloudHypervisor {
			return fmt.Errorf("unknown hypervisor %q", h)
		}
		c.hv = h
		return nil
	}
}

// WithBinary runs path instead of qemu-system-x86_64 / cloud-hypervisor.
func WithBinary(path string) Option { return func(c *config) error { c.binary = path; return nil } }

// WithGUI shows a graphical display (QEMU only).
func WithGUI(on bool) Option { return func(c *config) error { c.gui = on; return nil } }

// WithBIOS boots QEMU with SeaBIOS instead of UEFI.
func WithBIOS(on bool) Option { return func(c *config) error { c.bios = on; return nil } }

// WithNet sets the network mode (default: user for QEMU, none for Cloud
// Hypervisor).
func WithNet(m NetMode) Option {
	return func(c *config) error {
		if _, err := ParseNetMode(string(m)); err != nil {
			return err
		}
		c.net = m
		return nil
	}
}

// WithForwards sets the user-mode port forwards (default DefaultForwards).
func WithForwards(f ...Forward) Option {
	return func(c *config) error { c.forwards = f; return nil }
}

// WithTAP names the TAP device and guest MAC address for NetTAP.
func WithTAP(tap, mac string) Option {
	return func(c *config) error { c.tap, c.mac = tap, mac; return nil }
}

// WithCPUs sets the number of virtual CPUs.
func WithCPUs(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("--cpus %d: want at least 1", n)
		}
		c.cpus = n
		return nil
	}
}

// WithMemory sets the guest memory in MiB.
func WithMemory(mib int) Option {
	return func(c *config) error {
		if mib < 16 {
			return fmt.Errorf("memory %d MiB: want at least 16", mib)
		}
		c.memory = mib
		return nil
	}
}

// WithKVM sets the KVM mode (default auto).
func WithKVM(m KVMMode) Option {
	return func(c *config) error {
		if _, err := ParseKVMMode(string(m)); err != nil {
			return err
		}
		c.kvm = m
		return nil
	}
}

// WithKVMProbe replaces the KVM probe (default: CachedQEMUKVM for QEMU,
// CachedKVM for Cloud Hypervisor, both with KVMCacheFile).
func WithKVMProbe(p func(context.Context) KVMVerdict) Option {
	return func(c *config) error { c.probe = p; return nil }
}

// WithFirmware uses the given firmware file instead of searching the host.
func WithFirmware(path string) Option { return func(c *config) error { c.firmware = path; return nil } }

// WithRunDir puts the overlay or copy of the image and the UEFI variable
// store in dir (default: a new temporary directory, removed by Close).
func WithRunDir(dir string) Option { return func(c *config) error { c.runDir = dir; return nil } }

// WithRunDirIn makes the run directory a new one inside parent (created if
// need be), removed by Close: on the image's filesystem, copies of it can
// be reflinks.
func WithRunDirIn(parent string) Option {
	return func(c *config) error { c.runIn = parent; return nil }
}

// WithDryRun resolves everything but writes nothing: no overlay, no copy.
func WithDryRun(on bool) Option { return func(c *config) error { c.dryRun = on; return nil } }

// Instance is a prepared virtual machine.
type Instance struct {
	Machine Machine
	// Notes say what Prepare decided for the user: TCG fallback, moved
	// ports, where the overlay is.
	Notes  []string
	RunDir string

	removeRunDir bool
}

// Prepare resolves opts into a runnable Instance for image.
//
// Running a machine has three layers:
//
//   - [Machine] is a fully resolved virtual machine; [Machine.Args] turns it
//     into the command line of seed-system.md §4 (pure, golden-tested).
//   - Prepare resolves user options into a Machine: it finds firmware,
//     probes whether KVM really works ([ProbeKVM]), skips busy host ports, and
//     puts the image behind a qcow2 overlay or a copy so the built image stays
//     pristine.
//   - [Instance.Run] runs it with the serial console on the terminal, and
//     [Instance.BootTest] runs it headless, captures the serial console to a
//     log (echoing it live) and waits for ordered [Milestone]s.
//
// Host networking for Cloud Hypervisor guests (TAP, forwarding, NAT, DHCP)
// lives in [NetSetup] and [NetTeardown].
func Prepare(ctx context.Context, image string, opts ...Option) (*Instance, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	p := &preparation{c: c, inst: &Instance{}, m: Machine{
		Hypervisor: c.hv, Binary: c.binary, CPUs: c.cpus, MemoryMiB: c.memory,
		GUI: c.gui, BIOS: c.bios, Net: c.net, TAP: c.tap, MAC: c.mac,
	}}
	if err := p.kvm(ctx); err != nil {
		return nil, err
	}
	if err := p.firmware(); err != nil {
		return nil, err
	}
	if err := p.ports(); err != nil {
		return nil, err
	}
	if err := p.checkTAP(); err != nil {
		return nil, err
	}
	if err := p.runDir(); err != nil {
		return nil, err
	}
	if c.dryRun {
		err = p.planDisk(image)
	} else {
		err = p.disk(ctx, image)
	}
	if err != nil {
		return nil, err
	}
	p.inst.Machine = p.m
	return p.inst, nil
}

// newConfig applies opts to the defaults.
func newConfig(opts []Option) (config, error) {
	c := config{hv: QEMU, kvm: KVMAuto, overlay: true}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return config{}, err
		}
	}
	if c.net == "" {
		c.net = NetUser
		if c.hv == CloudHypervisor {
			c.net = NetNone
		}
	}
	return c, nil
}

// preparation carries the options, the machine resolved so far and the
// instance's notes through Prepare's steps.
type preparation struct {
	c    config
	m    Machine
	inst *Instance
}

// kvm decides whether the machine uses KVM: it probes unless --kvm off,
// and falls back to TCG (with a note) only for QEMU in auto mode.
func (p *preparation) kvm(ctx context.Context) error {
	c := &p.c
	if c.probe == nil {
		if c.hv == QEMU {
			// The ioctl probe, then QEMU itself with -accel kvm -cpu host.
			c.probe = func(ctx context.Context) KVMVerdict { return CachedQEMUKVM(ctx, KVMCacheFile(), p.m.Program()) }
		} else {
			c.probe = func(ctx context.Context) KVMVerdict { return CachedKVM(ctx, KVMCacheFile()) }
		}
	}
	if c.kvm == KVMOff {
		if c.hv == CloudHypervisor {
			return fmt.Errorf("Cloud Hypervisor cannot run without KVM; drop --kvm off or use --vm qemu")
		}
		return nil
	}
	v := c.probe(ctx)
	switch {
	case v.OK:
		p.m.KVM = true
	case c.hv == CloudHypervisor:
		return fmt.Errorf("%w: %s; Cloud Hypervisor needs KVM (use --vm qemu, which falls back to TCG)", errNoKVM, v.Reason)
	case c.kvm == KVMOn:
		return fmt.Errorf("--kvm on: %w: %s", errNoKVM, v.Reason)
	default:
		p.inst.Notes = append(p.inst.Notes, "KVM unusable ("+v.Reason+"); QEMU falls back to TCG emulation, which is much slower")
	}
	return nil
}

// firmware finds the UEFI firmware (none for QEMU with SeaBIOS).
func (p *preparation) firmware() error {
	if p.c.bios && p.c.hv != CloudHypervisor {
		return nil
	}
	var fw Firmware
	var err error
	if p.c.hv == CloudHypervisor {
		fw, err = FindCHFirmware(p.c.firmware)
	} else {
		fw, err = FindOVMF(p.c.firmware)
	}
	if err != nil {
		return err
	}
	p.m.Firmware = fw
	return nil
}

// ports moves QEMU's user-mode port forwards off busy host ports.
func (p *preparation) ports() error {
	if p.m.Net != NetUser || p.m.Hypervisor != QEMU {
		return nil
	}
	want := p.c.forwards
	if want == nil {
		want = DefaultForwards
	}
	fwd, notes, err := FreeForwards(want)
	if err != nil {
		return err
	}
	p.m.Forwards = fwd
	p.inst.Notes = append(p.inst.Notes, notes...)
	return nil
}

// checkTAP requires the TAP device to exist before Cloud Hypervisor or
// QEMU opens it.
func (p *preparation) checkTAP() error {
	if p.m.Net != NetTAP || p.c.dryRun {
		return nil
	}
	if _, err := net.InterfaceByName(p.m.tap()); err != nil {
		return fmt.Errorf("TAP device %s does not exist; create it with: sudo cook net setup --tap %s", p.m.tap(), p.m.tap())
	}
	return nil
}

// runDir picks the run directory: the one asked for, else a new temporary
// one (Close removes it), else, in a dry run, a placeholder path.
func (p *preparation) runDir() error {
	dir := p.c.runDir
	if dir == "" && !p.c.dryRun {
		if p.c.runIn != "" {
			if err := os.MkdirAll(p.c.runIn, 0o755); err != nil {
				return fmt.Errorf("run directory: %w", err)
			}
		}
		d, err := os.MkdirTemp(p.c.runIn, "cook-vm-")
		if err != nil {
			return fmt.Errorf("run directory: %w", err)
		}
		dir, p.inst.removeRunDir = d, true
	}
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "cook-vm-XXXX")
	}
	p.inst.RunDir = dir
	return nil
}

// overlay reports whether the disk is a qcow2 overlay (QEMU) rather than a
// copy of the image.
func (p *preparation) overlay() bool { return p.c.overlay && p.c.hv == QEMU }

// planDisk names the disk and variable store in the run directory without
// writing them (a dry run).
func (p *preparation) planDisk(image string) error {
	abs, _ := filepath.Abs(image)
	if !isFile(abs) {
		return fmt.Errorf("image %s: not found (build one with cook image, or pass --image FILE)", image)
	}
	dir := p.inst.RunDir
	if p.overlay() {
		p.m.Disk, p.m.DiskFormat = filepath.Join(dir, "disk.qcow2"), "qcow2"
	} else {
		p.m.Disk, p.m.DiskFormat = filepath.Join(dir, "disk.img"), "raw"
	}
	if p.m.Firmware.Vars != "" {
		p.m.Firmware.Vars = filepath.Join(dir, filepath.Base(p.m.Firmware.Vars))
	}
	return nil
}

// disk puts the image behind an overlay or a copy in the run directory,
// and copies the UEFI variable store there, so the run writes neither
// the image nor the firmware's files.
func (p *preparation) disk(ctx context.Context, image string) error {
	dir := p.inst.RunDir
	disk, format, err := RunDisk(ctx, image, dir, p.overlay())
	if err != nil {
		p.inst.Close()
		return err
	}
	p.m.Disk, p.m.DiskFormat = disk, format
	if format == "qcow2" {
		p.inst.Notes = append(p.inst.Notes, "running "+image+" through the overlay "+disk+"; the image itself is not written")
	} else {
		p.inst.Notes = append(p.inst.Notes, "running a copy of "+image+" ("+disk+"); the image itself is not written")
	}
	if p.m.Firmware.Vars != "" {
		vars := filepath.Join(dir, filepath.Base(p.m.Firmware.Vars))
		_ = os.Remove(vars)
		if err := fsutil.CopyFile(p.m.Firmware.Vars, vars, 0o644); err != nil {
			p.inst.Close()
			return fmt.Errorf("copy UEFI variable store %s: %w", p.m.Firmware.Vars, err)
		}
		p.m.Firmware.Vars = vars
	}
	return nil
}

// Command returns the full command line, program first.
func (i *Instance) Command() ([]string, error) {
	args, err := i.Machine.Args()
	if err != nil {
		return nil, err
	}
	return append([]string{i.Machine.Program()}, args...), nil
}

// Close removes the run directory when Prepare created it.
func (i *Instance) Close() error {
	if i.removeRunDir && i.RunDir != "" {
		return os.RemoveAll(i.RunDir)
	}
	return nil
}

// Run boots the machine with the serial console (or display) on the given
// terminal streams and waits for it to exit. Cancelling ctx stops it.
func (i *Instance) Run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	argv, err := i.Command()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("%s: %w (install %s)", argv[0], err, packageHint(i.Machine.Hypervisor))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	return nil
}

func packageHint(h Hypervisor) string {
	if h == CloudHypervisor {
		return "cloud-hypervisor from https://github.com/cloud-hypervisor/cloud-hypervisor/releases"
	}
	return "qemu-system-x86"
}
