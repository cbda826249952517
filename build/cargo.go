package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/redox-cook/cook/cookbook"
)

// UsesCargo reports whether r builds with cargo: the cargo template, or a
// custom script calling cookbook_cargo* or $COOKBOOK_CARGO.
func UsesCargo(r *cookbook.Recipe) bool {
	switch r.Build.Template {
	case cookbook.TemplateCargo:
		return true
	case cookbook.TemplateCustom:
		return strings.Contains(r.Build.Script, "cookbook_cargo") || strings.Contains(r.Build.Script, "COOKBOOK_CARGO")
	}
	return false
}

// CargoFetch is the fetch-phase step of cargo recipes: `cargo fetch`
// against the source's Cargo.lock into the shared cargo home, so that the
// build, which has no network, finds every crate. It does nothing for
// recipes that do not use cargo or whose manifest is not where the recipe
// says.
func (b *Builder) CargoFetch(ctx context.Context, r *cookbook.Recipe, sourceDir string) error {
	if !UsesCargo(r) || b.CargoHome == "" {
		return nil
	}
	manifest := filepath.Join(sourceDir, r.Build.CargoPath, "Cargo.toml")
	if _, err := os.Stat(manifest); err != nil {
		return nil
	}
	tc, err := b.Toolchain(ctx, b.Target)
	if err != nil {
		return err
	}
	home, err := b.prepareCargoHome(ctx, r.Name, tc, sourceDir, false)
	if err != nil {
		return err
	}
	args := []string{"fetch", "--manifest-path", manifest}
	if _, err := os.Stat(filepath.Join(filepath.Dir(manifest), "Cargo.lock")); err == nil && !r.Build.ClearLocked {
		args = append(args, "--locked")
	}
	if b.Offline || b.CargoVendor != "" {
		args = append(args, "--offline")
	}
	cargo, _ := cargoFor(tc) // a bootstrapped prefix's: never a rustup proxy
	cmd := exec.CommandContext(ctx, cargo, args...)
	cmd.Env = append(os.Environ(), "CARGO_HOME="+home)
	if home := rustupHome(); home != "" {
		cmd.Env = append(cmd.Env, "RUSTUP_HOME="+home)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cargo fetch for %s (%s): %v\n%s", r.Name, manifest, err, strings.TrimSpace(out.String()))
	}
	return nil
}
