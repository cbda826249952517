package vm

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// KVMVerdict is the result of a KVM probe.
type KVMVerdict struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason"` // why KVM is unusable, or what was checked
	Cached bool   `json:"-"`

	opened bool // the device opened, so the verdict is worth caching
}

// KVM ioctls (linux/kvm.h).
const (
	kvmGetAPIVersion       = 0xAE00
	kvmCreateVM            = 0xAE01
	kvmGetVCPUMmapSize     = 0xAE04
	kvmCreateVCPU          = 0xAE41
	kvmSetUserMemoryRegion = 0x4020AE46 // _IOW(0xAE, 0x46, 32)
	kvmRun                 = 0xAE80
	kvmSetRegs             = 0x4090AE82 // _IOW(0xAE, 0x82, 144)
	kvmGetSregs            = 0x8138AE83 // _IOR(0xAE, 0x83, 312)
	kvmSetSregs            = 0x4138AE84 // _IOW(0xAE, 0x84, 312)

	kvmExitIO  = 2
	kvmExitHLT = 5
)

// kvmDevice is the KVM device node; a variable for tests.
var kvmDevice = "/dev/kvm"

// probeGuest is a real-mode guest loaded at 0x1000:
// mov al,0x42; out 0x10,al; hlt.
var probeGuest = []byte{0xb0, 0x42, 0xe6, 0x10, 0xf4}

// ProbeKVM checks whether KVM really runs guests here: opening /dev/kvm is
// not enough (a PVM host, for one, creates VMs and vCPUs and then cannot run
// stock guests). It builds a one-page real-mode guest that writes 0x42 to an
// I/O port and halts, runs it with a timeout, and checks both exits.
func ProbeKVM(ctx context.Context, timeout time.Duration) KVMVerdict {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	f, err := os.OpenFile(kvmDevice, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return KVMVerdict{Reason: fmt.Sprintf("cannot open %s: %v", kvmDevice, err)}
	}
	defer f.Close()
	v := probeOpened(ctx, int(f.Fd()), timeout)
	v.opened = true
	return v
}

// probeOpened runs the probe guest on the opened KVM device kvm.
func probeOpened(ctx context.Context, kvm int, timeout time.Duration) KVMVerdict {
	g := &probeVM{kvm: kvm, vm: -1, vcpu: -1}
	defer g.close()
	if err := g.createVM(); err != nil {
		return KVMVerdict{Reason: err.Error()}
	}
	if err := g.createVCPU(); err != nil {
		return KVMVerdict{Reason: err.Error()}
	}
	if err := g.realMode(); err != nil {
		return KVMVerdict{Reason: err.Error()}
	}
	r, err := g.run(ctx, timeout)
	if err != nil {
		return KVMVerdict{Reason: err.Error()}
	}
	return r.verdict()
}

// probeVM is the probe's virtual machine: its file descriptors and the
// memory shared with KVM, released by close.
type probeVM struct {
	kvm, vm, vcpu int
	mem           []byte // the guest's memory
	runPage       []byte // the vCPU's kvm_run structure
}

// createVM checks the KVM API version, creates a VM and gives it memory
// holding probeGuest at 0x1000.
func (g *probeVM) createVM() error {
	if v, err := ioctl(g.kvm, kvmGetAPIVersion, 0); err != nil || v != 12 {
		return fmt.Errorf("KVM API version %d (%v), want 12", v, err)
	}
	vm, err := ioctl(g.kvm, kvmCreateVM, 0)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VM: %v", err)
	}
	g.vm = vm
	const memSize = 0x10000
	if g.mem, err = unix.Mmap(-1, 0, memSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS); err != nil {
		return fmt.Errorf("mmap guest memory: %v", err)
	}
	copy(g.mem[0x1000:], probeGuest)
	region := make([]byte, 32)
	binary.LittleEndian.PutUint64(region[8:], 0)        // guest_phys_addr
	binary.LittleEndian.PutUint64(region[16:], memSize) // memory_size
	binary.LittleEndian.PutUint64(region[24:], uint64(uintptr(unsafe.Pointer(&g.mem[0]))))
	if _, err := ioctlPtr(g.vm, kvmSetUserMemoryRegion, region); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION: %v", err)
	}
	return nil
}

