package pkgar

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/zeebo/blake3"
)

// TestLayoutMatchesSpec assembles the expected package byte by byte from
// the format description (image-formats.md §2.1), without the package's
// own encoders, and compares it with what Create writes.
func TestLayoutMatchesSpec(t *testing.T) {
	stage := t.TempDir()
	writeTree(t, stage, []node{
		{path: "z/last", data: []byte("zz"), perm: 0o600},
		{path: "a.txt", data: []byte("hello\n"), perm: 0o644},
		{path: "a/x", data: nil, perm: 0o755},
		{path: "link", target: "a.txt"},
	})
	key := testKey(t)
	pkg := filepath.Join(t.TempDir(), "p.pkgar")
	if _, err := Create(context.Background(), pkg, stage, key); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}

	// Children sorted by name per directory: "a" < "a.txt" < "link" < "z".
	type ent struct {
		path string
		mode uint32
		data []byte
	}
	ents := []ent{
		{"a/x", 0o100755, nil},
		{"a.txt", 0o100644, []byte("hello\n")},
		{"link", 0o120777, []byte("a.txt")},
		{"z/last", 0o100600, []byte("zz")},
	}
	var table, data []byte
	for _, e := range ents {
		rec := make([]byte, 308)
		sum := blake3.Sum256(e.data)
		copy(rec[0:32], sum[:])
		binary.LittleEndian.PutUint64(rec[32:40], uint64(len(data)))
		binary.LittleEndian.PutUint64(rec[40:48], uint64(len(e.data)))
		binary.LittleEndian.PutUint32(rec[48:52], e.mode)
		copy(rec[52:], e.path) // NUL-padded to 256 bytes
		table = append(table, rec...)
		data = append(data, e.data...)
	}
	header := make([]byte, 136)
	pub := ed25519.NewKeyFromSeed(key.priv[:32]).Public().(ed25519.PublicKey)
	copy(header[64:96], pub)
	tsum := blake3.Sum256(table)
	copy(header[96:128], tsum[:])
	binary.LittleEndian.PutUint32(header[128:132], uint32(len(ents)))
	binary.LittleEndian.PutUint32(header[132:136], 0) // version 0, independent, uncompressed
	copy(header[0:64], ed25519.Sign(key.priv, header[64:136]))
	want := append(append(header, table...), data...)

	if !bytes.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("package differs from the spec layout first at byte %d (got %d bytes, want %d)", i, len(got), len(want))
			}
		}
		t.Fatalf("package is %d bytes, the spec layout %d", len(got), len(want))
	}
}
