package repr_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ferryhq/ferry/ftpd/repr"
)

// Each decoder is fuzzed through NewUpload: sel picks the type, structure
// and code page, split the size of the writes. Malformed input must give a
// *FormatError, never a panic or a hang; accepted input must decode as the
// RFC decoder of the test decodes it, and its file must survive a download
// and an upload unchanged.

func FuzzStreamDecoder(f *testing.F)     { fuzzDecoder(f, repr.Stream) }
func FuzzBlockDecoder(f *testing.F)      { fuzzDecoder(f, repr.Block) }
func FuzzCompressedDecoder(f *testing.F) { fuzzDecoder(f, repr.Compressed) }
func FuzzDeflateDecoder(f *testing.F)    { fuzzDecoder(f, repr.Deflate) }

func fuzzDecoder(f *testing.F, mode repr.Mode) {
	var combos []combo
	for _, c := range allCombos() {
		if c.r.Mode == mode {
			combos = append(combos, c)
		}
	}
	for i, c := range combos {
		for _, file := range []string{"", "a\n", "x\xff\r\ny\n  \x00\x00\x00\x00z", "no newline"} {
			f.Add(rfcEncode([]byte(file), c.rfc), byte(i), byte(7))
		}
	}
	f.Add([]byte("\x00\x10\x02MK\x01a\x00\x40"), byte(0), byte(1))
	f.Add([]byte("\x10\x00\x02MK\x40\x00\x01a"), byte(0), byte(2))
	f.Fuzz(func(t *testing.T, wire []byte, sel, split byte) {
		if len(wire) > 512 {
			// Longer inputs find nothing shorter ones do not, and the
			// minimizer's len^2 runs over them stall the workers.
			t.Skip()
		}
		c := combos[int(sel)%len(combos)]
		file, err := writeSplit(wire, c.r, int(split)+1)
		if err != nil {
			var fe *repr.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("%v: error %v (%T) is not a *FormatError", c, err, err)
			}
			return
		}
		if want, err := rfcDecode(wire, c.rfc); err != nil || !bytes.Equal(file, want) {
			t.Fatalf("%v: decoded %q; the RFC decoder reads %q, %v", c, file, want, err)
		}
		if back, err := upload(t, download(t, file, c.r, 1), c.r, 2); err != nil || !bytes.Equal(back, stored(file, c)) {
			t.Fatalf("%v: %q after download and upload = %q, %v", c, file, back, err)
		}
	})
}

func writeSplit(wire []byte, r repr.Representation, split int) ([]byte, error) {
	var file bytes.Buffer
	u, err := repr.NewUpload(&file, r)
	if err != nil {
		return nil, err
	}
	for len(wire) > 0 {
		n := min(split, len(wire))
		if _, err := u.Write(wire[:n]); err != nil {
			u.Close()
			return nil, err
		}
		wire = wire[n:]
	}
	err = u.Close()
	return file.Bytes(), err
}
