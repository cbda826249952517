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

// liveView draws one line per running job under an overall progress bar on
// a terminal, redrawn in place a few times a second. Off a terminal it
// prints a plain timestamped line per event instead.
type liveView struct {
	w       io.Writer
	live    bool
	verb    string
	mu      sync.Mutex
	running map[string]time.Time
	bar     *progressbar.ProgressBar
	drawn   int // lines drawn last time
	stop    chan struct{}
	done    chan struct{}
}

func newLiveView(w io.Writer, total int, verb string, quiet bool) *liveView {
	v := &liveView{w: w, live: isTerminal(w) && !quiet, verb: verb, running: map[string]time.Time{}}
	if v.live {
		v.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(io.Discard), progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(false), progressbar.OptionSetDescription(verb))
		v.stop, v.done = make(chan struct{}), make(chan struct{})
		go v.loop()
	}
	return v
}

func (v *liveView) loop() {
	defer close(v.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			v.mu.Lock()
			v.draw()
			v.mu.Unlock()
		}
	}
}

// draw repaints the running jobs and the bar (mu held).
func (v *liveView) draw() {
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dF", v.drawn) // to the start of the first line drawn
	}
	names := make([]string, 0, len(v.running))
	for n := range v.running {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return v.running[names[i]].Before(v.running[names[j]]) })
	for _, n := range names {
		fmt.Fprintf(&b, "\x1b[2K  %s %s (%s)\n", v.verb, n, time.Since(v.running[n]).Truncate(time.Second))
	}
	fmt.Fprintf(&b, "\x1b[2K%s\n\x1b[J", v.bar.String())
	v.drawn = len(names) + 1
	io.WriteString(v.w, b.String())
}

// printf writes a message line above the live area (or plainly).
func (v *liveView) printf(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.live {
		if v.drawn > 0 {
			fmt.Fprintf(v.w, "\x1b[%dF\x1b[J", v.drawn)
			v.drawn = 0
		}
		fmt.Fprintf(v.w, format, args...)
		v.draw()
		return
	}
	fmt.Fprintf(v.w, "%s ", time.Now().UTC().Format("15:04:05"))
	fmt.Fprintf(v.w, format, args...)
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

// close removes the live area.
func (v *liveView) close() {
	if !v.live {
		return
	}
	close(v.stop)
	<-v.done
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.drawn > 0 {
		fmt.Fprintf(v.w, "\x1b[%dF\x1b[J", v.drawn)
		v.drawn = 0
	}
}
