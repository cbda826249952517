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

	"golang.org/x/sys/unix"

	"github.com/redox-cook/cook/internal/termtext"
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
			b.WriteString("  | " + termtext.Escape(l) + "\n")
		}
	} else {
		b.WriteString(" is empty\n")
	}
	return errors.New(strings.TrimRight(b.String(), "\n"))
}

// String summarises a passed boot test: its time, each milestone with
// when it was reached, and the serial log.
func (r *BootResult) String() string {
	names := make([]string, len(r.Reached))
	for i, m := range r.Reached {
		names[i] = fmt.Sprintf("%s (%.1fs)", m.Name, m.After.Seconds())
	}
	return fmt.Sprintf("boot test passed in %.1fs: %s; serial log %s", r.Duration.Seconds(), strings.Join(names, ", "), r.Log)
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
	o = o.withDefaults()
	log, err := filepath.Abs(o.Log)
	if err != nil {
		return nil, fmt.Errorf("boot test: serial log: %w", err)
	}
	m := i.headless(log)
	args, err := m.Args()
	if err != nil {
		return nil, err
	}
	unlock, err := lockLog(log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := emptyLog(log); err != nil {
		return nil, err
	}
	res := &BootResult{Log: log, Command: append([]string{m.Program()}, args...)}
	run, err := startVM(m, args, log)
	if err != nil {
		return nil, err
	}
	defer run.close()
	w, err := watchConsole(log, o, run, res)
	if err != nil {
		return nil, err
	}
	defer w.close()
	return w.await(ctx, o), nil
}

// withDefaults fills in o's unset fields.
func (o BootTestOptions) withDefaults() BootTestOptions {
	if len(o.Milestones) == 0 {
		o.Milestones = RedoxMilestones
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
	return o
}

// headless is the machine as a boot test runs it: no window, no reboot,
// and the serial console on the VM's stdio (QEMU: the test writes it to
// log as it comes and can answer it) or written to log by the VM itself.
func (i *Instance) headless(log string) Machine {
	m := i.Machine
	m.GUI = false
	m.Framebuffer = true // as on a real machine (Redox's bootloader asks for a resolution)
	m.NoReboot = true
	if m.Hypervisor == QEMU {
		m.SerialStdio = true
	} else {
		m.SerialFile = log
	}
	return m
}

// ErrLogBusy is the error of a boot test whose serial log another boot
// test is writing.
var ErrLogBusy = errors.New("another boot test is writing this serial log")

// lockLog takes an exclusive lock on log's lock file (log + ".lock") for
// the boot test's duration: two boot tests writing one log would each
// see the other's milestones.
func lockLog(log string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		return nil, fmt.Errorf("boot test: serial log: %w", err)
	}
	f, err := os.OpenFile(log+".lock", os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("boot test: serial log: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("boot test: %s: %w (give this one another --log)", log, ErrLogBusy)
		}
		return nil, fmt.Errorf("boot test: serial log: %w", err)
	}
	return func() { f.Close() }, nil
}

// emptyLog starts the serial log empty, for the VM to append to.
func emptyLog(log string) error {
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		return fmt.Errorf("boot test: serial log: %w", err)
	}
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		return fmt.Errorf("boot test: serial log: %w", err)
	}
	return nil
}

// vmRun is a boot test's running VM: its process, the leader of its own
// process group, and what it said itself (not the guest).
type vmRun struct {
	cmd     *exec.Cmd
	start   time.Time
	exited  chan error
	stopped bool
	vmOut   bytes.Buffer
	// console is the VM's stdin when the serial console is on its stdio
	// (else nil), and logOut the log its stdout is appended to.
	console io.WriteCloser
	logOut  *os.File
}

// startVM starts m with args; QEMU's console, on its stdio, goes to log.
func startVM(m Machine, args []string, log string) (*vmRun, error) {
	r := &vmRun{cmd: exec.Command(m.Program(), args...)}
	cmd := r.cmd
	cmd.Stdout, cmd.Stderr = &r.vmOut, &r.vmOut
	cmd.Stdin = nil
	if m.Hypervisor == QEMU {
		out, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("boot test: serial log: %w", err)
		}
		r.logOut = out
		cmd.Stdout = out
		if r.console, err = cmd.StdinPipe(); err != nil {
			out.Close()
			return nil, fmt.Errorf("boot test: %w", err)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.start = time.Now()
	if err := cmd.Start(); err != nil {
		r.close()
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("boot test: %s: %w (install %s)", m.Program(), err, packageHint(m.Hypervisor))
		}
		return nil, fmt.Errorf("boot test: start %s: %w", m.Program(), err)
	}
	r.exited = make(chan error, 1)
	go func() { r.exited <- cmd.Wait() }()
	return r, nil
}

// stop stops the VM's process group, once.
func (r *vmRun) stop() {
	if r.stopped || r.exited == nil {
		return
	}
	r.stopped = true
	killGroup(r.cmd.Process.Pid, r.exited)
}

// reaped records that the VM exited by itself and kills what is left of
// its group.
func (r *vmRun) reaped() {
	r.stopped = true
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL) // stragglers in its group
}

// close stops the VM and closes its console and log.
func (r *vmRun) close() {
	r.stop()
	if r.console != nil {
		r.console.Close()
	}
	if r.logOut != nil {
		r.logOut.Close()
	}
}

