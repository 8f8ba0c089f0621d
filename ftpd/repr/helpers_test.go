package repr_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/ftpd/repr"
	"golang.org/x/text/encoding/charmap"
)

// combo is one TYPE x STRU x MODE, as the package and the RFC model spell it.
type combo struct {
	r   repr.Representation
	rfc rfcParams
}

func (c combo) String() string {
	t := string(c.rfc.typ)
	if c.r.Type == repr.EBCDIC {
		t += map[repr.CodePage]string{repr.IBM1047: "1047", repr.IBM037: "037"}[c.r.CodePage]
	}
	return fmt.Sprintf("%s-%c-%c", t, c.rfc.stru, c.rfc.mode)
}

// allCombos lists every TYPE x STRU x MODE, with both EBCDIC code pages.
func allCombos() []combo {
	type typ struct {
		t    repr.Type
		code byte
		cp   repr.CodePage
		cm   *charmap.Charmap
	}
	types := []typ{
		{repr.ASCII, 'A', 0, nil},
		{repr.EBCDIC, 'E', repr.IBM1047, charmap.CodePage1047},
		{repr.EBCDIC, 'E', repr.IBM037, charmap.CodePage037},
		{repr.Image, 'I', 0, nil},
		{repr.Local8, 'L', 0, nil},
	}
	strus := []struct {
		s    repr.Structure
		code byte
	}{{repr.File, 'F'}, {repr.Record, 'R'}}
	modes := []struct {
		m    repr.Mode
		code byte
	}{{repr.Stream, 'S'}, {repr.Block, 'B'}, {repr.Compressed, 'C'}, {repr.Deflate, 'Z'}}
	var out []combo
	for _, t := range types {
		for _, s := range strus {
			for _, m := range modes {
				out = append(out, combo{
					r:   repr.Representation{Type: t.t, Structure: s.s, Mode: m.m, CodePage: t.cp},
					rfc: rfcParams{typ: t.code, stru: s.code, mode: m.code, codePage: t.cm},
				})
			}
		}
	}
	return out
}

// stored is the file an upload of a download of file stores: the same
// bytes, except that under STRU R a text file's last line gets the LF it
// lacked (RFC 959 3.4: every record ends with an explicit EOR).
func stored(file []byte, c combo) []byte {
	if c.rfc.stru == 'R' && c.rfc.text() && len(file) > 0 && file[len(file)-1] != '\n' {
		return append(append([]byte(nil), file...), '\n')
	}
	return file
}

// chunkedReader returns its data in reads of random sizes from 1 to max.
type chunkedReader struct {
	data []byte
	rnd  *rand.Rand
	max  int
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.data), 1+r.rnd.IntN(r.max))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// download runs the package's download transform over file, reading the
// file and the result in pieces of random size.
func download(t testing.TB, file []byte, r repr.Representation, seed uint64) []byte {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 1))
	d, err := repr.NewDownload(&chunkedReader{data: file, rnd: rnd, max: 40000}, r)
	if err != nil {
		t.Fatalf("NewDownload(%v): %v", r, err)
	}
	var out bytes.Buffer
	buf := make([]byte, 70000)
	for {
		n, err := d.Read(buf[:1+rnd.IntN(len(buf))])
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes()
		}
		if err != nil {
			t.Fatalf("download %v: %v", r, err)
		}
	}
}

// upload runs the package's upload transform over wire, written in pieces
// of random size, and returns the file and the error of Write or Close.
func upload(t testing.TB, wire []byte, r repr.Representation, seed uint64) ([]byte, error) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 2))
	var file bytes.Buffer
	u, err := repr.NewUpload(&file, r)
	if err != nil {
		t.Fatalf("NewUpload(%v): %v", r, err)
	}
	for len(wire) > 0 {
		n := min(len(wire), 1+rnd.IntN(40000))
		if m, err := u.Write(wire[:n]); err != nil || m != n {
			if err == nil {
				t.Fatalf("upload %v: Write wrote %d of %d without an error", r, m, n)
			}
			if cerr := u.Close(); cerr == nil {
				t.Errorf("upload %v: Close after a failed Write returned nil", r)
			}
			return file.Bytes(), err
		}
		wire = wire[n:]
	}
	err = u.Close()
	return file.Bytes(), err
}

func inflate(t testing.TB, wire []byte) []byte {
	t.Helper()
	got, err := rfcDecodeZlib(wire)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return got
}

// samples are files with the cases the issue names: 0xFF bytes, empty,
// one record, no final newline, larger than one block.
func samples() map[string][]byte {
	rnd := rand.New(rand.NewPCG(7, 7))
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.UintN(256))
		}
		return b
	}
	var text strings.Builder
	for text.Len() < 200_000 {
		switch rnd.IntN(6) {
		case 0:
			text.WriteString(strings.Repeat(" ", rnd.IntN(150)))
		case 1:
			text.WriteString(strings.Repeat("-", rnd.IntN(150)))
		case 2:
			text.WriteString("\n")
		case 3:
			text.WriteString("ÿ\xff€ é\x85\r\n")
		default:
			text.WriteString(fmt.Sprintf("RECORD %08d ACCT=%d", rnd.IntN(1e8), rnd.IntN(1e4)))
		}
		text.WriteString("\n")
	}
	all := make([]byte, 0, 768)
	for i := range 768 {
		all = append(all, byte(i))
	}
	return map[string][]byte{
		"empty":              {},
		"one empty line":     []byte("\n"),
		"blank lines":        []byte("\n\n\n"),
		"one record":         []byte("HELLO MAINFRAME\n"),
		"no final newline":   []byte("line one\nline two"),
		"one line, no LF":    []byte("x"),
		"CRLF lines":         []byte("dos\r\nlines\r\n\r\n"),
		"bare CR":            []byte("a\rb\r"),
		"0xFF bytes":         []byte("\xff\xff\n\xffa\xff\n\xff"),
		"only 0xFF":          bytes.Repeat([]byte{0xFF}, 300),
		"all byte values":    all,
		"NL and NEL":         []byte("\x85\n\x15\x25\n"),
		"runs":               []byte(strings.Repeat(" ", 200) + strings.Repeat("\x00", 130) + strings.Repeat("x", 63) + "ab" + strings.Repeat("y", 64) + strings.Repeat("z", 65) + "qq\n" + strings.Repeat("@", 127) + strings.Repeat("w", 128) + "\n"),
		"multi-block text":   []byte(text.String()),
		"long line":          append(bytes.Repeat([]byte("A"), 70_000), '\n'),
		"exactly one block":  randomBytes(65535),
		"multi-block binary": randomBytes(150_000),
	}
}
