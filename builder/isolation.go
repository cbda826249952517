package builder

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/redox-cook/cook/sandbox"
	"github.com/redox-cook/cook/workdir"
)

// Where a sandboxed build's directories appear to its script. They are the
// same for every recipe and work directory, so that paths a compiler writes
// into its output (debug info, panic locations) do not depend on where the
// work directory is: two work directories build the same bytes.
const (
	inRecipe    = "/cook/recipe"
	inSource    = "/cook/source"
	inBuild     = "/cook/build"
	inStage     = "/cook/stage"
	inSysroot   = "/cook/sysroot"
	inToolchain = "/cook/toolchain"
	inTools     = "/cook/tools"
	inPrefix    = "/cook/prefix"
	inCargo     = "/cook/cargo"
	inHome      = "/cook/home"
	inShim      = "/cook/shim"
	inCookbook  = "/cook/cookbook"
	inScript    = "/cook/script"
	inVendor    = "/cook/vendor"
	inTmp       = "/tmp"
)

// view maps the host directories a build uses to the paths its script
// sees: the fixed paths above in the sandbox, the host paths themselves
// without one.
type view struct {
	host, inside []string // parallel, longest host path first after sort
}

func (v *view) add(host, inside string) {
	if host == "" {
		return
	}
	v.host = append(v.host, filepath.Clean(host))
	v.inside = append(v.inside, inside)
}

// path is where host path p appears to the script.
func (v *view) path(p string) string {
	best := -1
	for i, h := range v.host {
		if (p == h || strings.HasPrefix(p, h+"/")) && (best < 0 || len(h) > len(v.host[best])) {
			best = i
		}
	}
	if best < 0 {
		return p
	}
	return v.inside[best] + strings.TrimPrefix(p, v.host[best])
}

// list maps every element of a PATH-style list.
func (v *view) list(l string) string {
	parts := strings.Split(l, ":")
	for i, p := range parts {
		parts[i] = v.path(p)
	}
	return strings.Join(parts, ":")
}

// scriptDirs are the host directories of one build.
type scriptDirs struct {
	recipe, source, build, stage, sysroot, toolchain, tools, prefix, cargo, home, tmp string
	// script holds build.sh, the script itself.
	script string
	// overlay holds the sandbox's overlay layers; root is its mount point.
	overlay, root string
	// shim is the download shims' directory ("" without shims): its
	// symlinks' targets are shown at their own paths.
	shim string
	// vendor is the vendored crates' directory ("" without one).
	vendor string
}

// newView is the view a build's script has of d: fixed paths when
// sandboxed, the host's own otherwise.
func newView(d scriptDirs, sandboxed bool) *view {
	v := &view{}
	if !sandboxed {
		return v
	}
	v.add(d.recipe, inRecipe)
	v.add(d.source, inSource)
	v.add(d.build, inBuild)
	v.add(d.stage, inStage)
	v.add(d.sysroot, inSysroot)
	if d.toolchain != d.sysroot {
		v.add(d.toolchain, inToolchain)
	}
	v.add(d.tools, inTools)
	v.add(d.prefix, inPrefix)
	v.add(d.cargo, inCargo)
	v.add(d.home, inHome)
	v.add(d.tmp, inTmp)
	v.add(d.shim, inShim)
	v.add(d.script, inScript)
	v.add(d.vendor, inVendor)
	return v
}

// isolation is how one build's script runs.
type isolation struct {
	sandboxed bool
	network   bool
	// hide are host paths the sandbox must not show even below a host tool
	// directory (a Debian cross compiler's default include and lib dirs).
	hide []string
	// hostTools are host directories outside /usr that the script's tools
	// need, shown read-only at their own paths (a rustup installation).
	hostTools []string
	// ownCargo: the cargo home is the build's own (writable), not the
	// shared one (behind an overlay).
	ownCargo bool
}

