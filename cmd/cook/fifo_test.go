package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redox-cook/cook/pkgar"
)

// TestInputFIFO names a FIFO with no writer as every file a reader command
// opens: each must refuse it at once ("not a regular file", exit non-zero).
// An os.Open of it blocks in the kernel until a writer comes, so cook hung
// there past Ctrl-C (the signal cancels a context nothing was waiting on).
func TestInputFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not a package"), 0o644)
	book := filepath.Join(dir, "book")
	os.MkdirAll(filepath.Join(book, "recipes", "x"), 0o755)
	os.WriteFile(filepath.Join(book, "recipes", "x", "recipe.toml"), []byte("[build]\ntemplate = \"none\"\n"), 0o644)
	work := filepath.Join(dir, "work")
	keys := filepath.Join(dir, "keys")
	if _, err := pkgar.EnsureKeys(keys); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(keys, pkgar.PublicKeyFile)
	for _, args := range [][]string{
		{"report", fifo},
		{"fs", "ls", fifo, "/"},
		{"fs", "cat", fifo, "/a"},
		{"initfs", "ls", fifo},
		{"pkgar", "list", "--key", pub, fifo},
		{"pkgar", "verify", "--key", fifo, junk},
		{"--cookbook", book, "image", "--config", fifo, "-o", filepath.Join(dir, "out.img")},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			done := make(chan int, 1)
			var out, errb bytes.Buffer
			go func() { done <- run(append([]string{"--work", work}, args...), &out, &errb) }()
			select {
			case code := <-done:
				if code == 0 || !strings.Contains(errb.String(), "not a regular file") {
					t.Errorf("cook %v: exit %d; stderr %q", args, code, errb.String())
				}
			case <-time.After(2 * time.Second):
				t.Errorf("cook %v: still running after 2s, blocked on the FIFO", args)
				// free it: a writer's open lets the blocked open return
				for {
					if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
						w.Close()
					}
					select {
					case <-done:
						return
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
		})
	}
}