// createVCPU creates the VM's one vCPU and maps its kvm_run structure.
func (g *probeVM) createVCPU() error {
	vcpu, err := ioctl(g.vm, kvmCreateVCPU, 0)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VCPU: %v", err)
	}
	g.vcpu = vcpu
	runSize, err := ioctl(g.kvm, kvmGetVCPUMmapSize, 0)
	if err != nil || runSize <= 0 {
		return fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %d %v", runSize, err)
	}
	if g.runPage, err = unix.Mmap(g.vcpu, 0, runSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return fmt.Errorf("mmap kvm_run: %v", err)
	}
	return nil
}

// realMode points the vCPU, in real mode, at the guest: cs 0, rip 0x1000.
func (g *probeVM) realMode() error {
	sregs := make([]byte, 312)
	if _, err := ioctlPtr(g.vcpu, kvmGetSregs, sregs); err != nil {
		return fmt.Errorf("KVM_GET_SREGS: %v", err)
	}
	binary.LittleEndian.PutUint64(sregs[0:], 0)  // cs.base
	binary.LittleEndian.PutUint16(sregs[12:], 0) // cs.selector
	if _, err := ioctlPtr(g.vcpu, kvmSetSregs, sregs); err != nil {
		return fmt.Errorf("KVM_SET_SREGS: %v", err)
	}
	regs := make([]byte, 144)
	binary.LittleEndian.PutUint64(regs[16*8:], 0x1000) // rip
	binary.LittleEndian.PutUint64(regs[17*8:], 0x2)    // rflags
	if _, err := ioctlPtr(g.vcpu, kvmSetRegs, regs); err != nil {
		return fmt.Errorf("KVM_SET_REGS: %v", err)
	}
	return nil
}

// probeExits is what the probe guest did: its exits and the I/O it wrote.
type probeExits struct {
	exits []uint32
	port  uint16
	data  byte
	err   error
}

// run runs the guest for at most two exits. KVM_RUN blocks in the kernel,
// so it runs on a locked thread that is interrupted with a signal when the
// guest hangs past timeout or ctx is done; that is an error.
func (g *probeVM) run(ctx context.Context, timeout time.Duration) (probeExits, error) {
	done := make(chan probeExits, 1)
	tidc := make(chan int, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tidc <- unix.Gettid()
		done <- g.exits()
	}()
	tid := <-tidc
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r, nil
	case <-timer.C:
		unix.Tgkill(os.Getpid(), tid, unix.SIGURG) // KVM_RUN returns EINTR
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		return probeExits{}, fmt.Errorf("a probe guest did not finish within %s (KVM creates VMs but cannot run them)", timeout)
	case <-ctx.Done():
		unix.Tgkill(os.Getpid(), tid, unix.SIGURG)
		return probeExits{}, errors.New("probe interrupted: " + ctx.Err().Error())
	}
}

// exits runs the vCPU until an exit other than I/O, at most twice.
func (g *probeVM) exits() probeExits {
	var r probeExits
	for i := 0; i < 2; i++ {
		if _, err := ioctl(g.vcpu, kvmRun, 0); err != nil {
			r.err = err
			break
		}
		reason := binary.LittleEndian.Uint32(g.runPage[8:])
		r.exits = append(r.exits, reason)
		if reason != kvmExitIO {
			break
		}
		r.port = binary.LittleEndian.Uint16(g.runPage[34:])
		off := binary.LittleEndian.Uint64(g.runPage[40:])
		if off < uint64(len(g.runPage)) {
			r.data = g.runPage[off]
		}
	}
	return r
}

// verdict: KVM works when the guest wrote 0x42 to port 0x10, then halted.
func (r probeExits) verdict() KVMVerdict {
	switch {
	case r.err != nil:
		return KVMVerdict{Reason: fmt.Sprintf("KVM_RUN of a probe guest failed: %v", r.err)}
	case len(r.exits) < 2 || r.exits[0] != kvmExitIO || r.port != 0x10 || r.data != 0x42 || r.exits[1] != kvmExitHLT:
		return KVMVerdict{Reason: fmt.Sprintf("a probe guest misbehaved (exits %v, port %#x, data %#x; want I/O to 0x10 of 0x42, then HLT)", r.exits, r.port, r.data)}
	}
	return KVMVerdict{OK: true, Reason: "a probe guest ran under KVM"}
}

