package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/vm"
	"github.com/redox-cook/cook/workdir"
)

func init() { register(newRunCmd) }

// vmFlags are the flags cook run and cook boot-test share.
type vmFlags struct {
	hv       string
	image    string
	net      string
	cpus     int
	memory   string
	kvm      string
	firmware string
	bios     bool
	tap      string
	mac      string
	forwards []string
}

func (f *vmFlags) add(cmd *cobra.Command, defaultNet string) {
	fl := cmd.Flags()
	fl.StringVar(&f.hv, "vm", "qemu", "hypervisor: qemu or ch (Cloud Hypervisor)")
	fl.StringVar(&f.image, "image", "", "disk image to boot (default <work>/images/harddrive.img); it is never written")
	fl.StringVar(&f.net, "net", defaultNet, "network: user (QEMU port forwards), tap (a host TAP device, see cook net setup) or none (default: user for QEMU, none for ch)")
	fl.IntVar(&f.cpus, "cpus", vm.DefaultCPUs, "virtual CPUs")
	fl.StringVar(&f.memory, "memory", strconv.Itoa(vm.DefaultMemoryMiB)+"M", "guest memory, like 2048M or 2G")
	fl.StringVar(&f.kvm, "kvm", "auto", "KVM: auto (use it when a probe guest really runs), on (require it) or off")
	fl.StringVar(&f.firmware, "firmware", "", "firmware file: OVMF (QEMU; an OVMF_CODE file uses the OVMF_VARS beside it) or CLOUDHV.fd / hypervisor-fw (ch); default: found on the host")
	fl.BoolVar(&f.bios, "bios", false, "QEMU: boot with SeaBIOS instead of UEFI")
	fl.StringVar(&f.tap, "tap", vm.DefaultTAP, "TAP device for --net tap")
	fl.StringVar(&f.mac, "mac", vm.DefaultMAC, "guest MAC address for --net tap")
	fl.StringArrayVar(&f.forwards, "forward", nil, "HOST:GUEST TCP port forward for --net user (repeatable; default 8022:22 and 8080:80; busy host ports move up)")
}

// options turns the flags into vm options; errors are usage errors.
func (f *vmFlags) options(cmd *cobra.Command) ([]vm.Option, error) {
	opts, err := vm.Spec{Hypervisor: f.hv, Net: f.net, CPUs: f.cpus, Memory: f.memory, KVM: f.kvm, Firmware: f.firmware,
		BIOS: f.bios, TAP: f.tap, MAC: f.mac, Forwards: f.forwards}.Options()
	if err != nil {
		return nil, usageErr(err)
	}
	return opts, nil
}

func (f *vmFlags) imagePath(a *app) (string, error) {
	if f.image != "" {
		return f.image, nil
	}
	w, err := a.workDir()
	if err != nil {
		return "", usageErr(err)
	}
	return filepath.Join(workdir.New(w).Images(), "harddrive.img"), nil
}

// vmTestOptions are appended to every VM's options; tests use it to stub
// the KVM probe.
var vmTestOptions []vm.Option

// prepare resolves the flags into a VM instance whose run directory lives
// in the work directory's tmp/ (same filesystem as the image, so copies can
// be reflinks). The caller must close it.
func (f *vmFlags) prepare(ctx context.Context, a *app, cmd *cobra.Command, dryRun bool, extra ...vm.Option) (*vm.Instance, error) {
	opts, err := f.options(cmd)
	if err != nil {
		return nil, err
	}
	image, err := f.imagePath(a)
	if err != nil {
		return nil, err
	}
	opts = append(opts, vm.WithDryRun(dryRun))
	opts = append(opts, extra...)
	opts = append(opts, vmTestOptions...)
	if w, err := a.workDir(); err == nil {
		opts = append(opts, vm.WithRunDirIn(workdir.New(w).Tmp()))
	}
	inst, err := vm.Prepare(ctx, image, opts...)
	if err != nil {
		return nil, failed(err)
	}
	return inst, nil
}

func (a *app) vmNotes(notes []string) {
	if a.quiet {
		return
	}
	for _, n := range notes {
		fmt.Fprintf(a.stderr, "cook: note: %s\n", n)
	}
}

func newRunCmd(a *app) *cobra.Command {
	var f vmFlags
	var gui, dryRun bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Boot a disk image in QEMU or Cloud Hypervisor with the serial console on this terminal",
		Long: `Boot a disk image in QEMU (default) or Cloud Hypervisor.

The image (default <work>/images/harddrive.img) is run through a qcow2 overlay
(QEMU) or a copy (Cloud Hypervisor), so the built image stays pristine. The
serial console is on this terminal: in QEMU, Ctrl-A X quits and Ctrl-A C
switches to the monitor; in Cloud Hypervisor, stop it with Ctrl-C from
another terminal or kill it.

KVM is used only when a probe guest really runs under it; otherwise QEMU falls
back to TCG emulation (slow) and Cloud Hypervisor refuses to start.
See docs/running.md.`,
		Args: noArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			inst, err := f.prepare(cmd.Context(), a, cmd, dryRun, vm.WithGUI(gui))
			if err != nil {
				return err
			}
			defer inst.Close()
			argv, err := inst.Command()
			if err != nil {
				return usageErr(err)
			}
			if dryRun {
				if a.json {
					return a.printJSON(struct {
						Command []string `json:"command"`
						Notes   []string `json:"notes"`
					}{argv, inst.Notes})
				}
				a.vmNotes(inst.Notes)
				a.printf("%s\n", vm.ShellQuote(argv))
				return nil
			}
			a.vmNotes(inst.Notes)
			if a.verbose {
				fmt.Fprintf(a.stderr, "cook: %s\n", vm.ShellQuote(argv))
			}
			if err := inst.Run(cmd.Context(), os.Stdin, a.stdout, a.stderr); err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				return failed(err)
			}
			return nil
		},
	}
	f.add(cmd, "")
	cmd.Flags().BoolVar(&gui, "gui", false, "QEMU: open a graphical display (the serial console stays on this terminal)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the command line and write nothing")
	return cmd
}
