package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/internal/fsutil"
)

// cargoFetch is the fetch phase's step for recipes that build with cargo:
// `cargo fetch` against the source's Cargo.lock into the cargo home the
// build will use, so that the build, which has no network, finds every
// crate (with a vendor directory, offline: it checks they are all there).
// It does nothing for recipes that do not use cargo or whose manifest is
// not where the recipe says.
func (p *Pipeline) cargoFetch(ctx context.Context, b *builder.Builder, r *cookbook.Recipe, sourceDir string) error {
	if b.CargoHome == "" || !builder.UsesCargo(r, sourceDir) {
		return nil
	}
	manifest := filepath.Join(sourceDir, r.Build.CargoPath, "Cargo.toml")
	if _, err := os.Stat(manifest); err != nil {
		return nil
	}
	cargo, env, err := b.HostCargo(ctx, r, sourceDir)
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
	cmd := exec.CommandContext(ctx, cargo, args...)
	cmd.Env = env
	out := fsutil.NewTail(30, 8<<10) // the error's end, not every crate downloaded before it
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cargo fetch for %s (%s): %v\n%s", r.Name, manifest, err, strings.TrimSpace(out.String()))
	}
	return nil
}
