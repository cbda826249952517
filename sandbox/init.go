package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// init turns a process started by Command into the sandbox's setup step:
// any binary importing this package (cook, and the tests of packages that
// build) becomes the init when run under initName, before main runs.
func init() {
	if len(os.Args) == 0 || os.Args[0] != initName {
		return
	}
	// Credentials are per thread: setup, dropping privileges and exec
	// happen on this one.
	runtime.LockOSThread()
	req, err := readRequest(os.Getenv(specEnv))
	if err == nil {
		err = setup(req.Spec)
	}
	if err == nil {
		err = execIn(req.Spec, req.Argv)
	}
	fmt.Fprintf(os.Stderr, "cook sandbox: %v\n", err)
	os.Exit(127)
}

// request is what Command passes to the init: the Spec and the command.
type request struct {
	Spec
	Argv []string `json:"argv"`
}

// readRequest decodes and checks the init's request: nothing is mounted
// for a Spec that Check refuses (a mount target naming a path outside the
// new root, say), however the init was started.
func readRequest(raw string) (request, error) {
	var req request
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		return req, fmt.Errorf("bad request: %w", err)
	}
	if len(req.Argv) == 0 {
		return req, errors.New("bad request: no command")
	}
	return req, req.Spec.Check()
}

// setup assembles the new root on spec.Root and pivots into it. It runs as
// root of the new user namespace, pid 1 of the new pid namespace.
func setup(spec Spec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	root := spec.Root
	if err := unix.Mount("cook-root", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("new root on %s: %w", root, err)
	}
	in := func(p string) string { return filepath.Join(root, p) }

	for _, p := range HostTools {
		if err := showHost(root, p, p); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(in("/etc"), 0o755); err != nil {
		return err
	}
	etc := HostEtc
	if spec.Network {
		etc = append(append([]string{}, etc...), hostNetworkEtc...)
	}
	for _, p := range etc {
		if err := showHost(root, p, p); err != nil {
			return err
		}
	}
	if err := makeDev(in("/dev")); err != nil {
		return fmt.Errorf("/dev: %w", err)
	}
	for _, m := range mountOrder(spec.Mounts) {
		if err := mountOne(root, m); err != nil {
			return fmt.Errorf("%s mount at %s: %w", m.Kind, m.Target, err)
		}
	}
	if err := os.MkdirAll(in("/proc"), 0o555); err != nil {
		return err
	}
	if err := unix.Mount("proc", in("/proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("/proc: %w", err)
	}

	old := in("/.old-root")
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old-root", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	if err := os.Remove("/.old-root"); err != nil {
		return err
	}
	// The root itself holds only mount points: nothing may be written there.
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("making / read-only: %w", err)
	}
	return nil
}

// showHost makes the host's src visible read-only at dst inside root: a
// symlink is copied as a symlink, a directory or file bind-mounted. A
// missing src is left out.
func showHost(root, src, dst string) error {
	st, err := os.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	target := filepath.Join(root, dst)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		l, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(l, target)
	}
	return bindReadOnly(src, target, st.IsDir())
}

// mountOne performs m inside root.
func mountOne(root string, m Mount) error {
	target := filepath.Join(root, m.Target)
	switch m.Kind {
	case ReadOnly, Bind:
		st, err := os.Stat(m.Source)
		if err != nil {
			return err
		}
		if m.Kind == ReadOnly {
			return bindReadOnly(m.Source, target, st.IsDir())
		}
		if err := makeTarget(target, st.IsDir()); err != nil {
			return err
		}
		return unix.Mount(m.Source, target, "", unix.MS_BIND|unix.MS_REC, "")
	case Overlay:
		if err := makeTarget(target, true); err != nil {
			return err
		}
		opts := "lowerdir=" + escapeOverlay(m.Source) + ",upperdir=" + escapeOverlay(m.Upper) + ",workdir=" + escapeOverlay(m.Work)
		return unix.Mount("cook-overlay", target, "overlay", 0, opts)
	case Tmpfs:
		if err := makeTarget(target, true); err != nil {
			return err
		}
		return unix.Mount("cook-tmp", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777")
	case Hide:
		st, err := os.Stat(target)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // nothing there to hide
		}
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return bindReadOnly("/dev/null", target, false)
		}
		return unix.Mount("cook-hidden", target, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, "size=4k,mode=0755")
	}
	return fmt.Errorf("unknown mount kind %d", m.Kind)
}

