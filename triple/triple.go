// Package triple is the target triple — a Redox target, the host or a Linux triple — and the names tools derive from it.
package triple

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// Triple is a Rust-style target triple such as x86_64-unknown-redox.
type Triple string

// RedoxTargets are the Redox targets upstream supports.
var RedoxTargets = []Triple{
	"x86_64-unknown-redox", "aarch64-unknown-redox", "i586-unknown-redox",
	"i686-unknown-redox", "riscv64gc-unknown-redox",
}

// Host returns the triple of the machine cook runs on.
func Host() Triple {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "riscv64": "riscv64gc"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	return Triple(arch + "-unknown-" + runtime.GOOS + "-gnu")
}

// linuxArches and linuxEnvs are the fields a Linux triple may have.
var (
	linuxArches = []string{"x86_64", "aarch64", "i586", "i686", "riscv64gc", "riscv64", "arm", "armv7", "powerpc64le",
		"powerpc64", "s390x", "mips64el", "loongarch64"}
	linuxEnvs = []string{"gnu", "gnueabi", "gnueabihf", "gnux32", "gnuabi64", "musl", "musleabi", "musleabihf"}
)

// Parse checks that s is a triple cook can build for: a Redox target, the
// host, or a Linux triple (arch-vendor-linux-env) of a known architecture
// and environment. A triple names directories in the work directory, so
// nothing else is accepted.
func Parse(s string) (Triple, error) {
	t := Triple(s)
	if t.IsRedox() || t == Host() {
		return t, nil
	}
	parts := strings.Split(s, "-")
	if len(parts) == 4 && parts[2] == "linux" && slices.Contains(linuxArches, parts[0]) &&
		isWord(parts[1]) && slices.Contains(linuxEnvs, parts[3]) {
		return t, nil
	}
	var known []string
	for _, r := range RedoxTargets {
		known = append(known, string(r))
	}
	return "", fmt.Errorf("unknown target %q: want one of %s, the host %s, or a Linux triple such as aarch64-unknown-linux-gnu",
		s, strings.Join(known, ", "), Host())
}

// isWord reports a non-empty run of lower-case letters and digits.
func isWord(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Arch is the first field: x86_64, aarch64, i586, riscv64gc, ...
func (t Triple) Arch() string { return strings.SplitN(string(t), "-", 2)[0] }

// OS is the third field: redox, linux.
func (t Triple) OS() string {
	p := strings.Split(string(t), "-")
	if len(p) < 3 {
		return ""
	}
	return p[2]
}

// IsRedox reports whether t is one of the Redox targets.
func (t Triple) IsRedox() bool {
	for _, r := range RedoxTargets {
		if t == r {
			return true
		}
	}
	return false
}

// IsHost reports whether t is the build machine's triple.
func (t Triple) IsHost() bool { return t == Host() }

// GNU returns the GNU triple binutils and gcc use: riscv64gc-unknown-redox →
// riscv64-unknown-redox, aarch64-unknown-linux-gnu → aarch64-linux-gnu. The
// Redox triples are their own GNU names.
func (t Triple) GNU() string {
	arch, rest, _ := strings.Cut(string(t), "-")
	if arch == "riscv64gc" {
		arch = "riscv64"
	}
	if t.OS() == "linux" {
		// arch-unknown-linux-gnu → arch-linux-gnu (Debian's names)
		p := strings.Split(rest, "-")
		if len(p) == 3 && p[0] == "unknown" {
			return arch + "-" + p[1] + "-" + p[2]
		}
	}
	return arch + "-" + rest
}

// Underscored is t with '-' replaced by '_' (CC_x86_64_unknown_redox).
func (t Triple) Underscored() string { return strings.ReplaceAll(string(t), "-", "_") }

// Upper is Underscored in upper case (CARGO_TARGET_X86_64_UNKNOWN_REDOX_LINKER).
func (t Triple) Upper() string { return strings.ToUpper(t.Underscored()) }

// Is64 reports a 64-bit architecture.
func (t Triple) Is64() bool {
	switch t.Arch() {
	case "x86_64", "aarch64", "riscv64gc", "riscv64":
		return true
	}
	return false
}

// StaticOnly reports targets where DYNAMIC_INIT does nothing upstream.
func (t Triple) StaticOnly() bool {
	return t == "i586-unknown-redox" || t == "riscv64gc-unknown-redox"
}

// IsX86 reports an x86 architecture (32 or 64 bits).
func (t Triple) IsX86() bool {
	switch t.Arch() {
	case "x86_64", "i586", "i686":
		return true
	}
	return false
}
