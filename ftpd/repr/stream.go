package repr

import (
	"bytes"
	"io"
)

// Stream mode (RFC 959 3.4.1). In file structure every byte is data and the
// end of file is the close of the connection. In record structure the
// escape byte 0xFF introduces a control code: 0xFF 0x01 ends a record,
// 0xFF 0x02 ends the file, 0xFF 0x03 does both, and 0xFF 0xFF is a data
// byte 0xFF.
const (
	streamEscape = 0xFF
	streamEOR    = 0x01
	streamEOF    = 0x02
)

// streamEncoder writes stream mode. Ferry ends each record with its own
// EOR and the file with a separate EOF (0xFF 0x02).
type streamEncoder struct {
	wire    io.Writer
	records bool
	code    [2]byte // a control code being written
	scratch []byte  // STRU R: data with each 0xFF doubled
}

func (e *streamEncoder) Write(p []byte) (int, error) {
	if !e.records {
		return e.wire.Write(p)
	}
	if e.scratch == nil {
		e.scratch = make([]byte, 0, 2*chunkSize)
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), chunkSize)
		out, seg := e.scratch[:0], p[:k]
		for {
			i := bytes.IndexByte(seg, streamEscape)
			if i < 0 {
				out = append(out, seg...)
				break
			}
			out = append(out, seg[:i+1]...)
			out = append(out, streamEscape) // a data byte 0xFF is sent twice
			seg = seg[i+1:]
		}
		if _, err := e.wire.Write(out); err != nil {
			return n - len(p), err
		}
		p = p[k:]
	}
	return n, nil
}

func (e *streamEncoder) EndRecord() error { return e.control(streamEOR) }
func (e *streamEncoder) Close() error     { return e.control(streamEOF) }

func (e *streamEncoder) control(c byte) error {
	if !e.records {
		return nil
	}
	e.code = [2]byte{streamEscape, c}
	_, err := e.wire.Write(e.code[:])
	return err
}

// streamDecoder reads stream mode. In record structure the data must end
// with an EOF control code; a last record without its EOR is stored as it
// came (for text, a last line without LF).
type streamDecoder struct {
	next    structuredWriter
	records bool
	escape  bool // the last byte was an unpaired 0xFF
	done    bool // EOF received
	off     int64
	ff      [1]byte
}

func (d *streamDecoder) Write(p []byte) (int, error) {
	if !d.records {
		n, err := d.next.Write(p)
		d.off += int64(n)
		return n, err
	}
	n := len(p)
	for len(p) > 0 {
		if d.done {
			return n - len(p), formatError(Stream, d.off, ErrAfterEOF, "data after the EOF control code (0xFF 0x02)")
		}
		if d.escape {
			if err := d.control(p[0]); err != nil {
				return n - len(p), err
			}
			d.escape = false
			p = p[1:]
			d.off++
			continue
		}
		i := bytes.IndexByte(p, streamEscape)
		if i < 0 {
			i = len(p)
		}
		if _, err := d.next.Write(p[:i]); err != nil {
			return n - len(p), err
		}
		d.off += int64(i)
		p = p[i:]
		if len(p) > 0 {
			d.escape = true
			p = p[1:]
			d.off++
		}
	}
	return n, nil
}

func (d *streamDecoder) control(c byte) error {
	switch c {
	case streamEscape:
		d.ff[0] = streamEscape
		_, err := d.next.Write(d.ff[:])
		return err
	case streamEOR, streamEOR | streamEOF:
		if err := d.next.EndRecord(); err != nil {
			return err
		}
		if c == streamEOR {
			return nil
		}
	case streamEOF:
	default:
		return formatError(Stream, d.off-1, ErrMalformed, "0xFF escape followed by 0x"+hexByte(c)+", not 0x01 (EOR), 0x02 (EOF), 0x03 or 0xFF")
	}
	d.done = true
	return d.next.Close()
}

func (d *streamDecoder) Close() error {
	if !d.records {
		return d.next.Close()
	}
	if !d.done {
		return formatError(Stream, d.off, ErrTruncated, "record-structured data ended without the EOF control code (0xFF 0x02)")
	}
	return nil
}

func hexByte(b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&0x0F]})
}
