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
func Prepare(ctx context.Context, image string, opts ...Option) (*Instance, error) {
	c := config{hv: QEMU, kvm: KVMAuto, overlay: true}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.net == "" {
		c.net = NetUser
		if c.hv == CloudHypervisor {
			c.net = NetNone
		}
	}
	inst := &Instance{}
	m := Machine{
		Hypervisor: c.hv, Binary: c.binary, CPUs: c.cpus, MemoryMiB: c.memory,
		GUI: c.gui, BIOS: c.bios, Net: c.net, TAP: c.tap, MAC: c.mac,
	}

	// KVM.
	if c.probe == nil {
		if c.hv == QEMU {
			// The ioctl probe, then QEMU itself with -accel kvm -cpu host.
			c.probe = func(ctx context.Context) KVMVerdict { return CachedQEMUKVM(ctx, KVMCacheFile(), m.Program()) }
		} else {
			c.probe = func(ctx context.Context) KVMVerdict { return CachedKVM(ctx, KVMCacheFile()) }
		}
	}
	if c.kvm == KVMOff {
		if c.hv == CloudHypervisor {
			return nil, fmt.Errorf("Cloud Hypervisor cannot run without KVM; drop --kvm off or use --vm qemu")
		}
	} else {
		v := c.probe(ctx)
		switch {
		case v.OK:
			m.KVM = true
		case c.hv == CloudHypervisor:
			return nil, fmt.Errorf("%w: %s; Cloud Hypervisor needs KVM (use --vm qemu, which falls back to TCG)", errNoKVM, v.Reason)
		case c.kvm == KVMOn:
			return nil, fmt.Errorf("--kvm on: %w: %s", errNoKVM, v.Reason)
		default:
			inst.Notes = append(inst.Notes, "KVM unusable ("+v.Reason+"); QEMU falls back to TCG emulation, which is much slower")
		}
	}

	// Firmware.
	if !c.bios || c.hv == CloudHypervisor {
		var fw Firmware
		var err error
		if c.hv == CloudHypervisor {
			fw, err = FindCHFirmware(c.firmware)
		} else {
			fw, err = FindOVMF(c.firmware)
		}
		if err != nil {
			return nil, err
		}
		m.Firmware = fw
	}

	// Ports.
	if m.Net == NetUser && m.Hypervisor == QEMU {
		want := c.forwards
		if want == nil {
			want = DefaultForwards
		}
		fwd, notes, err := FreeForwards(want)
		if err != nil {
			return nil, err
		}
		m.Forwards = fwd
		inst.Notes = append(inst.Notes, notes...)
	}

	// TAP must exist before Cloud Hypervisor or QEMU opens it.
	if m.Net == NetTAP && !c.dryRun {
		if _, err := net.InterfaceByName(m.tap()); err != nil {
			return nil, fmt.Errorf("TAP device %s does not exist; create it with: sudo cook net setup --tap %s", m.tap(), m.tap())
		}
	}

	// Run directory, disk and variable store.
	dir := c.runDir
	if dir == "" && !c.dryRun {
		d, err := os.MkdirTemp("", "cook-vm-")
		if err != nil {
			return nil, fmt.Errorf("run directory: %w", err)
		}
		dir, inst.removeRunDir = d, true
	}
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "cook-vm-XXXX")
	}
	inst.RunDir = dir
	overlay := c.overlay && c.hv == QEMU
	if c.dryRun {
		abs, _ := filepath.Abs(image)
		if !isFile(abs) {
			return nil, fmt.Errorf("image %s: not found (build one with cook image, or pass --image FILE)", image)
		}
		if overlay {
			m.Disk, m.DiskFormat = filepath.Join(dir, "disk.qcow2"), "qcow2"
		} else {
			m.Disk, m.DiskFormat = filepath.Join(dir, "disk.img"), "raw"
		}
		if m.Firmware.Vars != "" {
			m.Firmware.Vars = filepath.Join(dir, filepath.Base(m.Firmware.Vars))
		}
	} else {
		disk, format, err := RunDisk(ctx, image, dir, overlay)
		if err != nil {
			inst.Close()
			return nil, err
		}
		m.Disk, m.DiskFormat = disk, format
		if format == "qcow2" {
			inst.Notes = append(inst.Notes, "running "+image+" through the overlay "+disk+"; the image itself is not written")
		} else {
			inst.Notes = append(inst.Notes, "running a copy of "+image+" ("+disk+"); the image itself is not written")
		}
		if m.Firmware.Vars != "" {
			vars := filepath.Join(dir, filepath.Base(m.Firmware.Vars))
			_ = os.Remove(vars)
			if err := fsutil.CopyFile(m.Firmware.Vars, vars, 0o644); err != nil {
				inst.Close()
				return nil, fmt.Errorf("copy UEFI variable store %s: %w", m.Firmware.Vars, err)
			}
			m.Firmware.Vars = vars
		}
	}
	inst.Machine = m
	return inst, nil
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
