package redoxfs

import "testing"

func TestSeaHash(t *testing.T) {
	tests := []struct {
		in   []byte
		want uint64
	}{
		{make([]byte, 4072), 0xe81ffcb86026ff96},
		{[]byte("to be or not to be"), 1988685042348123509},
	}
	for _, tt := range tests {
		if got := seaHash(tt.in); got != tt.want {
			t.Errorf("seaHash(%d bytes) = %#x, want %#x", len(tt.in), got, tt.want)
		}
	}
}

func BenchmarkSeaHash(b *testing.B) {
	buf := make([]byte, 128<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		seaHash(buf)
	}
}
