package efitest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestSourceEscapes(t *testing.T) {
	src, err := Program{Lines: []string{`100% "ok" \o/`}}.Source()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(src, `Print(L"100%% \"ok\" \\o/\n");`) {
		t.Errorf("source does not escape the line:\n%s", src)
	}
	if !strings.Contains(src, "EfiResetShutdown") {
		t.Errorf("source does not shut down:\n%s", src)
	}
	src, _ = Program{Halt: true}.Source()
	if strings.Contains(src, "EfiResetShutdown") {
		t.Errorf("halting program shuts down:\n%s", src)
	}
	if _, err := (Program{Lines: []string{"tab\there"}}).Source(); err == nil {
		t.Error("control character accepted")
	}
}

func TestImage(t *testing.T) {
	img := Image(t, Program{Lines: []string{"EFITEST-MARKER"}})
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != defaultSize {
		t.Errorf("image is %d bytes, want %d", len(b), defaultSize)
	}
	if string(b[512:520]) != "EFI PART" {
		t.Errorf("no GPT header at LBA 1")
	}
	if b[510] != 0x55 || b[511] != 0xaa {
		t.Errorf("no protective MBR signature")
	}
	if _, err := exec.LookPath("sgdisk"); err == nil {
		out, err := exec.Command("sgdisk", "-v", img).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("No problems found")) {
			t.Errorf("sgdisk -v: %v\n%s", err, out)
		}
	}
	if _, err := exec.LookPath("mdir"); err == nil {
		out, err := exec.Command("mdir", "-i", img+"@@1M", "::/EFI/BOOT").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("BOOTX64")) {
			t.Errorf("mdir: %v\n%s", err, out)
		}
	}
}