// close releases what was made, in reverse.
func (g *probeVM) close() {
	if g.runPage != nil {
		unix.Munmap(g.runPage)
	}
	if g.vcpu >= 0 {
		unix.Close(g.vcpu)
	}
	if g.mem != nil {
		unix.Munmap(g.mem)
	}
	if g.vm >= 0 {
		unix.Close(g.vm)
	}
}

func ioctl(fd int, req uintptr, arg uintptr) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

func ioctlPtr(fd int, req uintptr, b []byte) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&b[0])))
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

var (
	kvmMu    sync.Mutex
	kvmCache = map[string]KVMVerdict{}
)

// KVMCacheFile is where verdicts are kept between runs; they are reused only
// within the same boot of the same kernel.
func KVMCacheFile() string {
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "cook", "kvm-probe.json")
}

type kvmCacheFile struct {
	BootID   string                `json:"boot_id"`
	Kernel   string                `json:"kernel"`
	Verdicts map[string]KVMVerdict `json:"verdicts"`
}

func hostIdentity() (bootID, kernel string) {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	return strings.TrimSpace(string(b)), kernel
}

// cached returns the verdict for key from memory or cacheFile, or runs probe
// and remembers its verdict when the probe really ran.
func cached(ctx context.Context, cacheFile, key string, probe func(context.Context) KVMVerdict) KVMVerdict {
	kvmMu.Lock()
	defer kvmMu.Unlock()
	if v, ok := kvmCache[key]; ok {
		v.Cached = true
		return v
	}
	bootID, kernel := hostIdentity()
	var file kvmCacheFile
	if cacheFile != "" && bootID != "" {
		if b, err := os.ReadFile(cacheFile); err == nil {
			if json.Unmarshal(b, &file) == nil && file.BootID == bootID && file.Kernel == kernel {
				if v, ok := file.Verdicts[key]; ok {
					kvmCache[key] = v
					v.Cached = true
					return v
				}
			} else {
				file = kvmCacheFile{}
			}
		}
	}
	v := probe(ctx)
	if ctx.Err() != nil || !v.opened {
		// An interrupted probe proves nothing, and a device that does not
		// open now may after modprobe or a group change: check again next time.
		return v
	}
	kvmCache[key] = v
	if cacheFile != "" && bootID != "" {
		file.BootID, file.Kernel = bootID, kernel
		if file.Verdicts == nil {
			file.Verdicts = map[string]KVMVerdict{}
		}
		file.Verdicts[key] = v
		if b, err := json.MarshalIndent(file, "", "  "); err == nil {
			if os.MkdirAll(filepath.Dir(cacheFile), 0o755) == nil {
				tmp := fmt.Sprintf("%s.%d.tmp", cacheFile, os.Getpid())
				if os.WriteFile(tmp, b, 0o644) == nil {
					_ = os.Rename(tmp, cacheFile)
				}
			}
		}
	}
	return v
}

// CachedKVM returns ProbeKVM's verdict, probing at most once per process and
// once per host boot (cached in cacheFile; "" means no file cache).
func CachedKVM(ctx context.Context, cacheFile string) KVMVerdict {
	return cached(ctx, cacheFile, "kvm", func(ctx context.Context) KVMVerdict { return ProbeKVM(ctx, 5*time.Second) })
}

// CachedQEMUKVM returns whether QEMU (the program qemu) really runs guests
// with KVM: CachedKVM, then ProbeQEMU with -accel kvm -cpu host, each cached.
func CachedQEMUKVM(ctx context.Context, cacheFile, qemu string) KVMVerdict {
	v := CachedKVM(ctx, cacheFile)
	if !v.OK {
		return v
	}
	path, err := exec.LookPath(qemu)
	if err != nil {
		return KVMVerdict{Reason: fmt.Sprintf("%s: %v", qemu, err)}
	}
	return cached(ctx, cacheFile, "qemu:"+path, func(ctx context.Context) KVMVerdict {
		return ProbeQEMU(ctx, path, true, 20*time.Second)
	})
}

// errNoKVM is wrapped by errors about required KVM.
var errNoKVM = errors.New("KVM does not work here")
