package repr

import (
	"fmt"
	"io"
)

// Block mode (RFC 959 3.4.2): each block is a descriptor byte, a 16-bit
// big-endian byte count and that many bytes.
const (
	descEOR     = 0x80 // end of data block is EOR
	descEOF     = 0x40 // end of data block is EOF
	descErrors  = 0x20 // suspected errors in data block (accepted, data kept)
	descRestart = 0x10 // data block is a restart marker
	descUnknown = 0x0F // bits RFC 959 does not assign

	maxBlock = 0xFFFF
)

// blockEncoder writes block mode. A record's data goes out in blocks of
// 65535 bytes; the last block of a record carries EOR (with the record's
// last 1 to 65535 bytes, or none for an empty record). The file ends with a
// block carrying EOF: in file structure it holds the last 1 to 65535 bytes
// (none for an empty file); in record structure it is empty.
type blockEncoder struct {
	wire io.Writer
	buf  []byte // header space, then up to maxBlock data bytes
}

func newBlockEncoder(wire io.Writer) *blockEncoder {
	return &blockEncoder{wire: wire, buf: make([]byte, 3, 3+maxBlock)}
}

func (e *blockEncoder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(e.buf) == cap(e.buf) {
			if err := e.flush(0); err != nil {
				return n - len(p), err
			}
		}
		k := min(len(p), cap(e.buf)-len(e.buf))
		e.buf = append(e.buf, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

// flush sends the buffered data as one block with descriptor desc.
func (e *blockEncoder) flush(desc byte) error {
	count := len(e.buf) - 3
	e.buf[0], e.buf[1], e.buf[2] = desc, byte(count>>8), byte(count)
	_, err := e.wire.Write(e.buf)
	e.buf = e.buf[:3]
	return err
}

func (e *blockEncoder) EndRecord() error { return e.flush(descEOR) }
func (e *blockEncoder) Close() error     { return e.flush(descEOF) }

// blockDecoder reads block mode up to the block carrying EOF. A
// restart-marker block's data is the marker, reported and not stored. The
// suspected-errors flag is accepted and its data stored.
type blockDecoder struct {
	next   structuredWriter
	marker func(string)

	header    [3]byte
	nheader   int
	remaining int    // data bytes of the current block still to come
	restart   []byte // the marker being read
	done      bool
	off       int64
}

func (d *blockDecoder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if d.done {
			return n - len(p), formatError(Block, d.off, ErrAfterEOF, "data after the block carrying EOF")
		}
		if d.nheader < len(d.header) {
			k := copy(d.header[d.nheader:], p)
			d.nheader += k
			d.off += int64(k)
			p = p[k:]
			if d.nheader < len(d.header) {
				break
			}
			if d.header[0]&descUnknown != 0 {
				return n - len(p), formatError(Block, d.off-3, ErrMalformed, fmt.Sprintf("block descriptor 0x%02X has unassigned bits", d.header[0]))
			}
			d.remaining = int(d.header[1])<<8 | int(d.header[2])
		}
		k := min(d.remaining, len(p))
		if d.header[0]&descRestart != 0 {
			d.restart = append(d.restart, p[:k]...)
		} else if _, err := d.next.Write(p[:k]); err != nil {
			return n - len(p), err
		}
		d.remaining -= k
		d.off += int64(k)
		p = p[k:]
		if d.remaining == 0 {
			if err := d.endBlock(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (d *blockDecoder) endBlock() error {
	desc := d.header[0]
	d.nheader = 0
	if desc&descRestart != 0 {
		d.marker(string(d.restart))
		d.restart = d.restart[:0]
	}
	if desc&descEOR != 0 {
		if err := d.next.EndRecord(); err != nil {
			return err
		}
	}
	if desc&descEOF != 0 {
		d.done = true
		return d.next.Close()
	}
	return nil
}

func (d *blockDecoder) Close() error {
	if !d.done {
		return formatError(Block, d.off, ErrTruncated, "data ended before the block carrying EOF")
	}
	return nil
}
