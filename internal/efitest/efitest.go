// Package efitest builds real, tiny UEFI test payloads for boot tests: an EFI program that prints given lines and shuts down, and a GPT disk from which firmware boots it.
package efitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// gnu-efi's files as Debian's gnu-efi package installs them.
var (
	gnuEFIInclude = "/usr/include/efi"
	gnuEFILib     = "/usr/lib"
	gnuEFICrt0    = "crt0-efi-x86_64.o"
	gnuEFILds     = "elf_x86_64_efi.lds"
)

// Program describes the EFI application BuildEFI compiles.
type Program struct {
	// Lines are printed on the UEFI console, in order, each followed by a line break (CRLF).
	// They must be printable ASCII.
	Lines []string
	// Halt makes the program wait forever after printing instead of shutting
	// the machine down (to test timeouts).
	Halt bool
}

// Available reports whether BuildEFI can work on this host: nil, or an error
// naming what is missing (install Debian's gcc, binutils and gnu-efi).
func Available() error {
	var missing []string
	for _, tool := range []string{"gcc", "ld", "objcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	for _, f := range []string{
		filepath.Join(gnuEFIInclude, "efi.h"),
		filepath.Join(gnuEFILib, gnuEFICrt0),
		filepath.Join(gnuEFILib, gnuEFILds),
		filepath.Join(gnuEFILib, "libgnuefi.a"),
		filepath.Join(gnuEFILib, "libefi.a"),
	} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("efitest: missing %s (install gcc, binutils and gnu-efi)", strings.Join(missing, ", "))
	}
	return nil
}

