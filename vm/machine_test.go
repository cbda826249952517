package vm

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/internal/golden"
)

// render shows one argument per line, the way the golden files hold them.
func render(m *Machine) (string, error) {
	args, err := m.Args()
	if err != nil {
		return "", err
	}
	// One option per line, with its value.
	var lines []string
	q := quoteAll(args)
	for i := 0; i < len(q); i++ {
		if i+1 < len(q) && !strings.HasPrefix(q[i+1], "-") {
			lines = append(lines, q[i]+" "+q[i+1])
			i++
			continue
		}
		lines = append(lines, q[i])
	}
	return m.Program() + " \\\n  " + strings.Join(lines, " \\\n  ") + "\n", nil
}

func quoteAll(a []string) []string {
	q := make([]string, len(a))
	for i, s := range a {
		q[i] = shellQuote(s)
	}
	return q
}

var (
	ovmfSplit = Firmware{Code: "/usr/share/OVMF/OVMF_CODE_4M.fd", Vars: "/run/cook/OVMF_VARS_4M.fd"}
	ovmfOne   = Firmware{Code: "/usr/share/ovmf/OVMF.fd"}
	cloudhv   = Firmware{Code: "/opt/ch/CLOUDHV.fd"}
)

func TestGoldenCommandLines(t *testing.T) {
	cases := []struct {
		name string
		m    Machine
	}{
		{"qemu-headless", Machine{Hypervisor: QEMU, Disk: "/run/cook/harddrive.qcow2", DiskFormat: "qcow2",
			Firmware: ovmfSplit, Net: NetNone}},
		{"qemu-graphical", Machine{Hypervisor: QEMU, Disk: "/run/cook/harddrive.qcow2", DiskFormat: "qcow2",
			Firmware: ovmfSplit, Net: NetNone, GUI: true, CPUs: 4, MemoryMiB: 4096}},
		{"qemu-uefi-bios-file", Machine{Hypervisor: QEMU, Disk: "/run/cook/harddrive.img",
			Firmware: ovmfOne, Net: NetNone}},
		{"qemu-uefi-kvm", Machine{Hypervisor: QEMU, Disk: "/run/cook/harddrive.qcow2", DiskFormat: "qcow2",
			Firmware: ovmfSplit, Net: NetNone, KVM: true}},
		{"qemu-bios", Machine{Hypervisor: QEMU, Disk: "/run/cook/harddrive.qcow2", DiskFormat: "qcow2",
			BIOS: true, Net: NetNone}},
		{"qemu-user-net", Machine{Hypervisor: QEMU, Disk: "/run/cook/harddrive.qcow2", DiskFormat: "qcow2",
			Firmware: ovmfSplit, Net: NetUser, Forwards: []Forward{{8022, 22}, {8081, 80}}}},
		{"qemu-tap", Machine{Hypervisor: QEMU, Disk: "/run/cook/harddrive.qcow2", DiskFormat: "qcow2",
			Firmware: ovmfSplit, Net: NetTAP, TAP: "tap0"}},
		{"qemu-boot-test", Machine{Hypervisor: QEMU, Disk: "/run/cook/harddrive.qcow2", DiskFormat: "qcow2",
			Firmware: ovmfSplit, Net: NetNone, SerialFile: "/work/logs/boot-test.log", NoReboot: true}},
		{"ch-headless", Machine{Hypervisor: CloudHypervisor, Disk: "/run/cook/harddrive.img",
			Firmware: cloudhv, Net: NetNone, KVM: true, CPUs: 4}},
		{"ch-net", Machine{Hypervisor: CloudHypervisor, Disk: "/run/cook/harddrive.img",
			Firmware: cloudhv, Net: NetTAP, KVM: true, CPUs: 4}},
		{"ch-boot-test", Machine{Hypervisor: CloudHypervisor, Disk: "/run/cook/harddrive.img",
			Firmware: cloudhv, Net: NetNone, KVM: true, SerialFile: "/work/logs/boot-test.log"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := render(&c.m)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", c.name+".golden"), got)
		})
	}
}

func TestArgsErrors(t *testing.T) {
	cases := []struct {
		m    Machine
		want string
	}{
		{Machine{Hypervisor: QEMU}, "no disk"},
		{Machine{Hypervisor: QEMU, Disk: "d"}, "OVMF"},
		{Machine{Hypervisor: CloudHypervisor, Disk: "d", Firmware: cloudhv, GUI: true}, "graphical"},
		{Machine{Hypervisor: CloudHypervisor, Disk: "d", Firmware: cloudhv, Net: NetUser}, "user-mode"},
		{Machine{Hypervisor: CloudHypervisor, Disk: "d", Net: NetNone}, "firmware"},
		{Machine{Hypervisor: CloudHypervisor, Disk: "d", BIOS: true}, "BIOS"},
		{Machine{Hypervisor: CloudHypervisor, Disk: "d", DiskFormat: "qcow2", Firmware: cloudhv, Net: NetNone}, "raw"},
	}
	for _, c := range cases {
		_, err := c.m.Args()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want one mentioning %q", c.m, err, c.want)
		}
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int{"2048": 2048, "512M": 512, "2G": 2048, "1.5G": 1536, "4GiB": 4096, "1048576K": 1024} {
		got, err := ParseMemory(in)
		if err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1G", "1K"} {
		if _, err := ParseMemory(in); err == nil {
			t.Errorf("ParseMemory(%q) succeeded", in)
		}
	}
}

func TestShellQuote(t *testing.T) {
	got := ShellQuote([]string{"qemu", "-drive", "file=/a b/c,format=raw", "it's"})
	want := `qemu -drive 'file=/a b/c,format=raw' 'it'\''s'`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
