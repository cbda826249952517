package builder

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/redox-cook/cook/cookbook"
)

// UsesCargo reports whether a build of r runs cargo, with its source in
// sourceDir: the cargo template, a script that names cargo (cookbook_cargo,
// $COOKBOOK_CARGO, a plain cargo call), or a Cargo.lock where the recipe's
// cargopath points (a Makefile-driven cargo build, like the kernel's). It
// is the one rule for what the cargo home is an input of, and for what the
// fetch phase runs cargo fetch for.
func UsesCargo(r *cookbook.Recipe, sourceDir string) bool {
	if r.Build.Template == cookbook.TemplateCargo ||
		strings.Contains(r.Build.Script, "cargo") || strings.Contains(r.Build.Script, "CARGO") {
		return true
	}
	if sourceDir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(sourceDir, r.Build.CargoPath, "Cargo.lock"))
	return err == nil
}

// HostCargo is how to run cargo on the host (outside any sandbox) for r's
// source in sourceDir — the fetch phase's cargo fetch: the toolchain's
// cargo (a bootstrapped prefix's, never a rustup proxy) and the
// environment naming the cargo home whose config a build of r uses.
func (b *Builder) HostCargo(ctx context.Context, r *cookbook.Recipe, sourceDir string) (cargo string, env []string, err error) {
	tc, err := b.Toolchain(ctx, b.Target)
	if err != nil {
		return "", nil, err
	}
	home, err := b.prepareCargoHome(ctx, r.Name, tc, sourceDir, false)
	if err != nil {
		return "", nil, err
	}
	cargo, _ = cargoFor(tc)
	env = append(os.Environ(), "CARGO_HOME="+home)
	if rh := rustupHome(); rh != "" {
		env = append(env, "RUSTUP_HOME="+rh)
	}
	return cargo, env, nil
}
