package repr_test

// An encoder and decoder of the FTP data stream written from the text of
// RFC 959 3.1 and 3.4 (and RFC 1950/1951 for MODE Z), independently of the
// package, to check the wire format the package produces and accepts. They
// work on whole byte slices; simplicity over speed. Where RFC 959 leaves a
// choice, they make the one doc.go documents.

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"

	"golang.org/x/text/encoding/charmap"
)

type rfcParams struct {
	typ      byte // 'A', 'E', 'I', 'L'
	stru     byte // 'F', 'R'
	mode     byte // 'S', 'B', 'C', 'Z'
	codePage *charmap.Charmap
}

func (p rfcParams) text() bool { return p.typ == 'A' || p.typ == 'E' }

// RFC 959 3.4.3: the filler byte is <SP> for ASCII (32) and EBCDIC (64), zero for Image and Local.
func (p rfcParams) filler() byte {
	switch p.typ {
	case 'A':
		return 32
	case 'E':
		return 64
	}
	return 0
}

// ebcdic maps a Latin-1 file byte to EBCDIC: the code page's own mapping,
// except that the file's LF goes to EBCDIC NL (0x15, RFC 959 3.4: "<NL>" ends
// an EBCDIC line) and the file's NEL (0x85) to EBCDIC LF (0x25).
func (p rfcParams) ebcdic(b byte) byte {
	switch b {
	case '\n':
		return 0x15
	case 0x85:
		return 0x25
	}
	e, ok := p.codePage.EncodeRune(rune(b))
	if !ok {
		panic(fmt.Sprintf("Latin-1 byte %#x not in %v", b, p.codePage))
	}
	return e
}

func (p rfcParams) latin1(e byte) byte {
	switch e {
	case 0x15:
		return '\n'
	case 0x25:
		return 0x85
	}
	return byte(p.codePage.DecodeByte(e))
}

// logical is a transfer as RFC 959 3.4 sees it: the data of a file, or its records.
type logical struct {
	data    []byte   // STRU F
	records [][]byte // STRU R
	partial []byte   // STRU R: data after the last EOR (only ever decoded, never encoded)
}

// rfcLogical turns a file into what the representation transfers.
func rfcLogical(file []byte, p rfcParams) logical {
	if p.stru == 'F' {
		switch p.typ {
		case 'A':
			return logical{data: bytes.ReplaceAll(file, []byte("\n"), []byte("\r\n"))}
		case 'E':
			out := make([]byte, len(file))
			for i, b := range file {
				out[i] = p.ebcdic(b)
			}
			return logical{data: out}
		}
		return logical{data: file}
	}
	var l logical
	if !p.text() {
		if len(file) > 0 {
			l.records = [][]byte{file}
		}
		return l
	}
	lines := bytes.Split(file, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // the file ends with LF, or is empty
	}
	for _, line := range lines {
		rec := make([]byte, len(line))
		for i, b := range line {
			rec[i] = b
			if p.typ == 'E' {
				rec[i] = p.ebcdic(b)
			}
		}
		l.records = append(l.records, rec)
	}
	return l
}

// rfcFile turns what was transferred into the file stored.
func rfcFile(l logical, p rfcParams) []byte {
	var file []byte
	conv := func(data []byte) {
		for _, b := range data {
			if p.typ == 'E' {
				b = p.latin1(b)
			}
			file = append(file, b)
		}
	}
	if p.stru == 'F' {
		if p.typ == 'A' {
			return bytes.ReplaceAll(l.data, []byte("\r\n"), []byte("\n"))
		}
		conv(l.data)
		return file
	}
	for _, r := range l.records {
		conv(r)
		if p.text() {
			file = append(file, '\n')
		}
	}
	conv(l.partial)
	return file
}

// rfcEncode is the wire form of a file.
func rfcEncode(file []byte, p rfcParams) []byte {
	l := rfcLogical(file, p)
	switch p.mode {
	case 'B':
		return rfcBlock(l, p)
	case 'C':
		return rfcCompressed(l, p)
	case 'Z':
		return rfcZlibStored(rfcStream(l, p))
	}
	return rfcStream(l, p)
}

// RFC 959 3.4.1.
func rfcStream(l logical, p rfcParams) []byte {
	if p.stru == 'F' {
		return append([]byte(nil), l.data...)
	}
	var w []byte
	for _, r := range l.records {
		for _, b := range r {
			w = append(w, b)
			if b == 0xFF {
				w = append(w, 0xFF)
			}
		}
		w = append(w, 0xFF, 1)
	}
	return append(w, 0xFF, 2)
}

// RFC 959 3.4.2: descriptor, 16-bit count, data; EOR 128, EOF 64.
func rfcBlock(l logical, p rfcParams) []byte {
	var w []byte
	blocks := func(data []byte, last byte) {
		for len(data) > 65535 {
			w = append(w, 0, 0xFF, 0xFF)
			w = append(w, data[:65535]...)
			data = data[65535:]
		}
		w = append(w, last, byte(len(data)>>8), byte(len(data)))
		w = append(w, data...)
	}
	if p.stru == 'F' {
		blocks(l.data, 64)
		return w
	}
	for _, r := range l.records {
		blocks(r, 128)
	}
	return append(w, 64, 0, 0)
}

