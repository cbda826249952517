package vm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
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
	if err := copyFile(abs, out); err != nil {
		return "", "", fmt.Errorf("copy %s for the VM: %w", image, err)
	}
	return out, "raw", nil
}

// copyFile copies src to dst: a reflink when the filesystem supports it,
// else a sparse copy that skips all-zero blocks.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	_ = os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) == nil {
		return out.Close()
	}
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	var off int64
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			if !bytes.Equal(buf[:n], zero[:n]) {
				if _, err := out.WriteAt(buf[:n], off); err != nil {
					out.Close()
					return err
				}
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			out.Close()
			return rerr
		}
	}
	if err := out.Truncate(st.Size()); err != nil {
		out.Close()
		return err
	}
	return out.Close()
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
