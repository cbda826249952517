package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Milestone is a point in the boot that shows on the serial console: it is
// reached when any of its patterns (plain substrings) appears after the
// previous milestone.
type Milestone struct {
	Name     string
	Patterns []string
}

// RedoxMilestones are Redox's boot milestones on the serial console
// (seed-system.md §4.1 and §5.2).
var RedoxMilestones = []Milestone{
	{Name: "bootloader", Patterns: []string{"Redox OS Bootloader"}},
	{Name: "kernel", Patterns: []string{"Redox OS starting"}},
	{Name: "init", Patterns: []string{"Transitioning from initfs", "Boot Complete"}},
	{Name: "login prompt", Patterns: []string{"login:", "Welcome to Redox", "ion>"}},
}

// Answer is input a boot test types on the serial console once Prompt
// has appeared.
type Answer struct {
	Prompt string
	Input  string
}

// RedoxAnswers answer the Redox bootloader's resolution menu with Enter,
// as upstream's automated runs do.
var RedoxAnswers = []Answer{{Prompt: "Arrow keys and enter select mode", Input: "\r"}}

// ExpectMilestones turns texts into one milestone each, named by the text.
func ExpectMilestones(texts ...string) []Milestone {
	ms := make([]Milestone, len(texts))
	for i, t := range texts {
		ms[i] = Milestone{Name: fmt.Sprintf("%q", t), Patterns: []string{t}}
	}
	return ms
}

// BootTestOptions configure Instance.BootTest.
type BootTestOptions struct {
	Milestones []Milestone // default RedoxMilestones
	Timeout    time.Duration
	// Log is the serial log file to write (required).
	Log string
	// Echo receives the serial output live (may be nil).
	Echo io.Writer
	// TailLines is how many log lines a failure shows (default 20).
	TailLines int
	// Poll is how often the log is read (default 100ms).
	Poll time.Duration
	// Answers are typed on the console as their prompts appear, each once
	// (QEMU only; default RedoxAnswers).
	Answers []Answer
}

// Reached is a milestone seen during a boot test.
type Reached struct {
	Name    string        `json:"name"`
	Pattern string        `json:"pattern"`
	After   time.Duration `json:"after_ns"`
}

// BootResult is the outcome of a boot test.
type BootResult struct {
	Passed   bool          `json:"passed"`
	Reached  []Reached     `json:"reached"`
	Missed   string        `json:"missed,omitempty"` // the first milestone not reached
	Reason   string        `json:"reason,omitempty"` // why the test stopped short
	Log      string        `json:"log"`
	Tail     []string      `json:"tail,omitempty"` // the log's last lines, on failure
	Duration time.Duration `json:"duration_ns"`
	Command  []string      `json:"command"`
}

// Error describes a failed boot test: the missed milestone, why, and the
// log's tail. It is nil when the test passed.
func (r *BootResult) Error() error {
	if r.Passed {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "boot test failed: milestone %s not reached: %s", r.Missed, r.Reason)
	if len(r.Reached) > 0 {
		names := make([]string, len(r.Reached))
		for i, m := range r.Reached {
			names[i] = m.Name
		}
		fmt.Fprintf(&b, " (reached: %s)", strings.Join(names, ", "))
	}
	fmt.Fprintf(&b, "\nserial log %s", r.Log)
	if len(r.Tail) > 0 {
		fmt.Fprintf(&b, ", last %d lines:\n", len(r.Tail))
		for _, l := range r.Tail {
			b.WriteString("  | " + l + "\n")
		}
	} else {
		b.WriteString(" is empty\n")
	}
	return errors.New(strings.TrimRight(b.String(), "\n"))
}

