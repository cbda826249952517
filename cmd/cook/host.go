package main

import "runtime"

// hostTriple is the target triple of the machine cook runs on, the target of
// host: recipes.
func hostTriple() string {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "riscv64": "riscv64gc"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	return arch + "-unknown-" + runtime.GOOS + "-gnu"
}
