package cache

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// An action result is a remote answer: one that does not decode is an
// error and is dropped from the store; one larger than maxActionResult is
// refused, even when it would decode.
func TestActionHostile(t *testing.T) {
	ctx := context.Background()
	l := NewLocal(t.TempDir())
	c := New(l)
	put := func(key ActionKey, b []byte) {
		t.Helper()
		if err := l.Put(ctx, AC, key.String(), int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	bad := NewActionKey([]byte("undecodable"))
	put(bad, []byte{0x12, 0x05, 0x0a})
	if _, err := c.Action(ctx, bad); err == nil {
		t.Error("an undecodable action result was read")
	}
	if ok, _ := l.Has(ctx, AC, bad.String()); ok {
		t.Error("the undecodable action result was kept")
	}
	// a valid result padded with an unknown field past the limit
	huge := NewActionKey([]byte("huge"))
	valid := (&ActionResult{Files: []OutputFile{{Path: "x", Digest: DigestBytes(nil)}}}).Marshal()
	padded := appendBytes(valid, 15, make([]byte, maxActionResult))
	if _, err := UnmarshalActionResult(padded); err != nil {
		t.Fatalf("the padded result does not decode: %v", err)
	}
	put(huge, padded)
	if _, err := c.Action(ctx, huge); err == nil {
		t.Error("an action result over the limit was read")
	}
}

// FuzzUnmarshalActionResult: whatever the bytes, decoding returns a result
// or an error (no panic), and a result encodes back to what decodes to it.
func FuzzUnmarshalActionResult(f *testing.F) {
	d := DigestBytes([]byte("one"))
	f.Add((&ActionResult{Files: []OutputFile{{Path: "cook/entry.json", Digest: d}, {Path: "stage.tar", Digest: d, Executable: true}}, Stdout: &d}).Marshal())
	f.Add([]byte{0x12, 0x02, 0x0a, 0x00, 0x12, 0x01})
	f.Add([]byte{0x12})
	f.Fuzz(func(t *testing.T, b []byte) {
		ar, err := UnmarshalActionResult(b)
		if err != nil {
			return
		}
		again, err := UnmarshalActionResult(ar.Marshal())
		if err != nil {
			t.Fatalf("re-encoded result does not decode: %v", err)
		}
		if diff := cmp.Diff(ar, again); diff != "" {
			t.Fatalf("round trip (-first +again):\n%s", diff)
		}
	})
}
