package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal (live progress is drawn only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// liveArea is the bottom of a terminal that a long command redraws in place
// a few times a second — progress bars and one line per running job — with
// messages printed above it. Off a terminal (or quiet) nothing is drawn.
type liveArea struct {
	w      io.Writer
	live   bool
	mu     sync.Mutex // guards drawn and the owner's state read by render
	render func() []string
	drawn  int
	stop   chan struct{}
	exited chan struct{}
}

// start begins redrawing render's lines every period when w is a terminal.
func (l *liveArea) start(w io.Writer, quiet bool, period time.Duration, render func() []string) {
	l.w, l.render = w, render
	if !isTerminal(w) || quiet {
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

// clear erases what was drawn (mu held).
func (l *liveArea) clear() {
	if l.drawn > 0 {
		fmt.Fprintf(l.w, "\x1b[%dF\x1b[J", l.drawn)
		l.drawn = 0
	}
}

// draw repaints the area (mu held).
func (l *liveArea) draw() {
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
func (l *liveArea) above(p []byte) (int, error) {
	if !l.live {
		return l.w.Write(p)
	}
	l.clear()
	n, err := l.w.Write(p)
	l.draw()
	return n, err
}

// Write prints p above the area (log lines, script output).
func (l *liveArea) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.above(p)
}

// close stops redrawing and erases the area.
func (l *liveArea) close() {
	if !l.live {
		return
	}
	close(l.stop)
	<-l.exited
	l.mu.Lock()
	l.clear()
	l.mu.Unlock()
}

// runningLines renders jobs with their running time, oldest first.
func runningLines(running map[string]time.Time) []string {
	names := make([]string, 0, len(running))
	for n := range running {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return running[names[i]].Before(running[names[j]]) })
	for i, n := range names {
		names[i] = fmt.Sprintf("%s (%s)", n, time.Since(running[n]).Truncate(time.Second))
	}
	return names
}

// liveView shows a build: one line per running job under an overall bar on
// a terminal; off a terminal, a plain timestamped line per finished job.
type liveView struct {
	liveArea
	verb    string
	running map[string]time.Time
	bar     *progressbar.ProgressBar
}

func newLiveView(w io.Writer, total int, verb string, quiet bool) *liveView {
	v := &liveView{verb: verb, running: map[string]time.Time{}}
	if isTerminal(w) && !quiet {
		v.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(io.Discard), progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(false), progressbar.OptionSetDescription(verb))
		v.bar.RenderBlank()
	}
	v.liveArea.start(w, quiet, 200*time.Millisecond, func() []string {
		lines := runningLines(v.running)
		for i, l := range lines {
			lines[i] = "  " + v.verb + " " + l
		}
		return append(lines, v.bar.String())
	})
	return v
}

// printf writes a message line above the live area (or plainly, timestamped).
func (v *liveView) printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !v.live {
		msg = time.Now().UTC().Format("15:04:05") + " " + msg
	}
	v.Write([]byte(msg))
}

func (v *liveView) start(name string) {
	v.mu.Lock()
	v.running[name] = time.Now()
	v.mu.Unlock()
}

func (v *liveView) finish(name, line string) {
	v.mu.Lock()
	delete(v.running, name)
	if v.bar != nil {
		v.bar.Add(1)
	}
	v.mu.Unlock()
	if line != "" {
		v.printf("%s\n", line)
	}
}
