package pkgar

import (
	"context"
	"errors"
	"io"

	"github.com/zeebo/blake3"
)

const copyBufSize = 1 << 20

// hasher streams data to a writer while hashing it, reusing its buffer.
type hasher struct {
	h   *blake3.Hasher
	buf []byte
}

func newHasher() *hasher {
	return &hasher{h: blake3.New(), buf: make([]byte, copyBufSize)}
}

// copyAndHash copies r to w and returns the BLAKE3 of what was copied.
func (hs *hasher) copyAndHash(ctx context.Context, w io.Writer, r io.Reader) (Hash, uint64, error) {
	hs.h.Reset()
	var n uint64
	for {
		if err := ctx.Err(); err != nil {
			return Hash{}, 0, err
		}
		m, err := io.ReadFull(r, hs.buf)
		if m > 0 {
			hs.h.Write(hs.buf[:m])
			if _, werr := w.Write(hs.buf[:m]); werr != nil {
				return Hash{}, 0, werr
			}
			n += uint64(m)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return Hash{}, 0, err
		}
	}
	var sum Hash
	hs.h.Sum(sum[:0])
	return sum, n, nil
}
