package fsutil

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReadRegular: a regular file up to the limit is read whole; a FIFO (no
// writer: an open that waited would hang the test), a directory, a device
// and a sparse file far over the limit are errors naming the path, at once
// and without allocating what the file's size says.
func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	exact := filepath.Join(dir, "exact")
	want := bytes.Repeat([]byte("x"), 4096)
	os.WriteFile(exact, want, 0o644)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "sparse")
	os.WriteFile(sparse, nil, 0o644)
	os.Truncate(sparse, 1<<40)

	if got, st, err := ReadRegular(exact, 4096); err != nil || !bytes.Equal(got, want) || st.Size != 4096 {
		t.Errorf("ReadRegular(exact, 4096) = %d bytes, %v", len(got), err)
	}
	if got, _, err := ReadRegular(empty, 0); err != nil || len(got) != 0 {
		t.Errorf("ReadRegular(empty) = %q, %v", got, err)
	}
	for _, tc := range []struct {
		path  string
		limit int64
		want  error
	}{
		{exact, 4095, ErrTooLarge},
		{sparse, 1 << 20, ErrTooLarge},
		{fifo, 1 << 20, ErrNotRegular},
		{dir, 1 << 20, ErrNotRegular},
		{"/dev/zero", 1 << 20, ErrNotRegular},
		{filepath.Join(dir, "missing"), 1, os.ErrNotExist},
	} {
		_, _, err := ReadRegular(tc.path, tc.limit)
		var pe *os.PathError
		if !errors.Is(err, tc.want) || !errors.As(err, &pe) || pe.Path != tc.path {
			t.Errorf("ReadRegular(%s, %d) = %v, want %v naming the path", tc.path, tc.limit, err, tc.want)
		}
	}
}

// TestOpenRegular: a regular file opens and reads; a FIFO with no writer (an
// open that waited would hang the test), a directory and a device are
// refused at once with ErrNotRegular naming the path.
func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("data"), 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenRegular(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(got) != "data" {
		t.Errorf("OpenRegular(file): read %q, %v", got, err)
	}
	for _, p := range []string{fifo, dir, "/dev/zero"} {
		f, err := OpenRegular(p)
		var pe *os.PathError
		if !errors.Is(err, ErrNotRegular) || !errors.As(err, &pe) || pe.Path != p {
			t.Errorf("OpenRegular(%s) = %v, want ErrNotRegular naming the path", p, err)
		}
		if f != nil {
			f.Close()
		}
	}
	if _, err := OpenRegular(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenRegular(missing) = %v", err)
	}
}
