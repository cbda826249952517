// Package live draws the bottom of a terminal that a long command redraws in place — progress bars and one line per running job — with messages printed above it.
package live

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// area is the redrawn part of a terminal.
type area struct {
	w      io.Writer
	live   bool
	mu     sync.Mutex // guards drawn and the owner's state read by render
	render func() []string
	drawn  int
	stop   chan struct{}
	exited chan struct{}
}

// start begins redrawing render's lines every period when w is a terminal.
func (l *area) start(w io.Writer, quiet bool, period time.Duration, render func() []string) {
	l.w, l.render = w, render
	if !IsTerminal(w) || quiet {
		return
	}
	l.live = true
	l.stop, l.exited = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.exited)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.mu.Lock()
				l.draw()
				l.mu.Unlock()
			}
		}
	}()
}

// Live reports whether the area is drawn (a terminal, not quiet).
func (l *area) Live() bool { return l.live }

// clear erases what was drawn (mu held).
func (l *area) clear() {
	if l.drawn > 0 {
		fmt.Fprintf(l.w, "\x1b[%dF\x1b[J", l.drawn)
		l.drawn = 0
	}
}

// draw repaints the area (mu held).
func (l *area) draw() {
	l.clear()
	lines := l.render()
	var b strings.Builder
	for _, line := range lines {
		fmt.Fprintf(&b, "\x1b[2K%s\n", strings.Trim(line, "\r"))
	}
	l.drawn = len(lines)
	io.WriteString(l.w, b.String())
}

// above writes p above the area (mu held).
func (l *area) above(p []byte) (int, error) {
	if !l.live {
		return l.w.Write(p)
	}
	l.clear()
	n, err := l.w.Write(p)
	l.draw()
	return n, err
}

// Write prints p above the area (log lines, script output).
func (l *area) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.above(p)
}

// Close stops redrawing and erases the area; it may be called again.
func (l *area) Close() {
	if !l.live {
		return
	}
	close(l.stop)
	<-l.exited
	l.mu.Lock()
	l.clear()
	l.live = false
	l.mu.Unlock()
}

// running renders jobs with their running time, oldest first.
func running(jobs map[string]time.Time) []string {
	names := make([]string, 0, len(jobs))
	for n := range jobs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return jobs[names[i]].Before(jobs[names[j]]) })
	for i, n := range names {
		names[i] = fmt.Sprintf("%s (%s)", n, time.Since(jobs[n]).Truncate(time.Second))
	}
	return names
}

// Jobs shows jobs running in parallel: one line per running job under an
// overall bar on a terminal; off it (or when quiet) nothing is drawn and
// messages are plain timestamped lines, one per finished job. It is safe for
// concurrent use.
type Jobs struct {
	area
	verb    string
	running map[string]time.Time
	bar     *progressbar.ProgressBar
}

// NewJobs starts the view of total jobs on w; verb says what they do.
func NewJobs(w io.Writer, total int, verb string, quiet bool) *Jobs {
	v := &Jobs{verb: verb, running: map[string]time.Time{}}
	if IsTerminal(w) && !quiet {
		v.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(io.Discard), progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(false), progressbar.OptionSetDescription(verb))
		v.bar.RenderBlank()
	}
	v.area.start(w, quiet, 200*time.Millisecond, func() []string {
		lines := running(v.running)
		for i, l := range lines {
			lines[i] = "  " + v.verb + " " + l
		}
		return append(lines, v.bar.String())
	})
	return v
}

// Printf writes a message line above the live area (or plainly, timestamped).
func (v *Jobs) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !v.live {
		msg = time.Now().UTC().Format("15:04:05") + " " + msg
	}
	v.Write([]byte(msg))
}

// Start shows the job name as running.
func (v *Jobs) Start(name string) {
	v.mu.Lock()
	v.running[name] = time.Now()
	v.mu.Unlock()
}

// Finish counts the job name as done and prints line (if any) above.
func (v *Jobs) Finish(name, line string) {
	v.mu.Lock()
	delete(v.running, name)
	if v.bar != nil {
		v.bar.Add(1)
	}
	v.mu.Unlock()
	if line != "" {
		v.Printf("%s\n", line)
	}
}

// Transfers shows fetches: a byte (or git object) bar per transfer and a
// count with the running recipes on a terminal; off it (or when quiet)
// nothing is drawn and messages are plain lines. It is safe for concurrent
// use.
type Transfers struct {
	area
	quiet   bool
	total   int
	done    int
	running map[string]time.Time
	bars    []*Transfer
}

// NewTransfers starts the view of total fetches on w.
func NewTransfers(w io.Writer, total int, quiet bool) *Transfers {
	v := &Transfers{total: total, quiet: quiet, running: map[string]time.Time{}}
	v.area.start(w, quiet, 150*time.Millisecond, v.lines)
	return v
}

// lines renders the bars and the summary line (mu held).
func (v *Transfers) lines() []string {
	var out []string
	for _, t := range v.bars {
		out = append(out, "  "+t.bar.String())
	}
	names := running(v.running)
	if len(names) > 4 {
		names = append(names[:4], fmt.Sprintf("and %d more", len(names)-4))
	}
	summary := fmt.Sprintf("fetched %d/%d", v.done, v.total)
	if len(names) > 0 {
		summary += " · running " + strings.Join(names, ", ")
	}
	return append(out, summary)
}

// Start shows name as being fetched.
func (v *Transfers) Start(name string) {
	v.mu.Lock()
	v.running[name] = time.Now()
	v.mu.Unlock()
}

// Finish counts name as done and prints line above the area: always on a
// terminal, off it unless quiet (failed ones always).
func (v *Transfers) Finish(name, line string, failed bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.running, name)
	v.done++
	if v.live || failed || !v.quiet {
		v.above([]byte(line + "\n"))
	}
}

// Transfer is the bar of one download or git fetch.
type Transfer struct {
	v   *Transfers
	bar *progressbar.ProgressBar
}

// Bar makes the bar of one transfer: kind "git" counts objects, anything
// else bytes of what (a URL or file).
func (v *Transfers) Bar(recipe, kind, what string) *Transfer {
	opts := []progressbar.Option{progressbar.OptionSetWriter(io.Discard), progressbar.OptionSetWidth(25),
		progressbar.OptionThrottle(100 * time.Millisecond), progressbar.OptionSetPredictTime(false)}
	if kind == "git" {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetItsString("objects"),
			progressbar.OptionSetDescription(recipe+": git objects"))
	} else {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionSetDescription(recipe+": "+filepath.Base(what)))
	}
	t := &Transfer{v: v, bar: progressbar.NewOptions64(-1, opts...)}
	v.mu.Lock()
	v.bars = append(v.bars, t)
	v.mu.Unlock()
	return t
}

// SetTotal sets the transfer's size, when known.
func (t *Transfer) SetTotal(n int64) { t.bar.ChangeMax64(n) }

// Add counts n more bytes (or objects).
func (t *Transfer) Add(n int) { t.bar.Add(n) }

// Done removes the bar.
func (t *Transfer) Done() {
	t.v.mu.Lock()
	defer t.v.mu.Unlock()
	for i, x := range t.v.bars {
		if x == t {
			t.v.bars = append(t.v.bars[:i], t.v.bars[i+1:]...)
			break
		}
	}
}