// BootTest boots the machine headless with the serial console going to
// o.Log (echoed live to o.Echo), waits for the milestones in order, then
// stops the VM (its whole process group). The returned error is for a test
// that could not run at all; a boot that missed a milestone is a result with
// Passed false (see BootResult.Error).
func (i *Instance) BootTest(ctx context.Context, o BootTestOptions) (*BootResult, error) {
	if o.Log == "" {
		return nil, errors.New("boot test: no serial log path")
	}
	ms := o.Milestones
	if len(ms) == 0 {
		ms = RedoxMilestones
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.TailLines <= 0 {
		o.TailLines = 20
	}
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	if o.Echo == nil {
		o.Echo = io.Discard
	}
	if o.Answers == nil {
		o.Answers = RedoxAnswers
	}
	m := i.Machine
	m.GUI = false
	m.Framebuffer = true // as on a real machine (Redox's bootloader asks for a resolution)
	m.NoReboot = true
	log, err := filepath.Abs(o.Log)
	if err != nil {
		return nil, fmt.Errorf("boot test: serial log: %w", err)
	}
	// QEMU: the console on the VM's stdio, written to the log as it comes
	// and answerable; others write the log themselves.
	stdio := m.Hypervisor == QEMU
	if stdio {
		m.SerialStdio = true
	} else {
		m.SerialFile = log
	}
	args, err := m.Args()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		return nil, fmt.Errorf("boot test: serial log: %w", err)
	}
	// Start from an empty log the VM appends to.
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		return nil, fmt.Errorf("boot test: serial log: %w", err)
	}
	res := &BootResult{Log: log, Command: append([]string{m.Program()}, args...)}

	cmd := exec.Command(m.Program(), args...)
	var vmOut bytes.Buffer // the VM's own messages (not the guest's)
	cmd.Stdout, cmd.Stderr = &vmOut, &vmOut
	cmd.Stdin = nil
	var console io.WriteCloser
	if stdio {
		out, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("boot test: serial log: %w", err)
		}
		defer out.Close()
		cmd.Stdout = out
		if console, err = cmd.StdinPipe(); err != nil {
			return nil, fmt.Errorf("boot test: %w", err)
		}
		defer console.Close()
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("boot test: %s: %w (install %s)", m.Program(), err, packageHint(m.Hypervisor))
		}
		return nil, fmt.Errorf("boot test: start %s: %w", m.Program(), err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		killGroup(cmd.Process.Pid, exited)
	}
	defer stop()

	f, err := os.Open(log)
	if err != nil {
		return nil, fmt.Errorf("boot test: serial log: %w", err)
	}
	defer f.Close()
	var seen []byte // the whole log so far
	cursor, next := 0, 0
	answered := make([]bool, len(o.Answers))
	buf := make([]byte, 64<<10)
	// scan reads what the VM wrote since the last call and advances through
	// the milestones; it reports whether all are reached.
	scan := func() bool {
		for {
			n, _ := f.Read(buf)
			if n == 0 {
				break
			}
			o.Echo.Write(buf[:n])
			seen = append(seen, buf[:n]...)
		}
		for k, a := range o.Answers {
			if !answered[k] && console != nil && bytes.Contains(seen, []byte(a.Prompt)) {
				answered[k] = true
				io.WriteString(console, a.Input)
			}
		}
		for next < len(ms) {
			idx, pat := -1, ""
			for _, p := range ms[next].Patterns {
				if j := bytes.Index(seen[cursor:], []byte(p)); j >= 0 && (idx < 0 || j < idx) {
					idx, pat = j, p
				}
			}
			if idx < 0 {
				return false
			}
			cursor += idx + len(pat)
			res.Reached = append(res.Reached, Reached{Name: ms[next].Name, Pattern: pat, After: time.Since(start)})
			next++
		}
		return true
	}
	fail := func(reason string) (*BootResult, error) {
		stop()
		scan()
		res.Duration = time.Since(start)
		if next < len(ms) {
			res.Missed = ms[next].Name
		}
		res.Reason = reason
		res.Tail = tailLines(seen, o.TailLines)
		return res, nil
	}

	timeout := time.NewTimer(o.Timeout)
	defer timeout.Stop()
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for {
		if scan() {
			stop()
			res.Passed = true
			res.Duration = time.Since(start)
			return res, nil
		}
		select {
		case err := <-exited:
			stopped = true
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // stragglers in its group
			if scan() {
				res.Passed = true
				res.Duration = time.Since(start)
				return res, nil
			}
			why := "the VM exited"
			if err != nil {
				why += " (" + err.Error() + ")"
			}
			why += " first"
			if msg := strings.TrimSpace(vmOut.String()); msg != "" {
				why += "; it said: " + lastLine(msg)
			}
			return fail(why)
		case <-timeout.C:
			return fail(fmt.Sprintf("timed out after %s", o.Timeout))
		case <-ctx.Done():
			return fail("interrupted: " + ctx.Err().Error())
		case <-tick.C:
		}
	}
}

// killGroup stops the process group pgid: SIGTERM, then SIGKILL after a
// grace period, waiting for the leader to be reaped through exited.
func killGroup(pgid int, exited <-chan error) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	// Leftover children of the leader, if any.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

var ansiEscape = regexp.MustCompile(`\x1b(\[[0-9;=?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>])`)

// tailLines returns the last n non-empty lines of log, with terminal escape
// sequences and carriage returns removed.
func tailLines(log []byte, n int) []string {
	s := ansiEscape.ReplaceAllString(string(log), "")
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimRight(strings.ReplaceAll(l, "\r", ""), " \t")
		if l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