// makeTarget creates a mount point: a directory, or an empty file.
func makeTarget(p string, dir bool) error {
	if dir {
		return os.MkdirAll(p, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat(p); err == nil {
		return nil
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// bindReadOnly bind-mounts src at target (recursively for directories) and
// makes the whole mount tree read-only.
func bindReadOnly(src, target string, dir bool) error {
	if err := makeTarget(target, dir); err != nil {
		return err
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	err := unix.MountSetattr(-1, target, unix.AT_RECURSIVE, attr)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("read-only %s: %w", src, err)
	}
	// Kernels before 5.12: remount the top mount read-only, keeping the
	// flags the user namespace may not drop.
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	if err := unix.Mount("", target, "", flags, ""); err != nil {
		return fmt.Errorf("read-only %s: %w", src, err)
	}
	return nil
}

// makeDev fills dir with a minimal /dev: the harmless character devices
// bound from the host, a private devpts and shm, and the usual links.
func makeDev(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("cook-dev", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return err
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		if err := makeTarget(filepath.Join(dir, d), false); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+d, filepath.Join(dir, d), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("/dev/%s: %w", d, err)
		}
	}
	for name, to := range map[string]string{
		"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
		"ptmx": "pts/ptmx",
	} {
		if err := os.Symlink(to, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	// Terminals for programs that want one (expect, some test suites);
	// optional, as some kernels refuse devpts in a user namespace.
	_ = unix.Mount("devpts", filepath.Join(dir, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
	return unix.Mount("cook-shm", filepath.Join(dir, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777")
}

// execIn replaces the init by argv[0], looked up on spec.Env's PATH, in
// spec.Dir.
func execIn(spec Spec, argv []string) error {
	if err := unix.Chdir(spec.Dir); err != nil {
		return fmt.Errorf("working directory %s: %w", spec.Dir, err)
	}
	path := argv[0]
	if !strings.Contains(path, "/") {
		var err error
		if path, err = lookPath(path, envValue(spec.Env, "PATH")); err != nil {
			return err
		}
	}
	if err := dropPrivileges(); err != nil {
		return err
	}
	return fmt.Errorf("exec %s: %w", argv[0], unix.Exec(path, argv, spec.Env))
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func lookPath(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found on the sandbox's PATH %q", name, path)
}

// escapeOverlay escapes the characters overlayfs options treat specially.
func escapeOverlay(s string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`, `:`, `\:`).Replace(s)
}

// dropPrivileges leaves the command no capability, in this namespace or
// through any program it runs: what setup mounted read-only stays so.
// (A user namespace the command makes itself sees those mounts locked.)
func dropPrivileges() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	last := 40
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("dropping capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// mountOrder returns mounts, with an empty /tmp when none is there, in the
// order they must be made: a mount at a shallower path first, so that a
// mount below another (a host directory under /tmp, say, where the build's
// own /tmp goes) is not hidden by it; mounts at one depth keep their order.
func mountOrder(mounts []Mount) []Mount {
	out := append([]Mount{}, mounts...)
	if !slices.ContainsFunc(out, func(m Mount) bool { return path.Clean(m.Target) == "/tmp" }) {
		out = append(out, Mount{Kind: Tmpfs, Target: "/tmp"})
	}
	depth := func(m Mount) int { return strings.Count(path.Clean(m.Target), "/") }
	slices.SortStableFunc(out, func(a, b Mount) int { return depth(a) - depth(b) })
	return out
}
