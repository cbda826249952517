package fetch

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

// A script talks to the shim server over its socket, so what it sends is a
// stranger's input: a request line without end must not make cook read (and
// keep in memory) all of it, and a connection that never says anything must
// not keep Close (and so cook) waiting.
func TestShimHostileRequests(t *testing.T) {
	e := newShimEnv(t)
	t.Run("endless request", func(t *testing.T) {
		sh, err := BuildShims(context.Background(), e.downloader(), "demo")
		if err != nil {
			t.Fatal(err)
		}
		defer sh.Close()
		c, err := net.Dial("unix", sh.Socket)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// 64 MiB of a request line without its newline: the server must stop
		// reading long before (the socket buffers hold a few hundred KiB)
		chunk := []byte(strings.Repeat("x", 64<<10))
		written := 0
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for written < 64<<20 {
			n, err := c.Write(chunk)
			written += n
			if err != nil {
				break
			}
		}
		if written >= 8<<20 {
			t.Fatalf("the server read %d bytes of one request line", written)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadBytes('\n')
		if err != nil {
			return // the server hung up without a word: also a refusal
		}
		var resp shimResponse
		if err := json.Unmarshal(line, &resp); err != nil || !strings.Contains(resp.Error, "longer than") {
			t.Fatalf("response %q (%v); want an error saying the request is too long", line, err)
		}
	})
	t.Run("silent connection", func(t *testing.T) {
		sh, err := BuildShims(context.Background(), e.downloader(), "demo")
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("unix", sh.Socket)
		if err != nil {
			sh.Close()
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte(`{"tool":"wget",`)) // and then nothing, and no end
		time.Sleep(50 * time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- sh.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close waits for a connection that never ends its request")
		}
	})
}