// Source returns the C source of p.
func (p Program) Source() (string, error) {
	var b strings.Builder
	b.WriteString("#include <efi.h>\n#include <efilib.h>\n\n")
	b.WriteString("// gnu-efi's crt0 calls efi_main with the SysV ABI: no EFIAPI here.\nEFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st) {\n")
	b.WriteString("\tInitializeLib(image, st);\n")
	for _, l := range p.Lines {
		for _, r := range l {
			if r < 0x20 || r > 0x7e {
				return "", fmt.Errorf("efitest: line %q: only printable ASCII is allowed", l)
			}
		}
		// Print treats % as a format character; escape it, and escape C's
		// own specials.
		esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`).Replace(l)
		fmt.Fprintf(&b, "\tPrint(L\"%s\\n\");\n", esc) // Print turns \n into CRLF
	}
	if p.Halt {
		b.WriteString("\tfor (;;) uefi_call_wrapper(BS->Stall, 1, 1000000);\n")
	} else {
		// Give the serial port a moment, then power off.
		b.WriteString("\tuefi_call_wrapper(BS->Stall, 1, 100000);\n")
		b.WriteString("\tuefi_call_wrapper(RT->ResetSystem, 4, EfiResetShutdown, EFI_SUCCESS, 0, NULL);\n")
	}
	b.WriteString("\treturn EFI_SUCCESS;\n}\n")
	return b.String(), nil
}

// BuildEFI compiles p in dir (created if needed) and returns the path of the
// EFI application, dir/BOOTX64.EFI.
func BuildEFI(ctx context.Context, dir string, p Program) (string, error) {
	if err := Available(); err != nil {
		return "", err
	}
	src, err := p.Source()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("efitest: %w", err)
	}
	c := filepath.Join(dir, "main.c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		return "", fmt.Errorf("efitest: %w", err)
	}
	obj := filepath.Join(dir, "main.o")
	so := filepath.Join(dir, "main.so")
	out := filepath.Join(dir, "BOOTX64.EFI")
	steps := [][]string{
		{"gcc", "-I" + gnuEFIInclude, "-I" + filepath.Join(gnuEFIInclude, "x86_64"),
			"-fpic", "-ffreestanding", "-fno-stack-protector", "-fno-stack-check", "-fshort-wchar",
			"-mno-red-zone", "-maccumulate-outgoing-args", "-DGNU_EFI_USE_MS_ABI", "-O2",
			"-c", c, "-o", obj},
		{"ld", "-shared", "-Bsymbolic", "-nostdlib", "-znocombreloc", "-L" + gnuEFILib,
			"-T", filepath.Join(gnuEFILib, gnuEFILds), filepath.Join(gnuEFILib, gnuEFICrt0),
			obj, "-o", so, "-lgnuefi", "-lefi"},
		{"objcopy", "-j", ".text", "-j", ".sdata", "-j", ".data", "-j", ".rodata", "-j", ".dynamic",
			"-j", ".dynsym", "-j", ".rel", "-j", ".rela", "-j", ".rel.*", "-j", ".rela.*", "-j", ".reloc",
			"--target", "efi-app-x86_64", "--subsystem=10", so, out},
	}
	for _, s := range steps {
		cmd := exec.CommandContext(ctx, s[0], s[1:]...)
		var stderr bytes.Buffer
		cmd.Stdout = &stderr
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("efitest: %s: %w\n%s", s[0], err, stderr.String())
		}
	}
	return out, nil
}

// ImageOptions sizes the disk BuildImage writes; zero values take defaults.
type ImageOptions struct {
	// Size of the whole disk in bytes (default 64 MiB).
	Size int64
	// ESPSize in bytes (default: the disk minus 1 MiB at the start and the
	// backup GPT at the end). At least 33 MiB so FAT32 is valid.
	ESPSize int64
}

const (
	mib         = 1 << 20
	sectorSize  = 512
	defaultSize = 64 * mib
	minESP      = 33 * mib
)

// BuildImage writes a raw GPT disk image to path holding one FAT32 EFI system
// partition (starting at 1 MiB, labelled "ESP") with efiProgram copied to
// \EFI\BOOT\BOOTX64.EFI. An existing file at path is replaced.
func BuildImage(efiProgram, path string, o ImageOptions) error {
	prog, err := os.ReadFile(efiProgram)
	if err != nil {
		return fmt.Errorf("efitest: %w", err)
	}
	size := o.Size
	if size == 0 {
		size = defaultSize
	}
	espStart := int64(mib)
	espSize := o.ESPSize
	if espSize == 0 {
		espSize = size - espStart - mib // leave room for the backup GPT
	}
	if espSize < minESP {
		return fmt.Errorf("efitest: ESP of %d bytes is too small for FAT32 (want at least %d)", espSize, minESP)
	}
	if espStart+espSize+34*sectorSize > size {
		return fmt.Errorf("efitest: ESP of %d bytes does not fit a %d-byte disk", espSize, size)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("efitest: %w", err)
	}
	d, err := diskfs.Create(path, size, diskfs.SectorSizeDefault)
	if err != nil {
		return fmt.Errorf("efitest: create %s: %w", path, err)
	}
	defer d.Close()
	table := &gpt.Table{
		LogicalSectorSize:  sectorSize,
		PhysicalSectorSize: sectorSize,
		ProtectiveMBR:      true,
		Partitions: []*gpt.Partition{{
			Index: 1,
			Start: uint64(espStart / sectorSize),
			End:   uint64((espStart+espSize)/sectorSize) - 1,
			Size:  uint64(espSize),
			Type:  gpt.EFISystemPartition,
			Name:  "EFI System",
		}},
	}
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("efitest: partition %s: %w", path, err)
	}
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 1, FSType: filesystem.TypeFat32, VolumeLabel: "ESP"})
	if err != nil {
		return fmt.Errorf("efitest: format ESP of %s: %w", path, err)
	}
	if err := fs.Mkdir("/EFI/BOOT"); err != nil {
		return fmt.Errorf("efitest: mkdir /EFI/BOOT: %w", err)
	}
	f, err := fs.OpenFile("/EFI/BOOT/BOOTX64.EFI", os.O_CREATE|os.O_RDWR)
	if err != nil {
		return fmt.Errorf("efitest: create BOOTX64.EFI: %w", err)
	}
	if _, err := f.Write(prog); err != nil {
		f.Close()
		return fmt.Errorf("efitest: write BOOTX64.EFI: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("efitest: close BOOTX64.EFI: %w", err)
	}
	return nil
}

// Image builds p and a disk image holding it in a test temp directory and
// returns the image's path. It skips t when the tools are missing and fails
// it on any other error.
//
// The Redox bootloader cannot be built on a plain Linux host, so tests that
// need firmware to boot something from a disk use this instead:
//
//   - [BuildEFI] compiles an EFI application with Debian's gnu-efi (gcc, ld
//     with gnu-efi's crt0 and linker script, objcopy to a PE32+ EFI app). It
//     prints the given lines on the UEFI console — which OVMF mirrors to the
//     serial port — and then shuts the machine down (or halts forever, to test
//     timeouts).
//   - [BuildImage] writes a GPT disk with one FAT32 EFI system partition that
//     holds an EFI program at \EFI\BOOT\BOOTX64.EFI, the removable-media path
//     that firmware boots without any boot entry.
//   - Image does both for a test and skips it when the tools are missing.
//
// Typical use in a test, booting the image with package vm:
//
//	img := efitest.Image(t, efitest.Program{Lines: []string{"HELLO-MARKER"}})
//	inst, err := vm.Prepare(ctx, img, vm.WithKVM(vm.KVMOff), vm.WithNet(vm.NetNone))
//	...
//	res, err := inst.BootTest(ctx, vm.BootTestOptions{
//		Log: logPath, Milestones: vm.ExpectMilestones("HELLO-MARKER"), Timeout: 2 * time.Minute})
//	// res.Passed; under TCG the marker shows after about 5-20 s
//
// To put the program into a disk image built some other way (for example
// as the EFI bootloader of a cook image), call BuildEFI and copy the file it
// returns to \EFI\BOOT\BOOTX64.EFI of that image's ESP.
func Image(t testing.TB, p Program) string {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	efi, err := BuildEFI(context.Background(), filepath.Join(dir, "efi"), p)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "efitest.img")
	if err := BuildImage(efi, img, ImageOptions{}); err != nil {
		t.Fatal(err)
	}
	return img
}
