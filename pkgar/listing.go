package pkgar

import (
	"fmt"
	"io"

	"github.com/redox-cook/cook/internal/termtext"
)

// Listing is what `cook pkgar list` shows of a package: its header and
// every entry, ready for JSON or WriteText.
type Listing struct {
	File      string         `json:"file"`
	PublicKey string         `json:"public_key"`
	Blake3    string         `json:"blake3"`
	Packaging string         `json:"packaging"`
	Head      bool           `json:"head_only"` // a .pkgar_head: entries without data
	Entries   []ListingEntry `json:"entries"`
}

// ListingEntry is one entry of a Listing.
type ListingEntry struct {
	Path   string `json:"path"`
	Mode   string `json:"mode"` // octal, file type included
	Size   uint64 `json:"size"`
	Blake3 string `json:"blake3"`
	Target string `json:"target,omitempty"` // a symlink's target
}

// List reads rd's entries into a Listing (symlink targets included when
// the package has data); name is the file it was read from.
func (rd *Reader) List(name string) (*Listing, error) {
	l := &Listing{File: name, PublicKey: PublicKey(rd.Header.PublicKey).String(), Blake3: rd.Header.Blake3.String(),
		Packaging: rd.Header.Flags.Packaging().String(), Head: !rd.HasData(), Entries: []ListingEntry{}}
	for i := range rd.Entries {
		e := &rd.Entries[i]
		le := ListingEntry{Path: e.Path, Mode: fmt.Sprintf("%06o", e.Mode), Size: e.Size, Blake3: e.Blake3.String()}
		if e.IsSymlink() && rd.HasData() {
			var err error
			if le.Target, err = rd.ReadLink(e); err != nil {
				return nil, fmt.Errorf("package %s: %w", name, err)
			}
		}
		l.Entries = append(l.Entries, le)
	}
	return l, nil
}

// WriteText writes one line per entry: mode, size, the start of its
// BLAKE3, path (and a symlink's target), names escaped for a terminal.
func (l *Listing) WriteText(w io.Writer) error {
	for _, e := range l.Entries {
		var err error
		if e.Target != "" {
			_, err = fmt.Fprintf(w, "%s %10d %s %s -> %s\n", e.Mode, e.Size, e.Blake3[:16], termtext.Escape(e.Path), termtext.Escape(e.Target))
		} else {
			_, err = fmt.Fprintf(w, "%s %10d %s %s\n", e.Mode, e.Size, e.Blake3[:16], termtext.Escape(e.Path))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
