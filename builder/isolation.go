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
		return hostCommand(ctx, d, scriptPath, env), func() {}, nil
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
	layers, err := makeLayers(overlay, root)
	if err != nil {
		return nil, nil, err
	}
	mounts, err := iso.mounts(d, v, layers)
	if err != nil {
		return nil, nil, err
	}
	spec := sandbox.Spec{Root: root, Dir: inBuild, Env: env, Mounts: mounts, Network: iso.network}
	cmd := sandbox.Command(ctx, spec, "bash", "-ex", v.path(scriptPath))
	cmd.WaitDelay = 5 * time.Second
	return cmd, cleanup, nil
}

// hostCommand runs the script unsandboxed, in the build directory.
func hostCommand(ctx context.Context, d scriptDirs, scriptPath string, env []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", "-ex", scriptPath)
	cmd.Dir, cmd.Env = d.build, env
	// the script and everything it starts form one process group, killed
	// as a whole on cancellation
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// makeLayers makes the upper and work directories of the source and cargo
// overlays under overlay, and the sandbox's root; it returns the layers by
// name ("source/upper", ...).
func makeLayers(overlay, root string) (map[string]string, error) {
	layers := map[string]string{}
	for _, l := range []string{"source/upper", "source/work", "cargo/upper", "cargo/work"} {
		p := filepath.Join(overlay, l)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, err
		}
		layers[l] = p
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	return layers, nil
}

// mounts lists what the sandbox shows of the host: the host tools, the
// build's directories at their paths in v (the source and the shared
// cargo home behind overlays with layers), the targets of the links the
// tools, prefix and shims hold, and an empty cookbook.
func (iso isolation) mounts(d scriptDirs, v *view, layers map[string]string) ([]sandbox.Mount, error) {
	l := &mountList{v: v, m: []sandbox.Mount{}}
	l.ownPaths(iso.hostTools...)
	for _, h := range iso.hide {
		l.add(sandbox.Mount{Kind: sandbox.Hide, Target: h})
	}
	l.ro(d.recipe)
	l.add(sandbox.Mount{Kind: sandbox.Overlay, Source: d.source, Target: inSource,
		Upper: layers["source/upper"], Work: layers["source/work"]})
	l.rw(d.build)
	l.rw(d.stage)
	l.rw(d.home)
	l.rw(d.tmp)
	l.ro(d.sysroot)
	if d.toolchain != d.sysroot {
		l.ro(d.toolchain)
	}
	l.ro(d.tools)
	if err := l.toolLinks(d.tools); err != nil {
		return nil, err
	}
	l.ro(d.prefix)
	l.ro(d.script)
	switch {
	case d.cargo != "" && iso.ownCargo:
		l.rw(d.cargo)
	case d.cargo != "":
		// crates the fetch phase downloaded; cargo's own writes (unpacked
		// sources, locks) land in this build's layer
		l.add(sandbox.Mount{Kind: sandbox.Overlay, Source: d.cargo, Target: inCargo,
			Upper: layers["cargo/upper"], Work: layers["cargo/work"]})
	}
	l.ro(d.vendor)
	if err := l.prefixLinks(d.prefix); err != nil {
		return nil, err
	}
	if err := l.shim(d.shim); err != nil {
		return nil, err
	}
	// COOKBOOK_ROOT names the recipe tree; other recipes stay invisible.
	l.add(sandbox.Mount{Kind: sandbox.Tmpfs, Target: inCookbook})
	return l.m, nil
}

// mountList collects a sandbox's mounts in order, each build directory at
// its path in v.
type mountList struct {
	v *view
	m []sandbox.Mount
}

func (l *mountList) add(m sandbox.Mount) { l.m = append(l.m, m) }

// ro shows host (when set) read-only.
func (l *mountList) ro(host string) {
	if host != "" {
		l.add(sandbox.Mount{Kind: sandbox.ReadOnly, Source: host, Target: l.v.path(host)})
	}
}

// rw shows host writable.
func (l *mountList) rw(host string) {
	l.add(sandbox.Mount{Kind: sandbox.Bind, Source: host, Target: l.v.path(host)})
}

// ownPaths shows host paths read-only at their own paths.
func (l *mountList) ownPaths(paths ...string) {
	for _, p := range paths {
		l.add(sandbox.Mount{Kind: sandbox.ReadOnly, Source: p, Target: p})
	}
}

// toolLinks shows the targets of the links in the tools directory (when
// set) outside /usr and /bin: tools that are links to cook itself
// (redox-initfs-ar).
func (l *mountList) toolLinks(tools string) error {
	if tools == "" {
		return nil
	}
	exes, err := linkTargets(tools)
	if err != nil {
		return err
	}
	for _, e := range exes {
		if !underAny(e, "/usr", "/bin") {
			l.ownPaths(e)
		}
	}
	return nil
}

// prefixLinks shows the directories of host tools a bootstrapped prefix
// (when set) links to from its sysroot/bin (cbindgen).
func (l *mountList) prefixLinks(prefix string) error {
	if prefix == "" {
		return nil
	}
	exes, err := linkTargets(filepath.Join(prefix, "sysroot", "bin"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range exes {
		if dir := filepath.Dir(e); !underAny(dir, "/usr", "/bin", "/lib", prefix) {
			l.ownPaths(dir)
		}
	}
	return nil
}

// shim shows the download shims' directory (when set), and cook's
// executable, which its links point at, where they point.
func (l *mountList) shim(shim string) error {
	if shim == "" {
		return nil
	}
	l.ro(shim)
	exes, err := linkTargets(shim)
	if err != nil {
		return err
	}
	l.ownPaths(exes...)
	return nil
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
