package repr

import (
	"compress/zlib"
	"fmt"
	"strings"
)

// Type is the representation type set by TYPE.
type Type int

const (
	ASCII  Type = iota // TYPE A [N]: NVT-ASCII, lines end in CRLF on the wire
	EBCDIC             // TYPE E [N]: EBCDIC, lines end in NL (0x15) on the wire
	Image              // TYPE I: bytes as they are
	Local8             // TYPE L 8: the same as Image on 8-bit hosts
)

// String returns the type as written in the TYPE command.
func (t Type) String() string {
	switch t {
	case ASCII:
		return "A"
	case EBCDIC:
		return "E"
	case Image:
		return "I"
	case Local8:
		return "L 8"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// text reports whether the type carries lines of text.
func (t Type) text() bool { return t == ASCII || t == EBCDIC }

// filler is the byte a compressed-mode filler string stands for (RFC 959 3.4.3).
func (t Type) filler() byte {
	switch t {
	case ASCII:
		return ' '
	case EBCDIC:
		return 0x40 // EBCDIC space
	}
	return 0
}

// Structure is the file structure set by STRU.
type Structure int

const (
	File   Structure = iota // STRU F: a stream of bytes
	Record                  // STRU R: a sequence of records (lines, for text types)
)

// String returns the structure code as written in the STRU command.
func (s Structure) String() string {
	switch s {
	case File:
		return "F"
	case Record:
		return "R"
	}
	return fmt.Sprintf("Structure(%d)", int(s))
}

// Mode is the transfer mode set by MODE.
type Mode int

const (
	Stream     Mode = iota // MODE S
	Block                  // MODE B
	Compressed             // MODE C (RFC 959 3.4.3)
	Deflate                // MODE Z: a zlib stream (RFC 1950) of the stream-mode bytes
)

// String returns the mode code as written in the MODE command.
func (m Mode) String() string {
	switch m {
	case Stream:
		return "S"
	case Block:
		return "B"
	case Compressed:
		return "C"
	case Deflate:
		return "Z"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// CodePage is the EBCDIC code page of TYPE E.
type CodePage int

const (
	IBM1047 CodePage = iota // Latin-1/Open Systems EBCDIC, the z/OS default
	IBM037                  // US/Canada EBCDIC
)

// String returns the code page's IBM name.
func (c CodePage) String() string {
	switch c {
	case IBM1047:
		return "IBM-1047"
	case IBM037:
		return "IBM-037"
	}
	return fmt.Sprintf("CodePage(%d)", int(c))
}

// ParseCodePage reads a code page name as an account or partner setting
// gives it: "IBM-1047", "1047", "IBM-037", "037", case-insensitive.
func ParseCodePage(s string) (CodePage, error) {
	switch strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "IBM-") {
	case "1047":
		return IBM1047, nil
	case "037", "37":
		return IBM037, nil
	}
	return 0, fmt.Errorf("unknown EBCDIC code page %q (want IBM-1047 or IBM-037)", s)
}

// Representation is the set of transfer parameters of a session. The zero
// value is the RFC 959 default: TYPE A N, STRU F, MODE S.
type Representation struct {
	Type      Type
	Structure Structure
	Mode      Mode
	// CodePage is the EBCDIC code page used by TYPE E.
	CodePage CodePage
	// Level is the zlib compression level of MODE Z downloads, 1 (fastest)
	// to 9 (smallest); 0 means zlib.DefaultCompression.
	Level int
}

// String describes the representation the way STAT reports it.
func (r Representation) String() string {
	t := r.Type.String()
	if r.Type.text() {
		t += " N"
	}
	if r.Type == EBCDIC {
		t += " (" + r.CodePage.String() + ")"
	}
	return fmt.Sprintf("TYPE %s, STRU %s, MODE %s", t, r.Structure, r.Mode)
}

// IsIdentity reports whether the representation leaves the bytes as they are
// (TYPE I or L 8, STRU F, MODE S). The control layer should then not wrap the
// file at all, so that downloads keep sendfile and uploads splice.
func (r Representation) IsIdentity() bool {
	return !r.Type.text() && r.Structure == File && r.Mode == Stream
}

func (r Representation) validate() error {
	switch {
	case r.Type < ASCII || r.Type > Local8:
		return fmt.Errorf("repr: invalid type %v", r.Type)
	case r.Structure < File || r.Structure > Record:
		return fmt.Errorf("repr: invalid structure %v", r.Structure)
	case r.Mode < Stream || r.Mode > Deflate:
		return fmt.Errorf("repr: invalid mode %v", r.Mode)
	case r.CodePage < IBM1047 || r.CodePage > IBM037:
		return fmt.Errorf("repr: invalid code page %v", r.CodePage)
	case r.Level < zlib.HuffmanOnly || r.Level > zlib.BestCompression:
		return fmt.Errorf("repr: invalid zlib level %d", r.Level)
	}
	return nil
}

func (r Representation) zlibLevel() int {
	if r.Level == 0 {
		return zlib.DefaultCompression
	}
	return r.Level
}
