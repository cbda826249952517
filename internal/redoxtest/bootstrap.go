// Package redoxtest holds helpers for tests that boot real Redox artifacts: a minimal user-mode bootstrap program for the initfs, and the serial-log lines that show the kernel ran it.
package redoxtest

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Addresses and strings a boot test looks for in the serial log.
const (
	// LoadAddress is where the kernel maps the bootstrap's file offset 0.
	LoadAddress = 0x2000
	// EntryRIP is the program's entry point (file offset 0x80).
	EntryRIP = LoadAddress + codeOffset
	// BootstrapMessage is what the program writes to the debug scheme.
	BootstrapMessage = "cook bootstrap: hello from Redox user mode\n"
	// SuccessRIP is the ud2 reached after the message was written: the
	// kernel's fault report shows "RIP:   00000000000020c6" (lower case).
	SuccessRIP = 0x20C6
	// OpenFailedRIP is the ud2 reached when opening debug: failed.
	OpenFailedRIP = 0x20C8
	// WriteFailedRIP is the ud2 reached when the write was short or failed.
	WriteFailedRIP = 0x20CA
)

// Expect returns what a boot test waits for on the serial console, in
// order, after the kernel's "Redox OS starting": the message the bootstrap
// wrote through the debug scheme, then the kernel's report of the ud2 at
// SuccessRIP (ring 3, after both syscalls succeeded).
func Expect() []string {
	return []string{strings.TrimSuffix(BootstrapMessage, "\n"), fmt.Sprintf("RIP:   %016x", SuccessRIP)}
}

// Syscall ABI values (redox_syscall 0.9.2 src/number.rs, src/flag.rs).
const (
	sysOpenatInto  = 0x1000_0000 | 0x0010_0000 | 987 // SYS_CLASS_PATH | SYS_RET_FILE | 987
	sysWrite       = 0x2000_0000 | 0x0100_0000 | 4   // SYS_CLASS_FILE | SYS_ARG_SLICE | 4
	upperFdtblTag  = 1 << 62
	debugSchemeID  = 1 // GlobalSchemes::Debug
	oWronly        = 0x0002_0000
	codeOffset     = 0x80
	elfHeaderSize  = 64
	progHeaderSize = 56
)

// program assembles the code (to be placed at EntryRIP) and returns it
// with the addresses of its labels. Each line is one instruction, encoded
// by hand; testdata/bootstrap.asm is the same program for nasm, and
// TestBootstrapMatchesNasm compares the two.
func program() ([]byte, map[string]uint64) {
	a := &asm{labels: map[string]int{}}
	msgLen := uint32(len(BootstrapMessage))

	a.label("_start")
	// SYS_OPENAT_INTO(debug root capability, "", O_WRONLY, 0, into fd 0)
	a.op(0xb8).imm32(sysOpenatInto)                       // mov eax, SYS_OPENAT_INTO
	a.op(0x48, 0xbf).imm64(upperFdtblTag | debugSchemeID) // mov rdi, UPPER_FDTBL_TAG|1
	a.op(0x48, 0x8d, 0x35).rel32("msg")                   // lea rsi, [rel msg]  (any valid pointer)
	a.op(0x31, 0xd2)                                      // xor edx, edx        (path length 0: "")
	a.op(0x41, 0xba).imm32(oWronly)                       // mov r10d, O_WRONLY
	a.op(0x45, 0x31, 0xc0)                                // xor r8d, r8d        (fcntl flags)
	a.op(0x45, 0x31, 0xc9)                                // xor r9d, r9d        (new fd 0)
	a.op(0x0f, 0x05)                                      // syscall
	a.op(0x48, 0x85, 0xc0)                                // test rax, rax       (fd 0, or -errno)
	a.op(0x75).rel8("open_failed")                        // jnz open_failed
	// SYS_WRITE(0, msg, len)
	a.op(0xb8).imm32(sysWrite)          // mov eax, SYS_WRITE
	a.op(0x31, 0xff)                    // xor edi, edi
	a.op(0x48, 0x8d, 0x35).rel32("msg") // lea rsi, [rel msg]
	a.op(0xba).imm32(msgLen)            // mov edx, len
	a.op(0x0f, 0x05)                    // syscall
	a.op(0x48, 0x83, 0xf8).imm8(msgLen) // cmp rax, byte len
	a.op(0x75).rel8("write_failed")     // jne write_failed
	a.label("success")
	a.op(0x0f, 0x0b) // ud2
	a.label("open_failed")
	a.op(0x0f, 0x0b) // ud2
	a.label("write_failed")
	a.op(0x0f, 0x0b) // ud2
	a.label("msg")
	a.op([]byte(BootstrapMessage)...)

	a.resolve()
	addr := map[string]uint64{}
	for l, off := range a.labels {
		addr[l] = EntryRIP + uint64(off)
	}
	return a.b, addr
}

