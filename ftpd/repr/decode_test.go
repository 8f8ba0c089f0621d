package repr_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/ftpd/repr"
)

var (
	asciiF = repr.Representation{}
	asciiR = repr.Representation{Structure: repr.Record}
)

func with(r repr.Representation, m repr.Mode) repr.Representation {
	r.Mode = m
	return r
}

// TestUploadAccepts covers wire forms the package never sends but RFC 959
// allows a sender to use.
func TestUploadAccepts(t *testing.T) {
	tests := []struct {
		name string
		r    repr.Representation
		wire string
		want string
	}{
		{"stream: EOR and EOF in one code (0xFF 0x03)", asciiR, "a\xff\x01b\xff\x03", "a\nb\n"},
		{"stream: last record without EOR", asciiR, "a\xff\x01b\xff\x02", "a\nb"},
		{"stream: empty file", asciiR, "\xff\x02", ""},
		{"stream A F: bare LF kept", asciiF, "a\nb\r\n", "a\nb\n"},
		{"stream A F: CR at the end kept", asciiF, "a\r", "a\r"},
		{"block: EOR and EOF on one block", with(asciiR, repr.Block), "\xc0\x00\x01a", "a\n"},
		{"block: suspected errors, data kept", with(asciiF, repr.Block), "\x20\x00\x02ab\x40\x00\x00", "ab"},
		{"block: EOR under STRU F ignored", with(asciiF, repr.Block), "\x80\x00\x02ab\x40\x00\x01c", "abc"},
		{"block: short blocks", with(asciiF, repr.Block), "\x00\x00\x01a\x00\x00\x00\x00\x00\x01b\x40\x00\x00", "ab"},
		{"compressed: escape with descriptor 0", with(asciiF, repr.Compressed), "\x01a\x00\x00\x01b\x00\x40", "ab"},
		{"compressed: suspected-errors escape", with(asciiF, repr.Compressed), "\x00\x20\x01a\x00\x40", "a"},
		{"compressed: EOR and EOF in one escape", with(asciiR, repr.Compressed), "\x01a\x00\xc0", "a\n"},
		{"compressed: EBCDIC filler is 0x40", repr.Representation{Type: repr.EBCDIC, Mode: repr.Compressed}, "\xc3\x00\x40", "   "},
		{"compressed: binary filler is NUL", repr.Representation{Type: repr.Image, Mode: repr.Compressed}, "\xc2\x82\xff\x00\x40", "\x00\x00\xff\xff"},
	}
	for _, tt := range tests {
		got, err := upload(t, []byte(tt.wire), tt.r, 1)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: upload(%q) = %q, %v; want %q", tt.name, tt.wire, got, err, tt.want)
		}
	}
}

// TestRestartMarkers: a restart marker's data is the marker, not file data,
// and it is reported with the number of file bytes before it.
func TestRestartMarkers(t *testing.T) {
	tests := []struct {
		name string
		r    repr.Representation
		wire string
	}{
		{"block", with(asciiF, repr.Block), "\x00\x00\x02ab\x10\x00\x04MK01\x40\x00\x01c"},
		{"compressed", with(asciiF, repr.Compressed), "\x02ab\x00\x10\x04MK01\x01c\x00\x40"},
	}
	for _, tt := range tests {
		for _, split := range []int{1, 3, 1000} {
			var file bytes.Buffer
			u, err := repr.NewUpload(&file, tt.r)
			if err != nil {
				t.Fatal(err)
			}
			var got []repr.Marker
			u.OnRestartMarker = func(m repr.Marker) { got = append(got, m) }
			for w := []byte(tt.wire); len(w) > 0; {
				n := min(split, len(w))
				if _, err := u.Write(w[:n]); err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				w = w[n:]
			}
			if err := u.Close(); err != nil {
				t.Fatalf("%s: Close: %v", tt.name, err)
			}
			if file.String() != "abc" || len(got) != 1 || got[0] != (repr.Marker{Sender: "MK01", Offset: 2}) {
				t.Errorf("%s (writes of %d): file %q, markers %+v; want \"abc\" and MK01 at 2", tt.name, split, file.String(), got)
			}
		}
	}
}