// RFC 959 3.4.3.
func rfcCompressed(l logical, p rfcParams) []byte {
	var w []byte
	if p.stru == 'F' {
		w = rfcCompress(w, l.data, p.filler())
	} else {
		for _, r := range l.records {
			w = rfcCompress(w, r, p.filler())
			w = append(w, 0, 128)
		}
	}
	return append(w, 0, 64)
}

func rfcCompress(w, data []byte, filler byte) []byte {
	var str []byte
	flush := func() {
		if len(str) > 0 {
			w = append(w, byte(len(str)))
			w = append(w, str...)
			str = str[:0]
		}
	}
	run := func(b byte, n int) {
		flush()
		if b == filler {
			w = append(w, 0xC0|byte(n))
		} else {
			w = append(w, 0x80|byte(n), b)
		}
	}
	for i := 0; i < len(data); {
		j := i
		for j < len(data) && data[j] == data[i] {
			j++
		}
		n := j - i
		for n >= 63 {
			run(data[i], 63)
			n -= 63
		}
		if n >= 3 {
			run(data[i], n)
		} else {
			for range n {
				str = append(str, data[i])
				if len(str) == 127 {
					flush()
				}
			}
		}
		i = j
	}
	flush()
	return w
}

// RFC 1950 with stored deflate blocks (RFC 1951 3.2.4): no compression, but
// a valid zlib stream any inflater reads.
func rfcZlibStored(data []byte) []byte {
	sum := rfcAdler32(data)
	w := []byte{0x78, 0x01} // CM 8, CINFO 7; (0x78*256+0x01) % 31 == 0
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), 65535)
		final := byte(0)
		if n == len(data) {
			final = 1
		}
		w = append(w, final, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
		w = append(w, data[:n]...)
		data = data[n:]
	}
	return append(w, byte(sum>>24), byte(sum>>16), byte(sum>>8), byte(sum))
}

func rfcAdler32(data []byte) uint32 {
	a, b := uint32(1), uint32(0)
	for _, c := range data {
		a = (a + uint32(c)) % 65521
		b = (b + a) % 65521
	}
	return b<<16 | a
}

var errRFC = errors.New("rfc decoder: bad data")

// rfcDecode is the file a wire form stands for.
func rfcDecode(wire []byte, p rfcParams) ([]byte, error) {
	var (
		l   logical
		err error
	)
	switch p.mode {
	case 'B':
		l, err = rfcUnblock(wire, p)
	case 'C':
		l, err = rfcUncompress(wire, p)
	case 'Z':
		zr, zerr := zlib.NewReader(bytes.NewReader(wire))
		if zerr != nil {
			return nil, zerr
		}
		s, zerr := io.ReadAll(zr)
		if zerr != nil {
			return nil, zerr
		}
		l, err = rfcUnstream(s, p)
	default:
		l, err = rfcUnstream(wire, p)
	}
	if err != nil {
		return nil, err
	}
	return rfcFile(l, p), nil
}

func rfcUnstream(w []byte, p rfcParams) (logical, error) {
	if p.stru == 'F' {
		return logical{data: w}, nil
	}
	var l logical
	var rec []byte
	for i := 0; i < len(w); i++ {
		if w[i] != 0xFF {
			rec = append(rec, w[i])
			continue
		}
		if i+1 == len(w) {
			return l, errRFC
		}
		i++
		switch w[i] {
		case 0xFF:
			rec = append(rec, 0xFF)
		case 1, 3:
			l.records = append(l.records, rec)
			rec = nil
			if w[i] == 3 {
				return l, nil
			}
		case 2:
			l.partial = rec
			return l, nil
		default:
			return l, errRFC
		}
	}
	return l, errRFC // no EOF
}

func rfcUnblock(w []byte, p rfcParams) (logical, error) {
	var l logical
	var rec []byte
	for len(w) >= 3 {
		desc, n := w[0], int(w[1])<<8|int(w[2])
		if len(w) < 3+n {
			return l, errRFC
		}
		if desc&16 == 0 {
			rec = append(rec, w[3:3+n]...)
		}
		w = w[3+n:]
		if desc&128 != 0 && p.stru == 'R' {
			l.records = append(l.records, rec)
			rec = nil
		}
		if desc&64 != 0 {
			if p.stru == 'F' {
				l.data = rec
			} else {
				l.partial = rec
			}
			return l, nil
		}
	}
	return l, errRFC
}

func rfcUncompress(w []byte, p rfcParams) (logical, error) {
	var l logical
	var rec []byte
	marker := false
	for i := 0; i < len(w); {
		h := w[i]
		i++
		switch {
		case h == 0:
			if i == len(w) {
				return l, errRFC
			}
			d := w[i]
			i++
			marker = d&16 != 0
			if d&128 != 0 && p.stru == 'R' {
				l.records = append(l.records, rec)
				rec = nil
			}
			if d&64 != 0 {
				if p.stru == 'F' {
					l.data = rec
				} else {
					l.partial = rec
				}
				return l, nil
			}
		case h < 128:
			n := int(h)
			if i+n > len(w) {
				return l, errRFC
			}
			if !marker {
				rec = append(rec, w[i:i+n]...)
			}
			marker = false
			i += n
		case h < 192:
			if i == len(w) {
				return l, errRFC
			}
			rec = append(rec, bytes.Repeat([]byte{w[i]}, int(h&63))...)
			i++
		default:
			rec = append(rec, bytes.Repeat([]byte{p.filler()}, int(h&63))...)
		}
	}
	return l, errRFC
}

func rfcDecodeZlib(wire []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(wire))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}