// Bootstrap returns the program's bytes: an ELF file to pass to the
// archiver as the bootstrap (cook initfs DIR --bootstrap FILE). It is a
// minimal user-mode program for the initfs (cook's stand-in for base's
// bootstrap, whose crates cannot be fetched here) that proves on the serial
// console that the kernel ran it in ring 3.
//
// How the kernel starts it, from redox-os/kernel at 663e66410bac (the
// commit in shared/redox/git/kernel.git), src/syscall/process.rs
// usermode_bootstrap and src/startup/mod.rs kmain:
//
//   - the bootloader hands the whole initfs image to the kernel; the kernel
//     copies it to user address 0x1000 (PAGE_SIZE), mapped read, write and
//     execute, and starts the first context, named "[bootstrap]", with euid 0,
//     at the u64 at image offset 0x1A (the initfs header's bootstrap_entry)
//     with every register zero, RSP included (no stack);
//   - the archiver copies the bootstrap ELF file raw to image offset 0x1000,
//     so its file offset N is at address 0x2000+N (nothing loads its program
//     headers), and bootstrap_entry is its e_entry;
//   - before that the kernel puts a root capability of each kernel scheme in
//     the upper file table at fd UPPER_FDTBL_TAG|scheme_id (insert_fd), with
//     UPPER_FDTBL_TAG = 1<<62 and the debug scheme's id 1 (redox_syscall
//     0.9.2 @e4277c29 src/flag.rs, src/data.rs GlobalSchemes; kernel
//     src/scheme/mod.rs ALL_KERNEL_SCHEMES).
//
// What it does: the program is a 64-bit ELF executable with one PT_LOAD
// segment that maps the file at 0x2000, and its code at file offset 0x80
// (entry 0x2080). With
// the x86-64 Redox syscall ABI (number in RAX, arguments in RDI, RSI, RDX,
// R10, R8, R9, `syscall`, result or -errno in RAX; kernel
// src/arch/x86_64/interrupt/syscall.rs, src/syscall/mod.rs) it:
//
//  1. SYS_OPENAT_INTO(0x4000000000000001, "", O_WRONLY, 0, 0): opens the
//     debug scheme's default handle ("" path; the debug scheme requires uid
//     0, src/scheme/debug.rs) into fd 0;
//  2. SYS_WRITE(0, BootstrapMessage): the debug scheme writes it to the
//     kernel log, the graphical debug display and COM1 (src/log.rs Writer,
//     src/arch/x86_shared/debug.rs) — so the serial log shows the message;
//  3. executes ud2 at SuccessRIP. The kernel reports "Invalid opcode fault"
//     with "RIP: <SuccessRIP>", "CS: 2b" (ring 3) and RAX = the bytes
//     written, then "UNHANDLED EXCEPTION ... NAME [bootstrap]".
//
// If the open fails the ud2 is at OpenFailedRIP (RAX = -errno); if the write
// returns anything but the message length, at WriteFailedRIP.
//
// What the serial log shows, booted (kernel 663e6641 and bootloader.efi
// b74f53a0 built from shared/redox, QEMU 7.2 TCG, q35, OVMF; an initfs of
// an empty directory with this bootstrap, written by cook initfs), after
// "Redox OS starting...":
//
//	cook bootstrap: hello from Redox user mode
//	Invalid opcode fault
//	CS:    000000000000002b
//	RIP:   00000000000020c6
//	RAX:   000000000000002b
//	kernel::context::signal:INFO -- UNHANDLED EXCEPTION, CPU #0, PID 0, NAME [bootstrap], ...
//
// A boot test should wait for the lines Expect returns, in order.
func Bootstrap() []byte {
	c, addr := program()
	if addr["_start"] != EntryRIP || addr["success"] != SuccessRIP ||
		addr["open_failed"] != OpenFailedRIP || addr["write_failed"] != WriteFailedRIP {
		panic("redoxtest: bootstrap addresses differ from the documented constants")
	}
	le := binary.LittleEndian
	size := codeOffset + len(c)
	f := make([]byte, codeOffset, size)
	// ELF header: ELF-64, little-endian, version 1, System V ABI.
	copy(f, "\x7fELF\x02\x01\x01")
	le.PutUint16(f[16:], 2)    // e_type ET_EXEC
	le.PutUint16(f[18:], 0x3e) // e_machine EM_X86_64
	le.PutUint32(f[20:], 1)    // e_version
	le.PutUint64(f[24:], EntryRIP)
	le.PutUint64(f[32:], elfHeaderSize) // e_phoff
	le.PutUint16(f[52:], elfHeaderSize) // e_ehsize
	le.PutUint16(f[54:], progHeaderSize)
	le.PutUint16(f[56:], 1)  // e_phnum
	le.PutUint16(f[58:], 64) // e_shentsize (there are no sections)
	// Program header: PT_LOAD, R+X, the whole file at LoadAddress.
	ph := f[elfHeaderSize:]
	le.PutUint32(ph[0:], 1) // p_type PT_LOAD
	le.PutUint32(ph[4:], 5) // p_flags PF_R|PF_X
	le.PutUint64(ph[16:], LoadAddress)
	le.PutUint64(ph[24:], LoadAddress)
	le.PutUint64(ph[32:], uint64(size)) // p_filesz
	le.PutUint64(ph[40:], uint64(size)) // p_memsz
	le.PutUint64(ph[48:], 0x1000)       // p_align
	return append(f, c...)
}

