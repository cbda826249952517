package toolchain

import (
	"fmt"
	"io"
	"strings"
)

// Status is what cook toolchain status reports of a toolchain.
type Status struct {
	Target      string            `json:"target"`
	GNU         string            `json:"gnu_target"`
	Provider    string            `json:"provider,omitempty"`
	Prefix      string            `json:"prefix,omitempty"`
	HostSysroot string            `json:"host_sysroot"`
	Ready       bool              `json:"ready"`
	Tools       map[string]string `json:"tools"`
	Versions    map[string]string `json:"versions,omitempty"`
	Missing     []string          `json:"missing"`
	Optional    []string          `json:"optional_missing,omitempty"`
	Env         map[string]string `json:"env"`
}

// Status describes tc: where it comes from, each tool, the host tools'
// versions, and what is missing with how to get it.
func (tc *Toolchain) Status() Status {
	return Status{Target: string(tc.Target), GNU: tc.Target.GNU(), Provider: string(tc.Provider), Prefix: tc.Prefix,
		HostSysroot: tc.HostSysroot, Ready: tc.Ready(), Tools: tc.Tools, Versions: tc.Versions,
		Missing: append([]string{}, tc.Missing...), Optional: tc.Optional, Env: tc.Env()}
}

// WriteText writes the status for people.
func (s Status) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "target:       %s (GNU %s)\n", s.Target, s.GNU)
	switch Provider(s.Provider) {
	case Prebuilt:
		b.WriteString("provider:     prebuilt (upstream's prefix, cook toolchain install)\n")
	case Bootstrapped:
		b.WriteString("provider:     bootstrapped from the host's Rust and LLVM (cook toolchain bootstrap)\n")
	}
	if s.Prefix != "" {
		fmt.Fprintf(&b, "prefix:       %s\n", s.Prefix)
	}
	fmt.Fprintf(&b, "host sysroot: %s\n", s.HostSysroot)
	for _, n := range sortedKeys(s.Tools) {
		v := s.Tools[n]
		if v == "" {
			v = "MISSING"
		}
		fmt.Fprintf(&b, "  %-10s %s\n", n, v)
	}
	if len(s.Versions) > 0 {
		b.WriteString("host tools:\n")
		for _, n := range sortedKeys(s.Versions) {
			fmt.Fprintf(&b, "  %-12s %s\n", n, s.Versions[n])
		}
	}
	if len(s.Optional) > 0 {
		fmt.Fprintf(&b, "optional, missing:\n  %s\n", strings.Join(s.Optional, "\n  "))
	}
	if s.Ready {
		b.WriteString("ready\n")
	} else {
		fmt.Fprintf(&b, "not ready:\n  %s\n", strings.Join(s.Missing, "\n  "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
