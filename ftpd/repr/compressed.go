package repr

import (
	"fmt"
	"io"
)

// Compressed mode (RFC 959 3.4.3). The wire is a sequence of:
//
//	0nnnnnnn d(1)..d(n)   a string of n data bytes, 1 <= n <= 127
//	10nnnnnn d            n replications of byte d, 1 <= n <= 63
//	11nnnnnn              n filler bytes (space for TYPE A and E, NUL for I and L 8)
//	00000000 descriptor   an escape: the descriptor codes of block mode
//
// RFC 959 says an escape's codes "apply to the succeeding string of bytes".
// Ferry reads a restart-marker escape (0x10) that way: the byte string that
// follows is the marker. An escape with EOR (0x80) or EOF (0x40) marks the
// end of the record or file at its own position, after the data it ends,
// as the EOR and EOF control codes of stream mode do; a descriptor of 0 or
// suspected errors (0x20) changes nothing.
const (
	compressedMaxString = 127
	compressedMaxRun    = 63
	compressedMinRun    = 3 // shorter runs go out as data
	compressedEscape    = 0x00
	compressedRepeat    = 0x80
	compressedFiller    = 0xC0
)

// compressedEncoder writes compressed mode. Its choices, which make the
// encoding of a file unique: a maximal run of one byte value is cut into
// pieces of 63 from its start; a piece of 3 or more bytes goes out as a
// filler string (for the type's filler byte) or a replicated byte, a shorter
// piece joins the data. Data goes out in strings of 127 bytes, the last one
// shorter when a run, a record end or the file end follows. Each record ends
// with the escape 0x00 0x80, the file with 0x00 0x40.
type compressedEncoder struct {
	wire   io.Writer
	filler byte
	data   []byte // pending data bytes, at most 127
	run    byte   // the byte of the current run
	nrun   int    // its length not yet sent, below 63
	out    []byte // wire bytes of the current call
}

func newCompressedEncoder(wire io.Writer, filler byte) *compressedEncoder {
	return &compressedEncoder{wire: wire, filler: filler, data: make([]byte, 0, compressedMaxString)}
}

func (e *compressedEncoder) Write(p []byte) (int, error) {
	for _, b := range p {
		if e.nrun > 0 && b == e.run {
			e.nrun++
			if e.nrun == compressedMaxRun {
				e.flushData()
				e.sendRun(compressedMaxRun)
				e.nrun = 0
			}
			continue
		}
		e.endRun()
		e.run, e.nrun = b, 1
	}
	return len(p), e.send()
}

// endRun sends the current run's rest as a run or queues it as data.
func (e *compressedEncoder) endRun() {
	if e.nrun >= compressedMinRun {
		e.flushData()
		e.sendRun(e.nrun)
	} else {
		for range e.nrun {
			e.data = append(e.data, e.run)
			if len(e.data) == compressedMaxString {
				e.flushData()
			}
		}
	}
	e.nrun = 0
}

func (e *compressedEncoder) sendRun(n int) {
	if e.run == e.filler {
		e.out = append(e.out, compressedFiller|byte(n))
		return
	}
	e.out = append(e.out, compressedRepeat|byte(n), e.run)
}

func (e *compressedEncoder) flushData() {
	if len(e.data) == 0 {
		return
	}
	e.out = append(e.out, byte(len(e.data)))
	e.out = append(e.out, e.data...)
	e.data = e.data[:0]
}

func (e *compressedEncoder) send() error {
	if len(e.out) == 0 {
		return nil
	}
	_, err := e.wire.Write(e.out)
	e.out = e.out[:0]
	return err
}

func (e *compressedEncoder) escape(desc byte) error {
	e.endRun()
	e.flushData()
	e.out = append(e.out, compressedEscape, desc)
	return e.send()
}

func (e *compressedEncoder) EndRecord() error { return e.escape(descEOR) }
func (e *compressedEncoder) Close() error     { return e.escape(descEOF) }