// asm collects hand-encoded instructions and resolves label references.
type asm struct {
	b      []byte
	labels map[string]int
	fixes  []fixup
}

type fixup struct {
	at, size int // the displacement's offset and width (1 or 4)
	label    string
}

func (a *asm) label(l string) { a.labels[l] = len(a.b) }

func (a *asm) op(b ...byte) *asm { a.b = append(a.b, b...); return a }

func (a *asm) imm8(v uint32) {
	if v > 127 {
		panic("redoxtest: imm8 out of range")
	}
	a.b = append(a.b, byte(v))
}

func (a *asm) imm32(v uint32) { a.b = binary.LittleEndian.AppendUint32(a.b, v) }

func (a *asm) imm64(v uint64) { a.b = binary.LittleEndian.AppendUint64(a.b, v) }

// rel8 and rel32 leave room for a displacement from the end of the
// instruction (which they end) to label.
func (a *asm) rel8(l string) {
	a.fixes = append(a.fixes, fixup{at: len(a.b), size: 1, label: l})
	a.b = append(a.b, 0)
}

func (a *asm) rel32(l string) {
	a.fixes = append(a.fixes, fixup{at: len(a.b), size: 4, label: l})
	a.b = append(a.b, 0, 0, 0, 0)
}

func (a *asm) resolve() {
	for _, f := range a.fixes {
		to, ok := a.labels[f.label]
		if !ok {
			panic("redoxtest: undefined label " + f.label)
		}
		d := to - (f.at + f.size)
		if f.size == 1 {
			if d < -128 || d > 127 {
				panic("redoxtest: rel8 out of range to " + f.label)
			}
			a.b[f.at] = byte(int8(d))
		} else {
			binary.LittleEndian.PutUint32(a.b[f.at:], uint32(int32(d)))
		}
	}
}
