package pkgar

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sync"
)

// aheadLimit is the largest entry (uncompressed) that workers encode ahead
// into memory; a larger one is encoded by the writer, streaming, when its
// turn comes, so that memory stays bounded whatever the stage holds.
var aheadLimit uint64 = 16 << 20

// encoded is one entry read, hashed and (for LZMA2) compressed ahead.
type encoded struct {
	done     chan struct{}
	data     bytes.Buffer
	unpacked uint64
	err      error
}

// writeDataOrdered streams every entry's data to w, which is positioned at
// the start of the data region, in entry order: that is the one order a
// stream allows, and for LZMA2 an entry's offset depends on how small the
// entries before it compressed to. Meanwhile workers on the other cores
// read, hash and compress the entries ahead of the one being written (at
// most a few entries ahead, each at most aheadLimit bytes). It fills in
// each entry's Offset, Size and Blake3, and returns the data's size and
// its uncompressed size.
func writeDataOrdered(ctx context.Context, w io.Writer, stageDir string, p Packaging, entries []Entry) (int64, uint64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := min(runtime.GOMAXPROCS(0), 4)
	ahead := make([]*encoded, len(entries))
	for i := range entries {
		if streamed(&entries[i]) {
			continue
		}
		ahead[i] = &encoded{done: make(chan struct{})}
	}
	// window bounds the entries encoded and not yet written; the feeder
	// takes a place in it, in entry order, before handing an entry out,
	// and the writer gives it back once the entry is written.
	window := make(chan struct{}, 2*workers)
	jobs := make(chan int)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: nothing is left running
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		for i, a := range ahead {
			if a == nil {
				continue
			}
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hs := newHasher()
			for i := range jobs {
				a := ahead[i]
				a.unpacked, a.err = encodeEntry(ctx, &a.data, stageDir, p, &entries[i], hs)
				close(a.done)
			}
		}()
	}

	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	hs := newHasher()
	var unpacked uint64
	for i := range entries {
		e := &entries[i]
		e.Offset = uint64(cw.n + int64(bw.Buffered()))
		var n uint64
		var err error
		if a := ahead[i]; a == nil {
			n, err = encodeEntry(ctx, bw, stageDir, p, e, hs)
		} else {
			select {
			case <-a.done:
			case <-ctx.Done():
				return 0, 0, ctx.Err()
			}
			n, err = a.unpacked, a.err
			if err == nil {
				if _, werr := bw.Write(a.data.Bytes()); werr != nil {
					err = fmt.Errorf("writing package data: %w", werr)
				}
			}
			ahead[i] = nil // its memory can go
			<-window
		}
		if err != nil {
			return 0, 0, err
		}
		unpacked += n
		e.Size = uint64(cw.n+int64(bw.Buffered())) - e.Offset
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, fmt.Errorf("writing package data: %w", err)
	}
	return cw.n, unpacked, nil
}

// streamed reports whether e is too large to be encoded ahead.
func streamed(e *Entry) bool { return !e.IsSymlink() && e.Size > aheadLimit }

// encodeEntry writes e's data as the package stores it to w, sets its
// BLAKE3 and returns its uncompressed size.
func encodeEntry(ctx context.Context, w io.Writer, stageDir string, p Packaging, e *Entry, hs *hasher) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	full := filepath.Join(stageDir, filepath.FromSlash(e.Path))
	if e.IsSymlink() {
		return writeSymlink(w, p, full, e)
	}
	return writeFile(ctx, w, p, full, e, hs)
}
