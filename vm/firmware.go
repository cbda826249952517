package vm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// OVMFCandidates are the places FindOVMF looks, in order: pflash pairs
// (code, variable store) first, then single images for -bios.
var OVMFCandidates = [][2]string{
	{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"}, // Debian, Ubuntu
	{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},
	{"/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"},     // Fedora
	{"/usr/share/edk2/x64/OVMF_CODE.4m.fd", "/usr/share/edk2/x64/OVMF_VARS.4m.fd"}, // Arch
	{"/usr/share/edk2-ovmf/x64/OVMF_CODE.fd", "/usr/share/edk2-ovmf/x64/OVMF_VARS.fd"},
	{"/usr/share/qemu/edk2-x86_64-code.fd", ""}, // QEMU's own build
	{"/usr/share/ovmf/OVMF.fd", ""},
	{"/usr/share/qemu/OVMF.fd", ""},
}

// CHFirmwareCandidates are the places FindCHFirmware looks, in order.
var CHFirmwareCandidates = []string{
	"/usr/share/cloud-hypervisor/CLOUDHV.fd",
	"/usr/share/edk2/cloudhv/CLOUDHV.fd",
	"/usr/share/OVMF/CLOUDHV.fd",
	"/usr/share/cloud-hypervisor/hypervisor-fw",
	"/usr/lib/cloud-hypervisor/hypervisor-fw",
	"/usr/local/share/cloud-hypervisor/CLOUDHV.fd",
	"/usr/local/share/cloud-hypervisor/hypervisor-fw",
}

// FindOVMF returns the host's OVMF firmware for QEMU. When given is not
// empty it is used: an OVMF_CODE file with an OVMF_VARS file beside it is a
// pflash pair, anything else a single -bios image. Firmware.Vars names the
// read-only template; Prepare copies it before use.
func FindOVMF(given string) (Firmware, error) {
	if given != "" {
		if !isFile(given) {
			return Firmware{}, fmt.Errorf("firmware %s: not a file", given)
		}
		base := filepath.Base(given)
		if strings.Contains(base, "CODE") {
			vars := filepath.Join(filepath.Dir(given), strings.Replace(base, "CODE", "VARS", 1))
			if isFile(vars) {
				return Firmware{Code: given, Vars: vars}, nil
			}
		}
		return Firmware{Code: given}, nil
	}
	for _, c := range OVMFCandidates {
		if isFile(c[0]) && (c[1] == "" || isFile(c[1])) {
			return Firmware{Code: c[0], Vars: c[1]}, nil
		}
	}
	return Firmware{}, errors.New("no OVMF UEFI firmware found (install ovmf, pass --firmware FILE, or boot with --bios)")
}

// FindCHFirmware returns Cloud Hypervisor's firmware: given when not empty,
// else the first of CHFirmwareCandidates that exists.
func FindCHFirmware(given string) (Firmware, error) {
	if given != "" {
		if !isFile(given) {
			return Firmware{}, fmt.Errorf("firmware %s: not a file", given)
		}
		return Firmware{Code: given}, nil
	}
	for _, c := range CHFirmwareCandidates {
		if isFile(c) {
			return Firmware{Code: c}, nil
		}
	}
	return Firmware{}, fmt.Errorf("no Cloud Hypervisor firmware found (looked for %s); pass --firmware CLOUDHV.fd or hypervisor-fw",
		strings.Join(CHFirmwareCandidates, ", "))
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
