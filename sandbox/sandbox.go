// Package sandbox runs build commands isolated from the host: in new user,
// mount, pid and network namespaces (no root needed), with chosen paths made
// read-only, hidden behind empty tmpfs mounts, or overlaid so that writes land
// elsewhere. When the command's first process exits, the kernel kills every
// process left in its pid namespace, so nothing outlives a build.
package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// MountKind says what a Mount does.
type MountKind uint8

const (
	// ReadOnly bind-mounts Target onto itself read-only.
	ReadOnly MountKind = iota
	// Hide mounts an empty read-only tmpfs over Target.
	Hide
	// Overlay mounts an overlay at Target with Target's current contents as
	// the read-only lower layer and Upper/Work receiving every change.
	Overlay
	// Bind bind-mounts Source at Target.
	Bind
)

// Mount is one change to the sandbox's view of the filesystem.
type Mount struct {
	Kind   MountKind
	Target string
	Source string // Bind
	Upper  string // Overlay: directory receiving changes
	Work   string // Overlay: overlayfs work directory, on Upper's filesystem
}

// Spec describes a sandboxed command.
type Spec struct {
	Dir     string   // working directory
	Env     []string // the complete environment
	Mounts  []Mount  // applied in order
	Network bool     // keep the host's network (default: only a loopback device, down)
}

// Command returns a command running name with args inside the sandbox.
// Cancelling ctx kills the sandbox's first process and so all of it.
func Command(ctx context.Context, spec Spec, name string, args ...string) *exec.Cmd {
	argv := append([]string{"-c", setupScript(spec.Mounts), "cook-sandbox", name}, args...)
	cmd := exec.CommandContext(ctx, "/bin/sh", argv...)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	flags := syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID
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

// setupScript performs the mounts inside the new namespaces, then execs the
// command. It runs as pid 1 of the new pid namespace.
func setupScript(mounts []Mount) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	b.WriteString("mount --make-rprivate /\n")
	b.WriteString("mount -t proc -o nosuid,nodev,noexec proc /proc 2>/dev/null || true\n")
	for _, m := range mounts {
		t := quote(m.Target)
		switch m.Kind {
		case ReadOnly:
			fmt.Fprintf(&b, "mount --bind %s %s\nmount -o remount,bind,ro %s\n", t, t, t)
		case Hide:
			fmt.Fprintf(&b, "mount -t tmpfs -o ro,size=4k,mode=0755 cook-hidden %s\n", t)
		case Overlay:
			fmt.Fprintf(&b, "mount -t overlay cook-overlay -o %s %s\n",
				quote("lowerdir="+escapeOverlay(m.Target)+",upperdir="+escapeOverlay(m.Upper)+",workdir="+escapeOverlay(m.Work)), t)
		case Bind:
			fmt.Fprintf(&b, "mount --bind %s %s\n", quote(m.Source), t)
		}
	}
	b.WriteString("exec \"$@\"\n")
	return b.String()
}

// quote makes s one shell word.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// escapeOverlay escapes the characters overlayfs options treat specially.
func escapeOverlay(s string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`, `:`, `\:`).Replace(s)
}

var (
	probeOnce sync.Once
	probeErr  error
)

// Available reports whether sandboxes can be created here: user namespaces
// must be allowed and overlay and tmpfs mountable inside them. The answer is
// computed once per process.
func Available() error {
	probeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cook-sandbox-probe-")
		if err != nil {
			probeErr = err
			return
		}
		defer os.RemoveAll(dir)
		for _, d := range []string{"lower", "upper", "work", "hidden"} {
			os.Mkdir(dir+"/"+d, 0o755)
		}
		spec := Spec{Dir: "/", Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, Mounts: []Mount{
			{Kind: Overlay, Target: dir + "/lower", Upper: dir + "/upper", Work: dir + "/work"},
			{Kind: Hide, Target: dir + "/hidden"},
			{Kind: ReadOnly, Target: dir + "/hidden"},
		}}
		out, err := Command(context.Background(), spec, "/bin/true").CombinedOutput()
		if err != nil {
			probeErr = fmt.Errorf("cannot create a build sandbox (user, mount, pid and network namespaces with overlayfs): %v: %s; use --no-sandbox to build without one",
				err, strings.TrimSpace(string(out)))
		}
	})
	return probeErr
}
