package redoxfs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/redox-cook/cook/internal/termtext"
)

// ListEntry is one file as a listing reports it (ls -l, JSON).
type ListEntry struct {
	Path     string      `json:"path"`
	Name     string      `json:"name"`
	Type     string      `json:"type"` // file, dir, symlink or other
	Mode     string      `json:"mode"` // permission bits in octal, with setuid/setgid/sticky
	UID      uint32      `json:"uid"`
	GID      uint32      `json:"gid"`
	Size     int64       `json:"size"`
	Mtime    time.Time   `json:"mtime"`
	Target   string      `json:"target,omitempty"`
	Children []ListEntry `json:"children,omitempty"`
}

// NewListEntry describes e.
func NewListEntry(e EntryInfo) ListEntry {
	st := e.Info.Sys().(*Stat)
	out := ListEntry{
		Path:   display(e.Path),
		Name:   e.Info.Name(),
		Mode:   fmt.Sprintf("%o", st.Mode&0o7777),
		UID:    st.UID,
		GID:    st.GID,
		Size:   e.Info.Size(),
		Mtime:  st.Mtime,
		Target: e.Target,
	}
	switch {
	case e.Dir:
		out.Type = "dir"
	case e.Info.Mode().Type() == 0:
		out.Type = "file"
	case e.Info.Mode().Type() == fs.ModeSymlink:
		out.Type = "symlink"
	default:
		out.Type = "other"
	}
	return out
}

// TextTree prints each entry as a walk meets it, with box-drawing
// branches under the root's label (a Walk callback), names escaped for a
// terminal.
func TextTree(w io.Writer) func(EntryInfo) error {
	var last []bool // per depth: was the entry there the last of its directory
	return func(e EntryInfo) error {
		label := e.Info.Name()
		if e.Depth == 0 {
			label = display(e.Path)
		}
		if e.Target != "" {
			label += " -> " + e.Target
		}
		var b strings.Builder
		if e.Depth > 0 {
			last = append(last[:e.Depth-1], e.Last)
			for _, l := range last[:e.Depth-1] {
				if l {
					b.WriteString("    ")
				} else {
					b.WriteString("│   ")
				}
			}
			if e.Last {
				b.WriteString("└── ")
			} else {
				b.WriteString("├── ")
			}
		}
		b.WriteString(termtext.Escape(label))
		b.WriteByte('\n')
		_, err := io.WriteString(w, b.String())
		return err
	}
}

// JSONTree writes the root's ListEntry with nested children as a walk
// meets them (Walk's enter and leave callbacks), byte for byte what
// json.Encoder with a two-space indent writes for the whole tree: memory
// stays bounded however big the tree.
func JSONTree(w io.Writer) (enter, leave func(EntryInfo) error) {
	first := []bool{true} // per depth: no entry written there yet
	indent := func(depth int) string { return strings.Repeat("  ", 2*depth) }
	enter = func(e EntryInfo) error {
		d := e.Depth
		b, err := json.MarshalIndent(NewListEntry(e), indent(d), "  ")
		if err != nil {
			return err
		}
		var out []byte
		if d > 0 {
			if !first[d] {
				out = append(out, ",\n"...)
			}
			first[d] = false
			out = append(out, indent(d)...)
		}
		if e.Dir && e.Children > 0 {
			// Leave the object open for its children.
			b = bytes.TrimSuffix(b, []byte("\n"+indent(d)+"}"))
			out = append(out, b...)
			out = append(out, ",\n"+indent(d)+"  \"children\": [\n"...)
			first = append(first[:d+1], true)
		} else {
			out = append(out, b...)
			if d == 0 {
				out = append(out, '\n')
			}
		}
		_, err = w.Write(out)
		return err
	}
	leave = func(e EntryInfo) error {
		if e.Children == 0 {
			return nil
		}
		d := e.Depth
		out := "\n" + indent(d) + "  ]\n" + indent(d) + "}"
		if d == 0 {
			out += "\n"
		}
		_, err := io.WriteString(w, out)
		return err
	}
	return enter, leave
}

// Line formats e like ls -l: mode, owner, size, time and name (escaped
// for a terminal).
func (e ListEntry) Line(name string) string {
	name = termtext.Escape(name)
	if e.Target != "" {
		name += " -> " + termtext.Escape(e.Target)
	}
	return fmt.Sprintf("%s %5d %5d %10d %s %s", lsMode(e), e.UID, e.GID, e.Size, e.Mtime.UTC().Format("2006-01-02 15:04"), name)
}

// lsMode renders type and permission bits the way ls -l does.
func lsMode(e ListEntry) string {
	var m uint64
	fmt.Sscanf(e.Mode, "%o", &m)
	b := []byte("?rwxrwxrwx")
	switch e.Type {
	case "file":
		b[0] = '-'
	case "dir":
		b[0] = 'd'
	case "symlink":
		b[0] = 'l'
	}
	for i := range 9 {
		if m&(1<<(8-i)) == 0 {
			b[1+i] = '-'
		}
	}
	special := func(bit uint64, at int, set, unset byte) {
		if m&bit != 0 {
			if b[at] == '-' {
				b[at] = unset
			} else {
				b[at] = set
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}
