package repr

import (
	"bytes"
	"io"
)

// newModeEncoder returns the download side of the mode layer: it writes the
// wire bytes of a structured transfer to wire.
func newModeEncoder(wire *bytes.Buffer, r Representation) (structuredWriter, error) {
	records := r.Structure == Record
	switch r.Mode {
	case Block:
		return newBlockEncoder(wire), nil
	case Compressed:
		return newCompressedEncoder(wire, r.Type.filler()), nil
	case Deflate:
		return newDeflateEncoder(wire, records, r.zlibLevel())
	}
	return &streamEncoder{wire: wire, records: records}, nil
}

// newModeDecoder returns the upload side of the mode layer: it decodes the
// wire bytes written to it into next, and reports restart markers to
// marker. Its Close reports a transfer that ended before its end of file.
func newModeDecoder(next structuredWriter, r Representation, marker func(string)) io.WriteCloser {
	records := r.Structure == Record
	switch r.Mode {
	case Block:
		return &blockDecoder{next: next, marker: marker}
	case Compressed:
		return newCompressedDecoder(next, r.Type.filler(), marker)
	case Deflate:
		return newDeflateDecoder(&streamDecoder{next: next, records: records})
	}
	return &streamDecoder{next: next, records: records}
}
