package workdir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"ion", "gcc13", "llvm21.dev", "x86_64-unknown-redox", "lib++"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../x", "x\x00", "x\n", "a\\b", string(make([]byte, 256))} {
		if err := CheckName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName", bad, err)
		}
	}
}

func TestWithinAndRemove(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "work")
	outside := filepath.Join(base, "outside")
	os.MkdirAll(filepath.Join(root, "recipes", "a"), 0o755)
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644)
	// a symlink inside the work directory pointing out of it
	os.Symlink(outside, filepath.Join(root, "recipes", "evil"))
	d := New(root)
	for _, p := range []string{
		base, root, filepath.Join(root, ".."), filepath.Join(root, "recipes", "..", ".."),
		filepath.Join(root, "recipes", "evil", "keep"), filepath.Join(root, "recipes", "evil", "new", "x"),
		"/", outside,
	} {
		if err := d.Check(p); !errors.Is(err, ErrOutside) {
			t.Errorf("Check(%s) = %v, want ErrOutside", p, err)
		}
		if err := d.RemoveAll(p); err == nil {
			t.Errorf("RemoveAll(%s) succeeded", p)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Fatalf("a file outside the work directory was removed: %v", err)
	}
	for _, p := range []string{filepath.Join(root, "recipes", "a"), filepath.Join(root, "recipes", "new", "x")} {
		if err := d.Check(p); err != nil {
			t.Errorf("Check(%s) = %v", p, err)
		}
	}
	// a tree with a directory nobody may write is still removed
	ro := filepath.Join(root, "recipes", "a", "ro")
	os.MkdirAll(filepath.Join(ro, "sub"), 0o755)
	os.WriteFile(filepath.Join(ro, "sub", "f"), nil, 0o644)
	os.Chmod(filepath.Join(ro, "sub"), 0o000)
	if err := d.RemoveAll(filepath.Join(root, "recipes", "a")); err != nil {
		t.Fatal(err)
	}
}

// TestLockUnclean: a lock released by Unlock leaves the next holder clean;
// one whose holder died (its pid left in the lock file) or an older cook's
// lock.running makes the next holder unclean, and it clears the leftovers.
func TestLockUnclean(t *testing.T) {
	d := New(t.TempDir())
	ctx := context.Background()
	l, err := d.Lock(ctx)
	if err != nil || l.Unclean {
		t.Fatalf("first lock: %v, unclean %v", err, l != nil && l.Unclean)
	}
	l.Unlock()
	if l, err = d.Lock(ctx); err != nil || l.Unclean {
		t.Fatalf("after a clean unlock: %v, unclean %v", err, l != nil && l.Unclean)
	}
	// the holder dies: the kernel releases the flock, the pid stays
	leftover := d.StageTmp("r", "t")
	if err := os.MkdirAll(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	l.f.Close()
	if l, err = d.Lock(ctx); err != nil || !l.Unclean {
		t.Fatalf("after a killed holder: %v, unclean %v", err, l != nil && l.Unclean)
	}
	if _, err := os.Stat(leftover); err == nil {
		t.Error("the killed holder's stage.tmp was not cleared")
	}
	l.Unlock()
	if err := os.WriteFile(filepath.Join(d.Root, "lock.running"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err = d.Lock(ctx); err != nil || !l.Unclean {
		t.Fatalf("after an older cook's lock.running: %v, unclean %v", err, l != nil && l.Unclean)
	}
	l.Unlock()
	if _, err := os.Stat(filepath.Join(d.Root, "lock.running")); err == nil {
		t.Error("lock.running left")
	}
	if l, err = d.Lock(ctx); err != nil || l.Unclean {
		t.Fatalf("then: %v, unclean %v", err, l != nil && l.Unclean)
	}
	l.Unlock()
}

// TestLockFileHostile: the lock file is read and truncated, so a stranger's
// one must not reach beyond it: a symbolic link there is refused (the
// file it names keeps its content), a FIFO or directory is an error, and a
// huge file left by the holder is not read whole to find its pid.
func TestLockFileHostile(t *testing.T) {
	ctx := context.Background()
	t.Run("symlink", func(t *testing.T) {
		d := New(t.TempDir())
		victim := filepath.Join(t.TempDir(), "victim")
		os.WriteFile(victim, []byte("keep me"), 0o644)
		os.Symlink(victim, filepath.Join(d.Root, "lock"))
		if l, err := d.Lock(ctx, NoWait()); err == nil {
			l.Unlock()
			t.Error("a symbolic link as the lock file was taken")
		}
		if data, _ := os.ReadFile(victim); string(data) != "keep me" {
			t.Errorf("the file the link names now holds %q", data)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		d := New(t.TempDir())
		if err := syscall.Mkfifo(filepath.Join(d.Root, "lock"), 0o644); err != nil {
			t.Skip(err)
		}
		done := make(chan error, 1)
		go func() {
			l, err := d.Lock(ctx, NoWait())
			if err == nil {
				l.Unlock()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Error("a FIFO as the lock file was taken")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Lock blocked on a FIFO")
		}
	})
	t.Run("huge", func(t *testing.T) {
		d := New(t.TempDir())
		p := filepath.Join(d.Root, "lock")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("4242")
		if err := f.Truncate(64 << 20); err != nil { // sparse: costs no disk
			t.Fatal(err)
		}
		// another holder: a second open file description's flock conflicts
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err = d.Lock(ctx, NoWait())
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("Lock = %v, want ErrLocked", err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
			t.Errorf("finding the holder's pid allocated %d bytes", got)
		}
	})
}

// TestClearLeftoversGlobRoot: a work directory whose path holds glob
// characters still has a killed holder's leftovers cleared.
func TestClearLeftoversGlobRoot(t *testing.T) {
	d := New(filepath.Join(t.TempDir(), "w[1]*?"))
	leftover := d.StageTmp("r", "t")
	if err := os.MkdirAll(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	d.ClearLeftovers()
	if _, err := os.Stat(leftover); err == nil {
		t.Error("stage.tmp under a root with glob characters was not cleared")
	}
}

// TestClearLeftoversKinds: each kind of leftover a killed cook leaves is
// cleared, and the fetched sources and stages beside them stay.
func TestClearLeftoversKinds(t *testing.T) {
	d := New(t.TempDir())
	leftovers := []string{d.StageTmp("r", "t"), d.Overlay("r", "t"), d.SandboxRoot("r", "t"),
		filepath.Join(d.Tmp(), "shim-123"), filepath.Join(d.Tmp(), "fetch-r-456")}
	kept := []string{d.Source("r"), d.Target("r", "t")}
	for _, p := range append(append([]string{}, leftovers...), kept...) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d.ClearLeftovers()
	for _, p := range leftovers {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s not cleared", p)
		}
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}