// command returns the command running the script at scriptPath (a host
// path) for d, with env (already in the script's view), and its cleanup.
func (iso isolation) command(ctx context.Context, d scriptDirs, v *view, scriptPath string, env []string) (*exec.Cmd, func(), error) {
	if !iso.sandboxed {
		cmd := exec.CommandContext(ctx, "bash", "-ex", scriptPath)
		cmd.Dir, cmd.Env = d.build, env
		// the script and everything it starts form one process group, killed
		// as a whole on cancellation
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		return cmd, func() {}, nil
	}
	if err := sandbox.Available(); err != nil {
		return nil, nil, err
	}
	overlay, root := d.overlay, d.root
	cleanup := func() {
		workdir.RemoveAll(overlay)
		os.Remove(root)
	}
	cleanup()
	layers := map[string]string{}
	for _, l := range []string{"source/upper", "source/work", "cargo/upper", "cargo/work"} {
		p := filepath.Join(overlay, l)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, nil, err
		}
		layers[l] = p
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, nil, err
	}
	mounts := []sandbox.Mount{}
	for _, h := range iso.hostTools {
		mounts = append(mounts, sandbox.Mount{Kind: sandbox.ReadOnly, Source: h, Target: h})
	}
	for _, h := range iso.hide {
		mounts = append(mounts, sandbox.Mount{Kind: sandbox.Hide, Target: h})
	}
	ro := func(host string) {
		if host != "" {
			mounts = append(mounts, sandbox.Mount{Kind: sandbox.ReadOnly, Source: host, Target: v.path(host)})
		}
	}
	rw := func(host string) {
		mounts = append(mounts, sandbox.Mount{Kind: sandbox.Bind, Source: host, Target: v.path(host)})
	}
	ro(d.recipe)
	mounts = append(mounts, sandbox.Mount{Kind: sandbox.Overlay, Source: d.source, Target: inSource,
		Upper: layers["source/upper"], Work: layers["source/work"]})
	rw(d.build)
	rw(d.stage)
	rw(d.home)
	rw(d.tmp)
	ro(d.sysroot)
	if d.toolchain != d.sysroot {
		ro(d.toolchain)
	}
	ro(d.tools)
	if d.tools != "" {
		// tools that are links to cook itself (redox-initfs-ar)
		exes, err := linkTargets(d.tools)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range exes {
			if !underAny(e, "/usr", "/bin") {
				mounts = append(mounts, sandbox.Mount{Kind: sandbox.ReadOnly, Source: e, Target: e})
			}
		}
	}
	ro(d.prefix)
	ro(d.script)
	switch {
	case d.cargo != "" && iso.ownCargo:
		rw(d.cargo)
	case d.cargo != "":
		// crates the fetch phase downloaded; cargo's own writes (unpacked
		// sources, locks) land in this build's layer
		mounts = append(mounts, sandbox.Mount{Kind: sandbox.Overlay, Source: d.cargo, Target: inCargo,
			Upper: layers["cargo/upper"], Work: layers["cargo/work"]})
	}
	ro(d.vendor)
	if d.prefix != "" {
		// a bootstrapped prefix links host tools kept elsewhere (cbindgen)
		exes, err := linkTargets(filepath.Join(d.prefix, "sysroot", "bin"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
		for _, e := range exes {
			if dir := filepath.Dir(e); !underAny(dir, "/usr", "/bin", "/lib", d.prefix) {
				mounts = append(mounts, sandbox.Mount{Kind: sandbox.ReadOnly, Source: dir, Target: dir})
			}
		}
	}
	if d.shim != "" {
		ro(d.shim)
		// the shim links point at cook's executable: show it where they point
		exes, err := linkTargets(d.shim)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range exes {
			mounts = append(mounts, sandbox.Mount{Kind: sandbox.ReadOnly, Source: e, Target: e})
		}
	}
	// COOKBOOK_ROOT names the recipe tree; other recipes stay invisible.
	mounts = append(mounts, sandbox.Mount{Kind: sandbox.Tmpfs, Target: inCookbook})
	spec := sandbox.Spec{Root: root, Dir: inBuild, Env: env, Mounts: mounts, Network: iso.network}
	cmd := sandbox.Command(ctx, spec, "bash", "-ex", v.path(scriptPath))
	cmd.WaitDelay = 5 * time.Second
	return cmd, cleanup, nil
}

// underAny reports whether p is one of roots or below one.
func underAny(p string, roots ...string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// linkTargets lists the distinct absolute targets of the symlinks in the
// tree at dir.
func linkTargets(dir string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.Type()&fs.ModeSymlink == 0 {
			return err
		}
		l, err := os.Readlink(p)
		if err != nil || !filepath.IsAbs(l) || seen[l] {
			return err
		}
		seen[l] = true
		out = append(out, filepath.Clean(l))
		return nil
	})
	sort.Strings(out)
	return out, err
}
