package cache

import (
	"errors"
	"fmt"
)

// The action cache holds REAPI ActionResult messages
// (build.bazel.remote.execution.v2), which bazel-remote validates, and whose
// blobs it checks are present before it answers a GET: an entry it returns
// is complete. cook uses a small subset, encoded here by hand to keep the
// protobuf runtime out of cook:
//
//	ActionResult { repeated OutputFile output_files = 2; Digest stdout_digest = 6; }
//	OutputFile   { string path = 1; Digest digest = 2; bool is_executable = 4; }
//	Digest       { string hash = 1; int64 size_bytes = 2; }

// OutputFile is one output of an action, kept as a CAS blob.
type OutputFile struct {
	Path       string
	Digest     Digest
	Executable bool
}

// ActionResult is what the action cache keeps for an action key: its
// output files and its log (stdout), all CAS blobs.
type ActionResult struct {
	Files  []OutputFile
	Stdout *Digest
}

// Blobs is every blob the result names.
func (ar *ActionResult) Blobs() []Digest {
	var out []Digest
	for _, f := range ar.Files {
		out = append(out, f.Digest)
	}
	if ar.Stdout != nil {
		out = append(out, *ar.Stdout)
	}
	return out
}

// File returns the output at path.
func (ar *ActionResult) File(path string) (OutputFile, bool) {
	for _, f := range ar.Files {
		if f.Path == path {
			return f, true
		}
	}
	return OutputFile{}, false
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendTag(b []byte, field, wire int) []byte { return appendVarint(b, uint64(field<<3|wire)) }

func appendBytes(b []byte, field int, v []byte) []byte {
	b = appendTag(b, field, 2)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func encodeDigest(d Digest) []byte {
	b := appendBytes(nil, 1, []byte(d.Hash))
	if d.Size != 0 {
		b = appendTag(b, 2, 0)
		b = appendVarint(b, uint64(d.Size))
	}
	return b
}

// Marshal encodes ar as the REAPI ActionResult message.
func (ar *ActionResult) Marshal() []byte {
	var b []byte
	for _, f := range ar.Files {
		m := appendBytes(nil, 1, []byte(f.Path))
		m = appendBytes(m, 2, encodeDigest(f.Digest))
		if f.Executable {
			m = appendTag(m, 4, 0)
			m = appendVarint(m, 1)
		}
		b = appendBytes(b, 2, m)
	}
	if ar.Stdout != nil {
		b = appendBytes(b, 6, encodeDigest(*ar.Stdout))
	}
	return b
}

var errTruncated = errors.New("truncated protobuf message")

func readVarint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errTruncated
}

// fields calls f for each field of message b; val is the payload of a
// length-delimited field, num the value of a varint one.
func fields(b []byte, f func(field, wire int, val []byte, num uint64) error) error {
	for len(b) > 0 {
		tag, n, err := readVarint(b)
		if err != nil {
			return err
		}
		b = b[n:]
		field, wire := int(tag>>3), int(tag&7)
		var val []byte
		var num uint64
		switch wire {
		case 0:
			num, n, err = readVarint(b)
			if err != nil {
				return err
			}
		case 1:
			n = 8
		case 5:
			n = 4
		case 2:
			l, m, err := readVarint(b)
			if err != nil {
				return err
			}
			if l > uint64(len(b)-m) {
				return errTruncated
			}
			val = b[m : m+int(l)]
			n = m + int(l)
		default:
			return fmt.Errorf("unsupported protobuf wire type %d", wire)
		}
		if n > len(b) {
			return errTruncated
		}
		b = b[n:]
		if err := f(field, wire, val, num); err != nil {
			return err
		}
	}
	return nil
}

func decodeDigest(b []byte) (Digest, error) {
	var d Digest
	err := fields(b, func(field, wire int, val []byte, num uint64) error {
		switch {
		case field == 1 && wire == 2:
			d.Hash = string(val)
		case field == 2 && wire == 0:
			d.Size = int64(num)
		}
		return nil
	})
	if err == nil {
		err = checkHash(d.Hash)
	}
	return d, err
}

// UnmarshalActionResult decodes an ActionResult message.
func UnmarshalActionResult(b []byte) (*ActionResult, error) {
	ar := &ActionResult{}
	err := fields(b, func(field, wire int, val []byte, num uint64) error {
		switch {
		case field == 2 && wire == 2:
			var f OutputFile
			err := fields(val, func(field, wire int, val []byte, num uint64) error {
				var err error
				switch {
				case field == 1 && wire == 2:
					f.Path = string(val)
				case field == 2 && wire == 2:
					f.Digest, err = decodeDigest(val)
				case field == 4 && wire == 0:
					f.Executable = num != 0
				}
				return err
			})
			if err == nil {
				err = checkHash(f.Digest.Hash) // a file names its blob
			}
			if err != nil {
				return err
			}
			ar.Files = append(ar.Files, f)
		case field == 6 && wire == 2:
			d, err := decodeDigest(val)
			if err != nil {
				return err
			}
			ar.Stdout = &d
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decode ActionResult: %w", err)
	}
	return ar, nil
}
