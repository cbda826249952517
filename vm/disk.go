package vm

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/redox-cook/cook/internal/fsutil"
)

// RunDisk puts image behind something the VM may write to, inside dir, so
// the built image stays pristine: a qcow2 overlay (qemu-img create -b) when
// overlay is true and qemu-img is on PATH, else a copy (reflinked where the
// filesystem can, sparse otherwise). It returns the path and format.
func RunDisk(ctx context.Context, image, dir string, overlay bool) (path, format string, err error) {
	abs, err := filepath.Abs(image)
	if err != nil {
		return "", "", fmt.Errorf("image %s: %w", image, err)
	}
	if !isFile(abs) {
		return "", "", fmt.Errorf("image %s: not found (build one with cook image, or pass --image FILE)", image)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("run directory: %w", err)
	}
	if overlay {
		if qemuImg, lerr := exec.LookPath("qemu-img"); lerr == nil {
			out := filepath.Join(dir, "disk.qcow2")
			_ = os.Remove(out)
			cmd := exec.CommandContext(ctx, qemuImg, "create", "-q", "-f", "qcow2", "-F", "raw", "-b", abs, out)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				return "", "", fmt.Errorf("qemu-img create overlay of %s: %w: %s", image, err, bytes.TrimSpace(stderr.Bytes()))
			}
			return out, "qcow2", nil
		}
	}
	out := filepath.Join(dir, "disk.img")
	_ = os.Remove(out)
	if err := fsutil.CopyFile(abs, out, 0o644); err != nil {
		return "", "", fmt.Errorf("copy %s for the VM: %w", image, err)
	}
	return out, "raw", nil
}

// FreeForwards returns want with every busy host port moved up to the next
// free one on 127.0.0.1 (seed-system.md §4.1, HEAD), and notes saying what
// moved. Ports already chosen are not reused.
func FreeForwards(want []Forward) ([]Forward, []string, error) {
	var out []Forward
	var notes []string
	taken := map[int]bool{}
	for _, f := range want {
		port := f.Host
		for tries := 0; ; tries++ {
			if tries == 100 || port > 65535 {
				return nil, notes, fmt.Errorf("no free host port from %d to %d for guest port %d", f.Host, port-1, f.Guest)
			}
			if !taken[port] && portFree(port) {
				break
			}
			port++
		}
		if port != f.Host {
			notes = append(notes, fmt.Sprintf("host port %d is busy; forwarding %d to guest port %d instead", f.Host, port, f.Guest))
		}
		taken[port] = true
		out = append(out, Forward{Host: port, Guest: f.Guest})
	}
	return out, notes, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
