package fetch

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redox-cook/cook/cookbook"
)

// Outcome is one recipe's fetch in FetchAll.
type Outcome struct {
	Recipe     string
	Result     *Result // nil on failure
	Err        error
	Start, End time.Time
}

// Hooks follow the recipes of FetchAll; any may be nil.
type Hooks struct {
	// Started and Finished see each recipe start and finish.
	Started  func(recipe string)
	Finished func(recipe string, res *Result, err error)
	// After runs after each successful fetch, as part of it (the build's
	// cargo fetch); its error is the recipe's.
	After func(ctx context.Context, recipe string, res *Result) error
}

// FetchAll fetches names, jobs recipes at a time, and returns their
// outcomes in the order of names; one recipe's failure does not stop the
// others.
//
// The downloads of tar sources are started ahead, jobs at a time, apart
// from the recipes' other work: a download does not wait for the recipes
// before it to be extracted, patched and scripted, so that jobs requests
// are in flight from the first moment to the last.
func (f *Fetcher) FetchAll(ctx context.Context, names []string, jobs int, h *Hooks) []Outcome {
	if h == nil {
		h = &Hooks{}
	}
	jobs = max(jobs, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	f.prefetch(ctx, &names, jobs, &wg)

	out := make([]Outcome, len(names))
	next := make(chan int)
	var workers sync.WaitGroup
	for range min(jobs, len(names)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := range next {
				name := names[i]
				if h.Started != nil {
					h.Started(name)
				}
				start := time.Now()
				res, err := f.Fetch(ctx, name)
				if err == nil && h.After != nil {
					err = h.After(ctx, name, res)
				}
				out[i] = Outcome{Recipe: name, Result: res, Err: err, Start: start, End: time.Now()}
				if h.Finished != nil {
					h.Finished(name, res, err)
				}
			}
		}()
	}
	for i := range names {
		next <- i
	}
	close(next)
	workers.Wait()
	cancel() // the downloads no fetch took up
	wg.Wait()
	f.prefetchMu.Lock()
	for k, p := range f.prefetches {
		if p.owner == &names {
			delete(f.prefetches, k)
		}
	}
	for _, name := range names {
		delete(f.infos, name)
		delete(f.decided, name)
	}
	f.prefetchMu.Unlock()
	return out
}

// prefetched is a download started ahead by FetchAll.
type prefetched struct {
	owner *[]string // the FetchAll call's names, which remove it when done
	done  chan struct{}
	blob  *Blob
	err   error
}

// prefetch starts, jobs at a time and in the order of names, the
// downloads the fetches of names will make: those of tar sources not
// fetched already and not in the download cache. One goroutine decides,
// name after name (reading what the last fetch recorded, kept for the
// fetch to take up), and another starts the downloads as places free up;
// a fetch waits for the decision on its recipe (awaitDecision), then
// takes its download up (fetchTar, takePrefetch).
func (f *Fetcher) prefetch(ctx context.Context, names *[]string, jobs int, wg *sync.WaitGroup) {
	type download struct {
		recipe, url, pin string
		p                *prefetched
	}
	decided := make(map[string]chan struct{}, len(*names))
	f.prefetchMu.Lock()
	if f.prefetches == nil {
		f.prefetches = map[string]*prefetched{}
	}
	if f.decided == nil {
		f.decided = map[string]chan struct{}{}
	}
	for _, name := range *names {
		if _, ok := decided[name]; !ok {
			decided[name] = make(chan struct{})
			f.decided[name] = decided[name]
		}
	}
	f.prefetchMu.Unlock()
	queue := make(chan download, len(*names))
	wg.Add(2)
	go func() { // the decider
		defer wg.Done()
		defer close(queue)
		for _, name := range *names {
			ch, ok := decided[name]
			if !ok {
				continue // a name given twice
			}
			delete(decided, name)
			url, pin, need := f.willDownload(name)
			var p *prefetched
			if need {
				key := url + "\x00" + pin
				f.prefetchMu.Lock()
				if _, dup := f.prefetches[key]; !dup {
					p = &prefetched{owner: names, done: make(chan struct{})}
					f.prefetches[key] = p
				}
				f.prefetchMu.Unlock()
			}
			close(ch)
			if p != nil {
				queue <- download{name, url, pin, p}
			}
		}
	}()
	go func() { // the starter
		defer wg.Done()
		slots := make(chan struct{}, jobs)
		for d := range queue {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				d.p.settle(nil, ctx.Err())
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				b, err := f.download(ctx, d.recipe, d.url, d.pin)
				d.p.settle(b, err)
			}()
		}
	}()
}

// awaitDecision waits until FetchAll's prefetch has decided whether name
// needs a download started ahead (at once when no FetchAll is deciding).
func (f *Fetcher) awaitDecision(ctx context.Context, name string) {
	f.prefetchMu.Lock()
	ch := f.decided[name]
	f.prefetchMu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

// keepInfo keeps name's record as read by FetchAll, for the fetch of name
// to take (takeInfo) rather than read it again.
func (f *Fetcher) keepInfo(name string, info *Info) {
	f.prefetchMu.Lock()
	defer f.prefetchMu.Unlock()
	if f.infos == nil {
		f.infos = map[string]*Info{}
	}
	f.infos[name] = info
}

// takeInfo returns name's record: the one FetchAll read, once, else the
// file's.
func (f *Fetcher) takeInfo(name string) *Info {
	f.prefetchMu.Lock()
	info, ok := f.infos[name]
	delete(f.infos, name)
	f.prefetchMu.Unlock()
	if ok {
		return info
	}
	info, _ = f.Info(name)
	return info
}

// settle ends a prefetch: the fetch waiting for it goes on.
func (p *prefetched) settle(b *Blob, err error) {
	p.blob, p.err = b, err
	close(p.done)
}

// takePrefetch returns the download of url started ahead, if there is
// one, for the one fetch that uses it (another recipe with the same
// archive finds it in the cache).
func (f *Fetcher) takePrefetch(url, pin string) *prefetched {
	f.prefetchMu.Lock()
	defer f.prefetchMu.Unlock()
	p := f.prefetches[url+"\x00"+pin]
	delete(f.prefetches, url+"\x00"+pin)
	return p
}

// willDownload says whether fetching name will download a tar source, and
// which: a tar recipe whose tree is not what it asks for and whose archive
// is not in the download cache. It only reads (as fetchTar's first steps
// do); a wrong guess costs a download made early or made by fetchTar.
func (f *Fetcher) willDownload(name string) (url, pin string, ok bool) {
	r, err := f.tree.Lookup(name)
	if err != nil || r.HasErrors() || r.Source == nil || r.Source.Kind != cookbook.Tar {
		return "", "", false
	}
	if r.Build.Template == cookbook.TemplateRemote {
		return "", "", false
	}
	s := r.Source
	pin = strings.ToLower(s.Blake3)
	old, _ := f.Info(name)
	f.keepInfo(name, old) // for fetch, which would read it again
	if old != nil && old.Kind == "tar" && old.Origin == tarOrigin(s) && isDir(f.work.Source(name)) {
		// Up to date unless the patches changed, which only needs the
		// archive if it left the cache: fetchTar sees to that.
		return "", "", false
	}
	if _, ok := f.dl.Lookup(s.Tar, pin); ok {
		return "", "", false
	}
	return s.Tar, pin, true
}
