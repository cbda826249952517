package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/redox-cook/cook/pipeline"
)

// openPTY opens a pseudo-terminal: what is written to tty is read from
// master. It skips where there is none.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open the pty: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestFetchBarsEscaped: on a terminal, a transfer's bar names the recipe
// and the URL the recipe gave, with control characters escaped, so a
// crafted URL cannot drive the terminal.
func TestFetchBarsEscaped(t *testing.T) {
	master, tty := openPTY(t)
	var mu sync.Mutex
	var out bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	a := newApp(tty, tty)
	a.log = slog.New(slog.DiscardHandler)
	v := a.newFetchView(1)
	o := v.options(pipeline.FetchOptions{})
	if o.Progress == nil {
		t.Fatal("no bars on a terminal")
	}
	v.Start("evil")
	pc := o.Progress("evil\x1b[2J", "download", "https://example.org/a\x1b]0;owned\x07.tar")
	pc.SetTotal(100)
	for range 5 { // a few redraws
		pc.Add(10)
		time.Sleep(150 * time.Millisecond)
	}
	pc.Done()
	v.Close()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	got := out.String()
	mu.Unlock()
	if !strings.Contains(got, `a\x1b]0;owned\a.tar`) || !strings.Contains(got, `evil\x1b[2J`) {
		t.Fatalf("the bar does not show the escaped names:\n%q", got)
	}
	if strings.Contains(got, "\x1b]0;owned") || strings.Contains(got, "\x1b[2J") {
		t.Errorf("a control sequence from the recipe reached the terminal:\n%q", got)
	}
}
