package redoxtest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBootstrapLayout checks the ELF file the way the kernel and the
// archiver use it: e_entry is the entry, file offset N is address
// 0x2000+N, and the instructions the serial log is checked for are there.
func TestBootstrapLayout(t *testing.T) {
	b := Bootstrap()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC || f.Entry != EntryRIP {
		t.Fatalf("header: %v %v %v %#x", f.Class, f.Machine, f.Type, f.Entry)
	}
	if len(f.Progs) != 1 || f.Progs[0].Type != elf.PT_LOAD || f.Progs[0].Off != 0 || f.Progs[0].Vaddr != LoadAddress || f.Progs[0].Filesz != uint64(len(b)) {
		t.Fatalf("program headers: %+v", f.Progs)
	}
	at := func(addr uint64, n int) []byte { return b[addr-LoadAddress : addr-LoadAddress+uint64(n)] }
	for _, a := range []uint64{SuccessRIP, OpenFailedRIP, WriteFailedRIP} {
		if !bytes.Equal(at(a, 2), []byte{0x0f, 0x0b}) {
			t.Errorf("no ud2 at %#x: % x", a, at(a, 2))
		}
	}
	if got := at(EntryRIP, 5); got[0] != 0xb8 || binary.LittleEndian.Uint32(got[1:]) != 0x101003db {
		t.Errorf("entry does not load SYS_OPENAT_INTO: % x", got)
	}
	if !bytes.HasSuffix(b, []byte(BootstrapMessage)) {
		t.Error("message missing")
	}
	// The jumps from the two syscalls go to the failure ud2s.
	if i := bytes.Index(b, []byte{0x75}); i < 0 || uint64(i)+2+uint64(int8(b[i+1]))+LoadAddress != OpenFailedRIP {
		t.Errorf("jnz after openat does not reach %#x", OpenFailedRIP)
	}
}

func TestExpect(t *testing.T) {
	if got := Expect(); len(got) != 2 || got[0] != "cook bootstrap: hello from Redox user mode" || got[1] != "RIP:   00000000000020c6" {
		t.Errorf("Expect() = %q", got)
	}
}

// TestBootstrapMatchesNasm assembles testdata/bootstrap.asm with nasm and
// compares it with the hand-encoded bytes.
func TestBootstrapMatchesNasm(t *testing.T) {
	nasm, err := exec.LookPath("nasm")
	if err != nil {
		t.Skip("nasm is not installed")
	}
	out := filepath.Join(t.TempDir(), "bootstrap")
	if msg, err := exec.Command(nasm, "-f", "bin", "-o", out, filepath.Join("testdata", "bootstrap.asm")).CombinedOutput(); err != nil {
		t.Fatalf("nasm: %v\n%s", err, msg)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := Bootstrap(); !bytes.Equal(got, want) {
		t.Errorf("hand-encoded bootstrap differs from nasm's:\n got % x\nwant % x", got, want)
	}
}
