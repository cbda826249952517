package initfs

import (
	"context"
	"fmt"
	"io"

	"github.com/redox-cook/cook/internal/termtext"
)

// Listing is what `cook initfs ls` shows of an image: its header and every
// entry, ready for JSON or WriteText.
type Listing struct {
	File           string      `json:"file"`
	Size           int64       `json:"size"`
	PageSize       uint16      `json:"page_size"`
	InodeCount     uint16      `json:"inode_count"`
	RootInode      uint16      `json:"root_inode"`
	BootstrapEntry string      `json:"bootstrap_entry"` // hexadecimal, 0x…
	Entries        []ListEntry `json:"entries"`
}

// ListEntry is one entry of a Listing.
type ListEntry struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"`
	Mode   string `json:"mode"` // octal permission bits
	Size   uint32 `json:"size"`
	Inode  uint16 `json:"inode"`
	Target string `json:"target,omitempty"` // a symlink's target
}

// List walks the image into a Listing; name is the file it was read from.
func (im *Image) List(ctx context.Context, name string) (*Listing, error) {
	h := im.Header
	l := &Listing{File: name, Size: im.Size(), PageSize: h.PageSize, InodeCount: h.InodeCount,
		RootInode: h.RootInode, BootstrapEntry: fmt.Sprintf("%#x", h.BootstrapEntry), Entries: []ListEntry{}}
	err := im.Walk(ctx, func(e Entry) error {
		l.Entries = append(l.Entries, ListEntry{Path: e.Path, Kind: e.Kind.String(),
			Mode: fmt.Sprintf("%04o", e.Kind.Mode()), Size: e.Size, Inode: e.Inode, Target: e.Target})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("initfs %s: %w", name, err)
	}
	return l, nil
}

// WriteText writes one line per entry: mode, kind, size, path (and a
// symlink's target), names escaped for a terminal.
func (l *Listing) WriteText(w io.Writer) error {
	for _, e := range l.Entries {
		var err error
		if e.Target != "" {
			_, err = fmt.Fprintf(w, "%s %-7s %10d %s -> %s\n", e.Mode, e.Kind, e.Size, termtext.Escape(e.Path), termtext.Escape(e.Target))
		} else {
			_, err = fmt.Fprintf(w, "%s %-7s %10d %s\n", e.Mode, e.Kind, e.Size, termtext.Escape(e.Path))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
