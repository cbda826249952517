package script

import (
	"fmt"
	"strings"

	"github.com/redox-cook/cook/triple"
)

// Tools returns the helper commands a build's PATH holds, by file name, for
// target: cookbook_redoxer, which $COOKBOOK_CARGO names, and
// <gnu>-pkg-config, the sysroot-confined pkg-config. cargo is the cargo
// command to run; extraArgs are added to every cargo call (for example
// -Zbuild-std for a target without a prebuilt standard library).
func Tools(target triple.Triple, cargo string, extraArgs []string) map[string]string {
	return map[string]string{
		"cookbook_redoxer":           redoxer(target, cargo, extraArgs),
		target.GNU() + "-pkg-config": pkgConfig,
	}
}

// redoxer behaves like upstream's cookbook_redoxer for the subcommands
// recipes use: "cookbook_redoxer SUB args" runs "cargo SUB --target T args"
// with the cross environment recomputed from the shell's current variables,
// so the RUSTFLAGS DYNAMIC_INIT exported become the per-target rustflags
// (spec/cookbook.md §5.4). "cookbook_redoxer env CMD" runs CMD as is.
func redoxer(target triple.Triple, cargo string, extraArgs []string) string {
	t, tu := target.Underscored(), target.Upper()
	frame := ""
	switch target.Arch() {
	case "x86_64", "aarch64", "riscv64gc":
		frame = " -C force-frame-pointers=yes"
	}
	var extra strings.Builder
	for _, a := range extraArgs {
		extra.WriteString(" " + shellQuote(a))
	}
	return fmt.Sprintf(`#!/usr/bin/env bash
# cook: cookbook_redoxer for %[1]s — cargo with the cross environment
# recomputed from the caller's current variables.
set -e
if [ "$#" -eq 0 ]; then
    echo "cookbook_redoxer: usage: cookbook_redoxer <cargo subcommand|env> [args...]" >&2
    exit 2
fi
sub="$1"
shift
if [ "${1:-}" = "--" ]; then shift; fi
if [ "${sub}" = "env" ]; then exec "$@"; fi
export "CARGO_TARGET_%[2]s_RUSTFLAGS=${RUSTFLAGS}%[3]s"
unset RUSTFLAGS
if [ -n "${CPPFLAGS}" ]; then
    export "CFLAGS_%[4]s=${CPPFLAGS}" "CXXFLAGS_%[4]s=${CPPFLAGS}"
fi
exec %[5]s "${sub}" --target %[1]s%[6]s "$@"
`, target, tu, frame, t, shellQuote(cargo), extra.String())
}

const pkgConfig = `#!/bin/sh
# cook: pkg-config confined to the recipe's sysroot; static unless the
# script switched to dynamic linking (DYNAMIC_INIT).
export PKG_CONFIG_SYSROOT_DIR="${COOKBOOK_SYSROOT}"
export PKG_CONFIG_LIBDIR="${COOKBOOK_SYSROOT}/lib/pkgconfig"
export PKG_CONFIG_PATH="${COOKBOOK_SYSROOT}/share/pkgconfig"
if [ -n "${COOKBOOK_DYNAMIC}" ]; then
    exec pkg-config "$@"
fi
exec pkg-config --static "$@"
`

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