// TestUploadErrors: malformed or incomplete data is a *FormatError of the
// right kind, with the reply code the control layer sends.
func TestUploadErrors(t *testing.T) {
	zlibOf := func(s string) string { return string(rfcZlibStored([]byte(s))) }
	goodZ := zlibOf("abc")
	badSum := goodZ[:len(goodZ)-1] + string(goodZ[len(goodZ)-1]^1)
	tests := []struct {
		name string
		r    repr.Representation
		wire string
		kind error
		code int
	}{
		{"stream R: no EOF", asciiR, "abc\xff\x01", repr.ErrTruncated, 426},
		{"stream R: ends in escape", asciiR, "a\xff", repr.ErrTruncated, 426},
		{"stream R: unknown control code", asciiR, "a\xff\x04", repr.ErrMalformed, 451},
		{"stream R: data after EOF", asciiR, "\xff\x02x", repr.ErrAfterEOF, 451},
		{"block: nothing", with(asciiF, repr.Block), "", repr.ErrTruncated, 426},
		{"block: header cut", with(asciiF, repr.Block), "\x40\x00", repr.ErrTruncated, 426},
		{"block: data cut", with(asciiF, repr.Block), "\x40\x00\x05ab", repr.ErrTruncated, 426},
		{"block: no EOF block", with(asciiF, repr.Block), "\x00\x00\x01a", repr.ErrTruncated, 426},
		{"block: unassigned descriptor bit", with(asciiF, repr.Block), "\x01\x00\x00", repr.ErrMalformed, 451},
		{"block: data after EOF", with(asciiF, repr.Block), "\x40\x00\x00x", repr.ErrAfterEOF, 451},
		{"compressed: nothing", with(asciiF, repr.Compressed), "", repr.ErrTruncated, 426},
		{"compressed: string cut", with(asciiF, repr.Compressed), "\x05ab", repr.ErrTruncated, 426},
		{"compressed: replicated byte missing", with(asciiF, repr.Compressed), "\x83", repr.ErrTruncated, 426},
		{"compressed: replicated count 0", with(asciiF, repr.Compressed), "\x80a", repr.ErrMalformed, 451},
		{"compressed: filler count 0", with(asciiF, repr.Compressed), "\xc0", repr.ErrMalformed, 451},
		{"compressed: unassigned descriptor bit", with(asciiF, repr.Compressed), "\x00\x01", repr.ErrMalformed, 451},
		{"compressed: restart marker then escape", with(asciiF, repr.Compressed), "\x00\x10\x00\x40", repr.ErrMalformed, 451},
		{"compressed: restart marker then run", with(asciiF, repr.Compressed), "\x00\x10\x83a", repr.ErrMalformed, 451},
		{"compressed: restart marker with EOF", with(asciiF, repr.Compressed), "\x00\x50", repr.ErrMalformed, 451},
		{"compressed: data after EOF", with(asciiF, repr.Compressed), "\x00\x40\x01a", repr.ErrAfterEOF, 451},
		{"Z: nothing", with(asciiF, repr.Deflate), "", repr.ErrTruncated, 426},
		{"Z: not zlib", with(asciiF, repr.Deflate), "plain text, not zlib", repr.ErrMalformed, 451},
		{"Z: stream cut", with(asciiF, repr.Deflate), goodZ[:len(goodZ)-3], repr.ErrTruncated, 426},
		{"Z: bad checksum", with(asciiF, repr.Deflate), badSum, repr.ErrMalformed, 451},
		{"Z: data after the stream", with(asciiF, repr.Deflate), goodZ + "x", repr.ErrAfterEOF, 451},
		{"Z with STRU R: no EOF inside", with(asciiR, repr.Deflate), goodZ, repr.ErrTruncated, 426},
		{"Z with STRU R: bad control code inside", with(asciiR, repr.Deflate), zlibOf("a\xff\x09"), repr.ErrMalformed, 451},
	}
	for _, tt := range tests {
		_, err := upload(t, []byte(tt.wire), tt.r, 3)
		var fe *repr.FormatError
		if !errors.As(err, &fe) || !errors.Is(err, tt.kind) || fe.Code() != tt.code {
			t.Errorf("%s: upload(%q) error %v; want a *FormatError %v with code %d", tt.name, tt.wire, err, tt.kind, tt.code)
			continue
		}
		if msg := fe.Error(); !strings.HasPrefix(msg, "MODE ") || strings.Contains(msg, "/") {
			t.Errorf("%s: error text %q is not a partner-safe MODE message", tt.name, msg)
		}
	}
}

// TestUploadStopsAtFirstError: after an error every Write and Close return it.
func TestUploadStopsAtFirstError(t *testing.T) {
	var file bytes.Buffer
	u, _ := repr.NewUpload(&file, with(asciiF, repr.Block))
	_, err := u.Write([]byte("\x0f\x00\x00"))
	if err == nil {
		t.Fatal("malformed block accepted")
	}
	if _, err2 := u.Write([]byte("\x40\x00\x00")); err2 != err {
		t.Errorf("Write after the error = %v, want %v", err2, err)
	}
	if err2 := u.Close(); err2 != err {
		t.Errorf("Close after the error = %v, want %v", err2, err)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestUploadFileError: a failing file is reported as it is, not as a
// FormatError, in every mode (MODE Z included, from its goroutine).
func TestUploadFileError(t *testing.T) {
	diskFull := errors.New("disk full")
	big := bytes.Repeat([]byte("0123456789abcdef\n"), 10_000)
	for _, c := range allCombos() {
		u, err := repr.NewUpload(failingWriter{diskFull}, c.r)
		if err != nil {
			t.Fatal(err)
		}
		_, werr := u.Write(rfcEncode(big, c.rfc))
		cerr := u.Close()
		if !errors.Is(cerr, diskFull) || (werr != nil && !errors.Is(werr, diskFull)) {
			t.Errorf("%v: Write %v, Close %v; want the file's error", c, werr, cerr)
		}
	}
}

func TestIdentityIsTheFile(t *testing.T) {
	file := strings.NewReader("x")
	for _, typ := range []repr.Type{repr.Image, repr.Local8} {
		r := repr.Representation{Type: typ}
		if !r.IsIdentity() {
			t.Errorf("%v: not identity", r)
		}
		if d, err := repr.NewDownload(file, r); err != nil || d != any(file) {
			t.Errorf("%v: NewDownload wrapped the file (%T, %v): sendfile would be lost", r, d, err)
		}
	}
	if (repr.Representation{}).IsIdentity() {
		t.Error("TYPE A reported as identity")
	}
}

func TestInvalidRepresentation(t *testing.T) {
	for _, r := range []repr.Representation{
		{Type: 9}, {Structure: 2}, {Mode: -1}, {CodePage: 5}, {Mode: repr.Deflate, Level: 10},
	} {
		if _, err := repr.NewDownload(strings.NewReader(""), r); err == nil {
			t.Errorf("NewDownload accepted %+v", r)
		}
		if _, err := repr.NewUpload(&bytes.Buffer{}, r); err == nil {
			t.Errorf("NewUpload accepted %+v", r)
		}
	}
}
