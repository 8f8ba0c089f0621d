package ftpd_test

// A client side of RFC 959's representations (3.1 data types, 3.1.2 file
// structures, 3.4 transmission modes), written from the RFC text for these
// tests, independently of ftpd/repr: it encodes a file into the bytes a
// client sends and decodes what a server sends back into a file. Whole
// byte slices; simplicity over speed. MODE Z is one zlib stream (RFC 1950)
// of the stream-mode bytes, as lftp and FileZilla send it.

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/text/encoding/charmap"
)

type rfcRep struct {
	typ, stru, mode byte             // 'A' 'E' 'I'; 'F' 'R'; 'S' 'B' 'C' 'Z'
	page            *charmap.Charmap // TYPE E: the EBCDIC code page
}

func (r rfcRep) String() string { return fmt.Sprintf("%c-%c-%c", r.typ, r.stru, r.mode) }

func (r rfcRep) text() bool { return r.typ == 'A' || r.typ == 'E' }

// toEBCDIC maps a file byte (ISO-8859-1) to the code page, the file's LF
// to EBCDIC NL (0x15) and the file's NEL (0x85) to EBCDIC LF (0x25).
func (r rfcRep) toEBCDIC(b byte) byte {
	switch b {
	case '\n':
		return 0x15
	case 0x85:
		return 0x25
	}
	e, ok := r.page.EncodeRune(rune(b))
	if !ok {
		panic(fmt.Sprintf("byte %#x not in the code page", b))
	}
	return e
}

func (r rfcRep) fromEBCDIC(e byte) byte {
	switch e {
	case 0x15:
		return '\n'
	case 0x25:
		return 0x85
	}
	return byte(r.page.DecodeByte(e))
}