// compressedDecoder reads compressed mode up to the escape carrying EOF.
type compressedDecoder struct {
	next   structuredWriter
	marker func(string)
	fill   [compressedMaxRun]byte // the filler byte, repeated
	rep    [compressedMaxRun]byte

	state    compressedState
	n        int    // data bytes of the current string still to come, or the count of a replicated byte
	markNext bool   // a restart escape was read: the next string is the marker
	inMarker bool   // the current string is a restart marker
	restart  []byte // the marker being read
	done     bool
	off      int64
}

type compressedState int

const (
	cHeader     compressedState = iota // expecting a string, run or escape header
	cString                            // inside a data string
	cRepeated                          // expecting the byte of a replicated run
	cDescriptor                        // expecting the descriptor of an escape
)

func newCompressedDecoder(next structuredWriter, filler byte, marker func(string)) *compressedDecoder {
	d := &compressedDecoder{next: next, marker: marker}
	for i := range d.fill {
		d.fill[i] = filler
	}
	return d
}

func (d *compressedDecoder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if d.done {
			return n - len(p), formatError(Compressed, d.off, ErrAfterEOF, "data after the EOF escape")
		}
		var (
			used int
			err  error
		)
		switch d.state {
		case cHeader:
			used, err = 1, d.header(p[0])
		case cString:
			used = min(d.n, len(p))
			err = d.stringData(p[:used])
		case cRepeated:
			for i := range d.n {
				d.rep[i] = p[0]
			}
			used, d.state = 1, cHeader
			_, err = d.next.Write(d.rep[:d.n])
		case cDescriptor:
			used, d.state = 1, cHeader
			err = d.descriptor(p[0])
		}
		if err != nil {
			return n - len(p), err
		}
		d.off += int64(used)
		p = p[used:]
	}
	return n, nil
}

func (d *compressedDecoder) header(h byte) error {
	count := int(h & 0x3F)
	switch {
	case h == compressedEscape:
		d.state = cDescriptor
		return nil
	case h&0x80 == 0:
		d.state, d.n = cString, int(h)
		d.inMarker, d.markNext = d.markNext, false
		return nil
	case d.markNext:
		return d.malformed("a restart-marker escape must be followed by a byte string")
	case count == 0:
		return d.malformed(fmt.Sprintf("%s with a count of 0", runName(h)))
	case h&compressedFiller == compressedFiller:
		_, err := d.next.Write(d.fill[:count])
		return err
	}
	d.state, d.n = cRepeated, count
	return nil
}

func runName(h byte) string {
	if h&compressedFiller == compressedFiller {
		return "filler string"
	}
	return "replicated byte"
}

func (d *compressedDecoder) stringData(p []byte) error {
	d.n -= len(p)
	if d.n == 0 {
		d.state = cHeader
	}
	if !d.inMarker {
		_, err := d.next.Write(p)
		return err
	}
	d.restart = append(d.restart, p...)
	if d.n == 0 {
		d.inMarker = false
		d.marker(string(d.restart))
		d.restart = d.restart[:0]
	}
	return nil
}

func (d *compressedDecoder) descriptor(desc byte) error {
	switch {
	case desc&descUnknown != 0:
		return d.malformed(fmt.Sprintf("escape descriptor 0x%02X has unassigned bits", desc))
	case d.markNext:
		return d.malformed("a restart-marker escape must be followed by a byte string")
	case desc&descRestart != 0 && desc&descEOF != 0:
		return d.malformed("a restart marker cannot follow the end of file")
	}
	d.markNext = desc&descRestart != 0
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

func (d *compressedDecoder) malformed(detail string) error {
	return formatError(Compressed, d.off, ErrMalformed, detail)
}

func (d *compressedDecoder) Close() error {
	if !d.done {
		return formatError(Compressed, d.off, ErrTruncated, "data ended before the EOF escape (0x00 0x40)")
	}
	return nil
}
