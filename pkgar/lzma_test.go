package pkgar

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os/exec"
	"testing"
)

// TestLZMA2Interop checks LZMA2 entries against an independent LZMA2
// implementation, xz-utils' raw mode: what cook writes, xz decodes, and
// what xz writes (with a larger dictionary than cook's), cook reads.
func TestLZMA2Interop(t *testing.T) {
	xz, err := exec.LookPath("xz")
	if err != nil {
		t.Skip("xz not installed")
	}
	r := rand.New(rand.NewPCG(7, 7))
	samples := map[string][]byte{
		"empty":  nil,
		"text":   bytes.Repeat([]byte("all work and no play makes redox a dull os\n"), 5000),
		"random": randBytes(r, 200000),
	}
	key := testKey(t)
	t.Run("cook writes, xz reads", func(t *testing.T) {
		var nodes []node
		for name, data := range samples {
			nodes = append(nodes, node{path: name, data: data})
		}
		pkg, info := buildPackage(t, nodes, WithPackaging(LZMA2))
		head := info.Header.HeadSize()
		for _, e := range info.Entries {
			stored := pkg[head+int64(e.Offset) : head+int64(e.Offset+e.Size)]
			if got := binary.LittleEndian.Uint64(stored); got != uint64(len(samples[e.Path])) {
				t.Errorf("%s: length prefix %d, want %d", e.Path, got, len(samples[e.Path]))
			}
			cmd := exec.Command(xz, "--format=raw", "--lzma2=dict=64MiB", "-d", "-c")
			cmd.Stdin = bytes.NewReader(stored[8:])
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: xz -d: %v", e.Path, err)
			}
			if !bytes.Equal(out, samples[e.Path]) {
				t.Errorf("%s: xz decoded %d bytes that differ from the original", e.Path, len(out))
			}
		}
	})
	t.Run("xz writes, cook reads", func(t *testing.T) {
		var entries []Entry
		var data, stored [][]byte
		for _, name := range []string{"empty", "random", "text"} {
			cmd := exec.Command(xz, "--format=raw", "--lzma2=preset=9e,dict=64MiB", "-z", "-c")
			cmd.Stdin = bytes.NewReader(samples[name])
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("xz -z: %v", err)
			}
			pre := binary.LittleEndian.AppendUint64(nil, uint64(len(samples[name])))
			entries = append(entries, Entry{Mode: ModeFile | 0o644, Path: name})
			data = append(data, samples[name])
			stored = append(stored, append(pre, out...))
		}
		pkg := craftFlags(t, key, NewFlags(ArchIndependent, LZMA2), entries, data, stored)
		rd, err := NewReader(bytes.NewReader(pkg), int64(len(pkg)), key.Public())
		if err != nil {
			t.Fatal(err)
		}
		if err := rd.Verify(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i := range rd.Entries {
			e := &rd.Entries[i]
			f, err := rd.Open(e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, samples[e.Path]) {
				t.Errorf("%s: read %d bytes that differ from the original", e.Path, len(got))
			}
		}
	})
}
