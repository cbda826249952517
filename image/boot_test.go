package image

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redox-cook/cook/internal/efitest"
	"github.com/redox-cook/cook/vm"
)

// TestUEFIBoot boots an image under QEMU (TCG) with OVMF. Its EFI
// bootloader is a real EFI program (internal/efitest) packaged as the
// bootloader package's bootloader.efi: the firmware must find the GPT, the
// FAT ESP and \EFI\BOOT\BOOTX64.EFI on its own to print the marker.
func TestUEFIBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM (-short)")
	}
	if err := efitest.Available(); err != nil {
		t.Skip(err)
	}
	if _, err := vm.FindOVMF(""); err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	const marker = "COOK-IMAGE-UEFI-BOOT-OK"
	dir := t.TempDir()
	efiPath, err := efitest.BuildEFI(ctx, filepath.Join(dir, "efi"), efitest.Program{Lines: []string{marker}})
	if err != nil {
		t.Fatal(err)
	}
	efi, err := os.ReadFile(efiPath)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, efi)
	img := filepath.Join(dir, "harddrive.img")
	res := buildTest(t, f, img, WithNetwork(CloudHypervisorStatic()))
	if res.EFIBootloader != "package bootloader:/usr/lib/boot/bootloader.efi" {
		t.Errorf("EFI bootloader from %q", res.EFIBootloader)
	}
	checkDisk(t, img, f)

	inst, err := vm.Prepare(ctx, img, vm.WithKVM(vm.KVMOff), vm.WithNet(vm.NetNone), vm.WithRunDir(filepath.Join(dir, "run")))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	boot, err := inst.BootTest(ctx, vm.BootTestOptions{
		Log:        filepath.Join(dir, "serial.log"),
		Milestones: vm.ExpectMilestones(marker),
		Timeout:    3 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !boot.Passed {
		t.Fatalf("boot: %v", boot.Error())
	}
	t.Logf("marker after %v", boot.Duration)
}
