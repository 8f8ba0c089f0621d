package repr

import (
	"bytes"
	"io"
)

// The file layer: how file bytes become the data, records and end of file
// of a transfer (download), and back (upload).
//
//	TYPE     STRU F                          STRU R
//	A        LF <-> CRLF                     a line is a record, without its LF
//	E        bytes <-> EBCDIC, LF <-> NL     a line is a record, in EBCDIC, without its LF
//	I, L 8   bytes as they are               the file is one record (none if empty)

// newFileEncoder returns the download side of the file layer, writing into
// the mode encoder wire.
func newFileEncoder(wire structuredWriter, r Representation) structuredWriter {
	if !r.Type.text() {
		return &binaryEncoder{wire: wire, records: r.Structure == Record}
	}
	e := &textEncoder{wire: wire, records: r.Structure == Record}
	switch {
	case r.Type == EBCDIC:
		e.table, _ = ebcdicTables(r.CodePage)
	case !e.records:
		e.crlf = true
	}
	e.scratch = make([]byte, 2*chunkSize)
	return e
}

// newFileDecoder returns the upload side of the file layer, writing file
// bytes to file.
func newFileDecoder(file io.Writer, r Representation) structuredWriter {
	if !r.Type.text() {
		return binaryDecoder{file}
	}
	d := &textDecoder{file: file, records: r.Structure == Record}
	switch {
	case r.Type == EBCDIC:
		_, d.table = ebcdicTables(r.CodePage)
	case !d.records:
		d.crlf = true
	}
	d.scratch = make([]byte, chunkSize)
	return d
}

// binaryEncoder sends file bytes as they are. In record structure the whole
// file is one record: binary files carry no record boundaries on disk.
type binaryEncoder struct {
	wire    structuredWriter
	records bool
	data    bool // a byte has been sent
}

func (e *binaryEncoder) Write(p []byte) (int, error) {
	e.data = e.data || len(p) > 0
	return e.wire.Write(p)
}

func (e *binaryEncoder) EndRecord() error { return nil }

func (e *binaryEncoder) Close() error {
	if e.records && e.data {
		if err := e.wire.EndRecord(); err != nil {
			return err
		}
	}
	return e.wire.Close()
}

// binaryDecoder stores data bytes as they are; record boundaries are not
// kept (the records of a binary upload are stored one after the other).
type binaryDecoder struct{ file io.Writer }

func (d binaryDecoder) Write(p []byte) (int, error) { return d.file.Write(p) }
func (d binaryDecoder) EndRecord() error            { return nil }
func (d binaryDecoder) Close() error                { return nil }

// textEncoder translates a text file for TYPE A or E. In file structure an
// LF is the end of a line (CRLF in TYPE A, NL in TYPE E through the table);
// in record structure it ends a record. A last line without LF is, in file
// structure, sent without an end of line, and in record structure sent as
// a complete record: RFC 959 3.4 makes every EOR explicit, the last one too.
type textEncoder struct {
	wire    structuredWriter
	table   *byteTable // nil for TYPE A
	crlf    bool       // TYPE A, STRU F: LF goes out as CRLF
	records bool
	open    bool // STRU R: a record has data not yet ended
	scratch []byte
}

func (e *textEncoder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		var err error
		switch {
		case e.records:
			p, err = e.writeRecords(p)
		case e.crlf:
			p, err = e.writeCRLF(p)
		default:
			p, err = e.writeTranslated(p)
		}
		if err != nil {
			return n - len(p), err
		}
	}
	return n, nil
}

// writeTranslated sends up to len(scratch) bytes through the table.
func (e *textEncoder) writeTranslated(p []byte) ([]byte, error) {
	k := min(len(p), len(e.scratch))
	_, err := e.wire.Write(e.table.apply(e.scratch, p[:k]))
	return p[k:], err
}

// writeCRLF sends as much of p as fits in scratch with each LF as CRLF.
func (e *textEncoder) writeCRLF(p []byte) ([]byte, error) {
	out := e.scratch[:0]
	for len(p) > 0 && cap(out)-len(out) > 2 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			i = len(p)
		}
		k := min(i, cap(out)-len(out)-2)
		out = append(out, p[:k]...)
		p = p[k:]
		if k == i && len(p) > 0 {
			out = append(out, '\r', '\n')
			p = p[1:]
		}
	}
	_, err := e.wire.Write(out)
	return p, err
}

// writeRecords sends the data of p up to and including its first LF as (the
// end of) a record.
func (e *textEncoder) writeRecords(p []byte) ([]byte, error) {
	i := bytes.IndexByte(p, '\n')
	line := p
	if i >= 0 {
		line = p[:i]
	}
	for len(line) > 0 {
		k := min(len(line), len(e.scratch))
		if _, err := e.wire.Write(e.table.apply(e.scratch, line[:k])); err != nil {
			return p, err
		}
		e.open = true
		line, p = line[k:], p[k:]
	}
	if i < 0 {
		return p, nil
	}
	e.open = false
	return p[1:], e.wire.EndRecord()
}

func (e *textEncoder) EndRecord() error { return nil }

func (e *textEncoder) Close() error {
	if e.open {
		e.open = false
		if err := e.wire.EndRecord(); err != nil {
			return err
		}
	}
	return e.wire.Close()
}

// textDecoder stores received text with LF line ends: CRLF becomes LF in
// TYPE A file structure (any other CR or LF is kept), EBCDIC is translated
// through the table (NL becomes LF), and in record structure each record
// ends with LF. A record boundary in file structure (a block-mode EOR) is
// ignored: the lines are in the data.
type textDecoder struct {
	file    io.Writer
	table   *byteTable
	crlf    bool
	records bool
	cr      bool // TYPE A: the last byte received was a CR
	scratch []byte
	one     [1]byte
}

func (d *textDecoder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		var out []byte
		if d.crlf {
			out, p = d.stripCR(p)
		} else {
			k := min(len(p), len(d.scratch))
			out, p = d.table.apply(d.scratch, p[:k]), p[k:]
		}
		if _, err := d.file.Write(out); err != nil {
			return n - len(p), err
		}
	}
	return n, nil
}

// stripCR copies p into scratch without the CR of each CRLF, up to the
// scratch's size, and returns the copy and the rest of p.
func (d *textDecoder) stripCR(p []byte) (out, rest []byte) {
	out = d.scratch[:0]
	for len(p) > 0 && len(out) < cap(out)-1 {
		if d.cr {
			d.cr = false
			if p[0] != '\n' {
				out = append(out, '\r')
			}
		}
		i := bytes.IndexByte(p, '\r')
		if i < 0 {
			i = len(p)
		}
		k := min(i, cap(out)-1-len(out))
		out = append(out, p[:k]...)
		p = p[k:]
		if k == i && len(p) > 0 {
			d.cr = true
			p = p[1:]
		}
	}
	return out, p
}

func (d *textDecoder) EndRecord() error {
	if !d.records {
		return nil
	}
	return d.writeByte('\n')
}

func (d *textDecoder) Close() error {
	if d.cr {
		d.cr = false
		return d.writeByte('\r')
	}
	return nil
}

func (d *textDecoder) writeByte(b byte) error {
	d.one[0] = b
	_, err := d.file.Write(d.one[:])
	return err
}