// records splits a file into what is transferred: one element in file
// structure; lines without their LF for text in record structure; the
// whole file as one record (none when empty) for TYPE I in STRU R.
func (r rfcRep) records(file []byte) [][]byte {
	conv := func(p []byte) []byte {
		out := make([]byte, 0, len(p)+len(p)/8)
		for _, b := range p {
			switch {
			case r.typ == 'E':
				out = append(out, r.toEBCDIC(b))
			case r.typ == 'A' && r.stru == 'F' && b == '\n':
				out = append(out, '\r', '\n') // NVT-ASCII end of line
			default:
				out = append(out, b)
			}
		}
		return out
	}
	if r.stru == 'F' {
		return [][]byte{conv(file)}
	}
	if !r.text() {
		if len(file) == 0 {
			return nil
		}
		return [][]byte{file}
	}
	lines := bytes.Split(file, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	out := make([][]byte, len(lines))
	for i, l := range lines {
		out[i] = conv(l)
	}
	return out
}

// file joins what was transferred back into a file.
func (r rfcRep) file(recs [][]byte) []byte {
	var out []byte
	for _, rec := range recs {
		if r.typ == 'E' {
			for _, b := range rec {
				out = append(out, r.fromEBCDIC(b))
			}
		} else {
			out = append(out, rec...)
		}
		if r.stru == 'R' && r.text() {
			out = append(out, '\n')
		}
	}
	if r.typ == 'A' && r.stru == 'F' {
		out = bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n"))
	}
	return out
}

// encode is what a client sends for file.
func (r rfcRep) encode(file []byte) []byte {
	recs := r.records(file)
	var w bytes.Buffer
	switch r.mode {
	case 'S', 'Z':
		for _, rec := range recs {
			if r.stru == 'F' {
				w.Write(rec)
				continue
			}
			// 3.4.1: a data byte of all ones is sent twice; EOR is
			// 0xFF 0x01, EOF 0xFF 0x02.
			w.Write(bytes.ReplaceAll(rec, []byte{0xff}, []byte{0xff, 0xff}))
			w.Write([]byte{0xff, 0x01})
		}
		if r.stru == 'R' {
			w.Write([]byte{0xff, 0x02})
		}
		if r.mode == 'Z' {
			var z bytes.Buffer
			zw := zlib.NewWriter(&z)
			_, _ = zw.Write(w.Bytes())
			_ = zw.Close()
			return z.Bytes()
		}
	case 'B':
		// 3.4.2: descriptor (0x80 EOR, 0x40 EOF), 16-bit byte count,
		// data. Records end on their last block; the file's EOF is on
		// the last data block in STRU F and a block of its own in STRU R.
		block := func(desc byte, p []byte) {
			w.WriteByte(desc)
			_ = binary.Write(&w, binary.BigEndian, uint16(len(p)))
			w.Write(p)
		}
		for _, rec := range recs {
			end := byte(0x80)
			if r.stru == 'F' {
				end = 0x40
			}
			for len(rec) > 65535 {
				block(0, rec[:65535])
				rec = rec[65535:]
			}
			block(end, rec)
		}
		if r.stru == 'R' {
			block(0x40, nil)
		}
	case 'C':
		// 3.4.3: byte strings (0 + 7-bit count), replicated bytes
		// (10 + 6-bit count), filler strings (11 + 6-bit count), and
		// escapes (0x00 followed by a descriptor).
		fill := map[byte]byte{'A': ' ', 'E': 0x40, 'I': 0}[r.typ]
		for _, rec := range recs {
			var lit []byte
			flush := func() {
				for len(lit) > 0 {
					n := min(len(lit), 127)
					w.WriteByte(byte(n))
					w.Write(lit[:n])
					lit = lit[n:]
				}
			}
			for i := 0; i < len(rec); {
				j := i
				for j < len(rec) && rec[j] == rec[i] && j-i < 63 {
					j++
				}
				if n := j - i; n >= 3 {
					flush()
					if rec[i] == fill {
						w.WriteByte(0xc0 | byte(n))
					} else {
						w.Write([]byte{0x80 | byte(n), rec[i]})
					}
				} else {
					lit = append(lit, rec[i:j]...)
				}
				i = j
			}
			flush()
			if r.stru == 'R' {
				w.Write([]byte{0, 0x80})
			}
		}
		w.Write([]byte{0, 0x40})
	}
	return w.Bytes()
}

// decode is the file a client stores for what a server sent.
func (r rfcRep) decode(wire []byte) ([]byte, error) {
	var (
		recs [][]byte
		cur  []byte
		eof  bool
	)
	eor := func() { recs = append(recs, cur); cur = nil }
	switch r.mode {
	case 'Z', 'S':
		if r.mode == 'Z' {
			zr, err := zlib.NewReader(bytes.NewReader(wire))
			if err != nil {
				return nil, err
			}
			if wire, err = io.ReadAll(zr); err != nil {
				return nil, err
			}
		}
		if r.stru == 'F' {
			return r.file([][]byte{wire}), nil
		}
		for i := 0; i < len(wire) && !eof; i++ {
			if wire[i] != 0xff {
				cur = append(cur, wire[i])
				continue
			}
			if i++; i == len(wire) {
				return nil, fmt.Errorf("escape at the end")
			}
			switch wire[i] {
			case 0xff:
				cur = append(cur, 0xff)
			case 0x01:
				eor()
			case 0x02:
				eof = true
			case 0x03:
				eor()
				eof = true
			default:
				return nil, fmt.Errorf("bad escape %#x", wire[i])
			}
		}
	case 'B':
		for len(wire) > 0 && !eof {
			if len(wire) < 3 {
				return nil, fmt.Errorf("short block header")
			}
			desc, n := wire[0], int(binary.BigEndian.Uint16(wire[1:3]))
			if len(wire) < 3+n {
				return nil, fmt.Errorf("short block")
			}
			if desc&0x10 == 0 { // not a restart marker
				cur = append(cur, wire[3:3+n]...)
			}
			wire = wire[3+n:]
			if desc&0x80 != 0 {
				eor()
			}
			eof = desc&0x40 != 0
		}
	case 'C':
		fill := map[byte]byte{'A': ' ', 'E': 0x40, 'I': 0}[r.typ]
		for len(wire) > 0 && !eof {
			h := wire[0]
			switch {
			case h == 0:
				if len(wire) < 2 {
					return nil, fmt.Errorf("short escape")
				}
				if wire[1]&0x80 != 0 {
					eor()
				}
				eof = wire[1]&0x40 != 0
				wire = wire[2:]
			case h&0x80 == 0:
				n := int(h)
				if len(wire) < 1+n {
					return nil, fmt.Errorf("short string")
				}
				cur = append(cur, wire[1:1+n]...)
				wire = wire[1+n:]
			case h&0xc0 == 0x80:
				if len(wire) < 2 {
					return nil, fmt.Errorf("short replication")
				}
				cur = append(cur, bytes.Repeat(wire[1:2], int(h&0x3f))...)
				wire = wire[2:]
			default:
				cur = append(cur, bytes.Repeat([]byte{fill}, int(h&0x3f))...)
				wire = wire[1:]
			}
		}
	}
	if !eof {
		return nil, fmt.Errorf("no end-of-file marker")
	}
	if r.stru == 'F' {
		recs = [][]byte{cur}
	} else if len(cur) > 0 {
		return nil, fmt.Errorf("data after the last EOR")
	}
	return r.file(recs), nil
}
