package cookbook

import (
	"encoding/binary"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// dirent is one directory entry: its name and file type (as the directory
// tells it; a symbolic link is not followed).
type dirent struct {
	name string
	typ  fs.FileMode // fs.ModeDir, fs.ModeSymlink, 0 for a file, or another type bit
}

func (e dirent) isDir() bool { return e.typ == fs.ModeDir }

// direntBufs are the buffers readDir reads directories into.
var direntBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// readDir lists the directory d sorted by name, as os.ReadDir does, with
// raw system calls: a directory opened through package os is registered
// with the network poller first, which costs a walk of thousands of
// directories more than reading them.
func readDir(d string) ([]dirent, error) {
	fd, err := syscall.Open(d, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(d, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: d, Err: err}
	}
	defer syscall.Close(fd)
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	var out []dirent
	for {
		n, err := syscall.Getdents(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return out, &fs.PathError{Op: "readdirent", Path: d, Err: err}
		}
		if n <= 0 {
			break
		}
		out = parseDirents(d, buf[:n], out)
	}
	slices.SortFunc(out, func(a, b dirent) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// parseDirents appends the entries of a getdents64 buffer (linux_dirent64:
// inode, offset, record length, type, NUL-terminated name), leaving out
// "." and "..".
func parseDirents(d string, buf []byte, out []dirent) []dirent {
	for len(buf) >= 19 {
		reclen := int(binary.NativeEndian.Uint16(buf[16:18]))
		if reclen < 19 || reclen > len(buf) {
			break
		}
		typ := buf[18]
		name := buf[19:reclen]
		if i := strings.IndexByte(string(name), 0); i >= 0 {
			name = name[:i]
		}
		buf = buf[reclen:]
		if string(name) == "." || string(name) == ".." {
			continue
		}
		e := dirent{name: string(name)}
		switch typ {
		case syscall.DT_DIR:
			e.typ = fs.ModeDir
		case syscall.DT_LNK:
			e.typ = fs.ModeSymlink
		case syscall.DT_REG:
		case syscall.DT_UNKNOWN:
			e.typ = lstatType(filepath.Join(d, e.name))
		default:
			e.typ = fs.ModeIrregular
		}
		out = append(out, e)
	}
	return out
}

// lstatType is the file type of p, for filesystems whose directories do
// not tell it.
func lstatType(p string) fs.FileMode {
	var st syscall.Stat_t
	if syscall.Lstat(p, &st) != nil {
		return fs.ModeIrregular
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return fs.ModeDir
	case syscall.S_IFLNK:
		return fs.ModeSymlink
	case syscall.S_IFREG:
		return 0
	}
	return fs.ModeIrregular
}
