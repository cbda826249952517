// Package sandbox runs a command on a fresh root that shows only what its Spec names.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// MountKind says what a Mount does.
type MountKind uint8

const (
	// ReadOnly bind-mounts Source at Target, read-only.
	ReadOnly MountKind = iota
	// Bind bind-mounts Source at Target, writable.
	Bind
	// Overlay mounts an overlay at Target with Source as the read-only lower
	// layer and Upper/Work (on one host filesystem) receiving every change.
	Overlay
	// Tmpfs mounts an empty writable tmpfs at Target.
	Tmpfs
	// Hide mounts an empty read-only tmpfs at Target, hiding what a mount
	// made before it shows there.
	Hide
)

func (k MountKind) String() string {
	switch k {
	case ReadOnly:
		return "read-only"
	case Bind:
		return "writable"
	case Overlay:
		return "overlay"
	case Tmpfs:
		return "tmpfs"
	case Hide:
		return "hidden"
	}
	return fmt.Sprintf("MountKind(%d)", uint8(k))
}

// Mount is one path of the sandbox's view. Target is the absolute path
// inside the sandbox; Source, Upper and Work are host paths. Source may be a
// file for ReadOnly and Bind.
type Mount struct {
	Kind   MountKind `json:"kind"`
	Source string    `json:"source,omitempty"`
	Target string    `json:"target"`
	Upper  string    `json:"upper,omitempty"`
	Work   string    `json:"work,omitempty"`
}

// Spec describes a sandboxed command.
type Spec struct {
	// Root is an empty host directory the new root is mounted on while it
	// is assembled; nothing is written to it on the host.
	Root string `json:"root"`
	// Dir is the working directory inside the sandbox.
	Dir string `json:"dir"`
	// Env is the command's complete environment.
	Env []string `json:"env"`
	// Mounts are added after the host's tool directories, in order.
	Mounts []Mount `json:"mounts"`
	// Network keeps the host's network (and adds /etc/resolv.conf and the
	// certificate store); by default there is only a loopback device, down.
	Network bool `json:"network"`
}

// HostTools are the host directories every sandbox shows read-only at
// their own paths (a symlink such as /bin -> usr/bin is kept a symlink).
var HostTools = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// HostEtc are the /etc entries every sandbox shows read-only: who is who,
// the dynamic loader's configuration and Debian's alternatives (cc, awk,
// ...). Nothing else of /etc is visible.
var HostEtc = []string{
	"/etc/passwd", "/etc/group", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf",
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
	"/etc/os-release", "/etc/debian_version", "/etc/perl", "/etc/localtime",
}

// hostNetworkEtc are added when the network is kept.
var hostNetworkEtc = []string{"/etc/resolv.conf", "/etc/ssl", "/etc/ca-certificates", "/etc/gai.conf"}

// initName is the argv[0] under which the cook binary performs a sandbox's
// setup (see init below); specEnv carries the Spec to it.
const (
	initName = "cook-sandbox-init"
	specEnv  = "COOK_SANDBOX_SPEC"
)

// ErrSpec is wrapped by errors in a Spec.
var ErrSpec = errors.New("sandbox spec")

// Check reports what is wrong with spec before anything runs: paths must be
// absolute and clean, and targets may not be the root.
func (spec Spec) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrSpec, fmt.Sprintf(format, args...))
	}
	if !isAbsClean(spec.Root) {
		return bad("root %q is not an absolute clean path", spec.Root)
	}
	if !isAbsClean(spec.Dir) {
		return bad("working directory %q is not an absolute clean path", spec.Dir)
	}
	for _, m := range spec.Mounts {
		if !isAbsClean(m.Target) || m.Target == "/" {
			return bad("mount target %q is not an absolute clean path below /", m.Target)
		}
		switch m.Kind {
		case ReadOnly, Bind:
			if !isAbsClean(m.Source) {
				return bad("%s mount of %q: source %q is not an absolute clean path", m.Kind, m.Target, m.Source)
			}
		case Overlay:
			for _, p := range []string{m.Source, m.Upper, m.Work} {
				if !isAbsClean(p) {
					return bad("overlay at %q: %q is not an absolute clean path", m.Target, p)
				}
			}
		case Tmpfs, Hide:
		default:
			return bad("mount at %q: unknown kind %d", m.Target, m.Kind)
		}
	}
	return nil
}

func isAbsClean(p string) bool { return filepath.IsAbs(p) && filepath.Clean(p) == p }

// Command returns a command running name (looked up on the PATH of
// spec.Env, inside the sandbox) with args. Cancelling ctx kills the
// sandbox's first process and so all of it. The returned command fails to
// start when spec is not valid.
//
// A sandboxed command starts in new user, mount, pid and (unless allowed)
// network namespaces, with no root needed. Before the command runs, an init
// step — cook itself, re-executed — mounts an empty tmpfs, fills it with the
// host's tool directories read-only (/usr, /bin, /lib*, a few /etc files), a
// private /dev, /proc and /tmp and the Spec's own mounts, pivots into it and
// detaches the host's root, so that nothing else of the host (its home
// directories, keys, other builds) can be named from inside. When the first
// process exits, the kernel kills every process left in the pid namespace.
func Command(ctx context.Context, spec Spec, name string, args ...string) *exec.Cmd {
	exe, exeErr := os.Executable()
	raw, jsonErr := json.Marshal(request{spec, append([]string{name}, args...)})
	cmd := exec.CommandContext(ctx, exe)
	cmd.Args = []string{initName}
	cmd.Env = []string{specEnv + "=" + string(raw)}
	switch {
	case exeErr != nil:
		cmd.Err = fmt.Errorf("sandbox: %w", exeErr)
	case jsonErr != nil:
		cmd.Err = fmt.Errorf("sandbox: %w", jsonErr)
	default:
		if err := spec.Check(); err != nil {
			cmd.Err = err
		}
	}
	flags := syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
	if !spec.Network {
		flags |= syscall.CLONE_NEWNET
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 uintptr(flags),
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
		Setpgid:                    true,
	}
	return cmd
}

var (
	probeOnce sync.Once
	probeErr  error
)

// Available reports whether sandboxes can be created here: user namespaces
// must be allowed and tmpfs, bind and overlay mounts possible inside them.
// The answer is computed once per process.
func Available() error {
	probeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cook-sandbox-probe-")
		if err != nil {
			probeErr = err
			return
		}
		defer os.RemoveAll(dir)
		for _, d := range []string{"root", "lower", "upper", "work"} {
			if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
				probeErr = err
				return
			}
		}
		spec := Spec{Root: filepath.Join(dir, "root"), Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}, Mounts: []Mount{
			{Kind: Overlay, Source: filepath.Join(dir, "lower"), Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"), Target: "/src"},
			{Kind: Hide, Target: "/src/hidden"},
		}}
		out, err := Command(context.Background(), spec, "true").CombinedOutput()
		if err != nil {
			probeErr = fmt.Errorf("cannot create a build sandbox (user, mount, pid and network namespaces with tmpfs, bind and overlay mounts): %v: %s; use --no-sandbox to build without one",
				err, strings.TrimSpace(string(out)))
		}
	})
	return probeErr
}
