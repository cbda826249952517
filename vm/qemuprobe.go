package vm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// probeKernel returns a minimal Multiboot (v1) kernel for QEMU's -kernel:
// an a.out-kludge header loading the file at 1 MiB, then 32-bit code that
// writes 0x21 to the isa-debug-exit port 0xf4 and halts. QEMU then exits
// with status (0x21<<1)|1 = 67.
func probeKernel() []byte {
	const (
		magic = 0x1BADB002
		flags = 1 << 16 // the address fields below are valid
		load  = 0x100000
	)
	b := make([]byte, 32)
	le := binary.LittleEndian
	le.PutUint32(b[0:], magic)
	le.PutUint32(b[4:], flags)
	sum := uint32(magic + flags)
	le.PutUint32(b[8:], -sum)     // checksum: the three sum to 0
	le.PutUint32(b[12:], load)    // header_addr
	le.PutUint32(b[16:], load)    // load_addr
	le.PutUint32(b[20:], 0)       // load_end_addr: the whole file
	le.PutUint32(b[24:], 0)       // bss_end_addr: none
	le.PutUint32(b[28:], load+32) // entry_addr
	// mov al,0x21; out 0xf4,al; cli; hlt; jmp $-1
	return append(b, 0xb0, 0x21, 0xe6, 0xf4, 0xfa, 0xf4, 0xeb, 0xfd)
}

// probeExit is QEMU's exit status when the probe kernel ran.
const probeExit = 0x21<<1 | 1

// ProbeQEMU boots a tiny Multiboot kernel in qemu (the program path) with
// -accel kvm -cpu host (kvm true) or -accel tcg -cpu max, and reports
// whether it ran to its end within timeout. It catches hosts where KVM's
// ioctls work but QEMU cannot use them (CPU models KVM rejects, guests that
// hang after the firmware).
func ProbeQEMU(ctx context.Context, qemu string, kvm bool, timeout time.Duration) KVMVerdict {
	dir, err := os.MkdirTemp("", "cook-kvm-probe-")
	if err != nil {
		return KVMVerdict{Reason: fmt.Sprintf("QEMU probe: %v", err)}
	}
	defer os.RemoveAll(dir)
	kernel := filepath.Join(dir, "probe.elf")
	if err := os.WriteFile(kernel, probeKernel(), 0o644); err != nil {
		return KVMVerdict{Reason: fmt.Sprintf("QEMU probe: %v", err)}
	}
	accel, cpu := "tcg", "max"
	if kvm {
		accel, cpu = "kvm", "host"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-machine", "q35", "-accel", accel, "-cpu", cpu, "-m", "64",
		"-nodefaults", "-display", "none", "-vga", "none", "-serial", "none", "-monitor", "none", "-no-reboot",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", kernel)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	what := fmt.Sprintf("qemu -accel %s -cpu %s", accel, cpu)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return KVMVerdict{opened: true, Reason: what + ": the probe kernel did not run (QEMU exited 0)"}
	case ctx.Err() == context.DeadlineExceeded:
		return KVMVerdict{opened: true, Reason: fmt.Sprintf("%s: a probe kernel did not finish within %s", what, timeout)}
	case errors.As(err, &ee) && ee.ExitCode() == probeExit:
		return KVMVerdict{opened: true, OK: true, Reason: what + " ran a probe kernel"}
	case errors.As(err, &ee):
		msg := strings.TrimSpace(out.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return KVMVerdict{opened: true, Reason: fmt.Sprintf("%s failed on a probe kernel (exit %d): %s", what, ee.ExitCode(), msg)}
	}
	return KVMVerdict{Reason: fmt.Sprintf("%s: %v", what, err)}
}