// consoleWatch follows the serial log of a running VM: it echoes it, types
// the answers as their prompts appear, and records the milestones reached
// in order in res. It holds only the end of the log that a pattern or
// prompt not yet found could still begin in, so neither its memory nor
// its searching grows with the log.
type consoleWatch struct {
	vm       *vmRun
	res      *BootResult
	f        *os.File
	echo     io.Writer
	ms       []Milestone
	answers  []Answer
	answered []bool
	seen     []byte // the end of the log still to search
	keep     int    // the longest pattern or prompt, less one byte
	cursor   int    // in seen, after the last milestone's pattern
	next     int    // the milestone looked for
	buf      []byte
}

func watchConsole(log string, o BootTestOptions, vm *vmRun, res *BootResult) (*consoleWatch, error) {
	f, err := os.Open(log)
	if err != nil {
		return nil, fmt.Errorf("boot test: serial log: %w", err)
	}
	w := &consoleWatch{vm: vm, res: res, f: f, echo: o.Echo, ms: o.Milestones, answers: o.Answers,
		answered: make([]bool, len(o.Answers)), buf: make([]byte, 64<<10)}
	for _, m := range o.Milestones {
		for _, p := range m.Patterns {
			w.keep = max(w.keep, len(p)-1)
		}
	}
	for _, a := range o.Answers {
		w.keep = max(w.keep, len(a.Prompt)-1)
	}
	return w, nil
}

func (w *consoleWatch) close() { w.f.Close() }

// scan reads what the VM wrote since the last call, answers prompts and
// advances through the milestones; it reports whether all are reached.
func (w *consoleWatch) scan() bool {
	for {
		n, _ := w.f.Read(w.buf)
		if n == 0 {
			break
		}
		w.echo.Write(w.buf[:n])
		w.feed(w.buf[:n])
	}
	return w.next == len(w.ms)
}

// feed searches the log's next bytes, b, for prompts and milestones, then
// forgets all but what a later match could start in: a match that began
// more than keep bytes before the end would have been found already.
func (w *consoleWatch) feed(b []byte) {
	w.seen = append(w.seen, b...)
	for k, a := range w.answers {
		if !w.answered[k] && w.vm.console != nil && bytes.Contains(w.seen, []byte(a.Prompt)) {
			w.answered[k] = true
			io.WriteString(w.vm.console, a.Input)
		}
	}
	for w.next < len(w.ms) {
		idx, pat := -1, ""
		for _, p := range w.ms[w.next].Patterns {
			if j := bytes.Index(w.seen[w.cursor:], []byte(p)); j >= 0 && (idx < 0 || j < idx) {
				idx, pat = j, p
			}
		}
		if idx < 0 {
			break
		}
		w.cursor += idx + len(pat)
		w.res.Reached = append(w.res.Reached, Reached{Name: w.ms[w.next].Name, Pattern: pat, After: time.Since(w.vm.start)})
		w.next++
	}
	if cut := len(w.seen) - w.keep; cut > 0 {
		w.seen = append(w.seen[:0], w.seen[cut:]...)
		w.cursor = max(0, w.cursor-cut)
	}
}

// await scans the log every o.Poll until every milestone is reached, the
// VM exits, o.Timeout passes or ctx is done, and returns the result.
func (w *consoleWatch) await(ctx context.Context, o BootTestOptions) *BootResult {
	timeout := time.NewTimer(o.Timeout)
	defer timeout.Stop()
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for {
		if w.scan() {
			w.vm.stop()
			return w.passed()
		}
		select {
		case err := <-w.vm.exited:
			w.vm.reaped()
			if w.scan() {
				return w.passed()
			}
			why := "the VM exited"
			if err != nil {
				why += " (" + err.Error() + ")"
			}
			why += " first"
			if msg := strings.TrimSpace(w.vm.vmOut.String()); msg != "" {
				why += "; it said: " + lastLine(msg)
			}
			return w.failed(why, o.TailLines)
		case <-timeout.C:
			return w.failed(fmt.Sprintf("timed out after %s", o.Timeout), o.TailLines)
		case <-ctx.Done():
			return w.failed("interrupted: "+ctx.Err().Error(), o.TailLines)
		case <-tick.C:
		}
	}
}

func (w *consoleWatch) passed() *BootResult {
	w.res.Passed = true
	w.res.Duration = time.Since(w.vm.start)
	return w.res
}

// failed stops the VM, reads the rest of the log and says why the test
// stopped short, with the log's last tail lines.
func (w *consoleWatch) failed(reason string, tail int) *BootResult {
	w.vm.stop()
	w.scan()
	w.res.Duration = time.Since(w.vm.start)
	if w.next < len(w.ms) {
		w.res.Missed = w.ms[w.next].Name
	}
	w.res.Reason = reason
	w.res.Tail = w.logTail(tail)
	return w.res
}

// tailBytes is how much of the log's end a failure's tail lines come from.
const tailBytes = 256 << 10

// logTail returns the last n non-empty lines of the serial log's last
// tailBytes.
func (w *consoleWatch) logTail(n int) []string {
	st, err := w.f.Stat()
	if err != nil {
		return nil
	}
	from := max(0, st.Size()-tailBytes)
	b := make([]byte, st.Size()-from)
	k, _ := w.f.ReadAt(b, from)
	b = b[:k]
	if from > 0 { // from a line's start
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return tailLines(b, n)
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
