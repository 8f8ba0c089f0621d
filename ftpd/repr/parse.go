package repr

import (
	"fmt"
	"strconv"
	"strings"
)

// A ReplyError is a refused TYPE, STRU or MODE argument. Code is the reply
// the control layer sends: 501 for a syntax error (no argument, an unknown
// code, extra words) and 504 for a parameter RFC 959 defines that Ferry does
// not implement. Text is the reply text, safe to show to the partner.
type ReplyError struct {
	Code int
	Text string
}

func (e *ReplyError) Error() string { return strconv.Itoa(e.Code) + " " + e.Text }

func syntaxError(format string, a ...any) error {
	return &ReplyError{Code: 501, Text: fmt.Sprintf(format, a...)}
}

func unsupported(format string, a ...any) error {
	return &ReplyError{Code: 504, Text: fmt.Sprintf(format, a...)}
}

// words splits a command argument into upper-case words. A code glued to its
// parameter ("AN", "L8", as some clients send it) is split in two.
func words(arg string) []string {
	w := strings.Fields(strings.ToUpper(arg))
	if len(w) == 1 && len(w[0]) > 1 {
		w = []string{w[0][:1], w[0][1:]}
	}
	return w
}

// ParseType reads the argument of TYPE: "A", "A N", "E", "E N", "I" or "L 8".
// Format controls T and C and byte sizes other than 8 are refused with 504.
func ParseType(arg string) (Type, error) {
	w := words(arg)
	if len(w) == 0 {
		return 0, syntaxError("Syntax error: TYPE needs a type code: A, E, I or L 8.")
	}
	switch w[0] {
	case "A", "E":
		t := ASCII
		if w[0] == "E" {
			t = EBCDIC
		}
		if len(w) == 1 {
			return t, nil
		}
		if len(w) > 2 {
			return 0, syntaxError("Syntax error: TYPE %s takes one format control: N.", w[0])
		}
		switch w[1] {
		case "N":
			return t, nil
		case "T", "C":
			return 0, unsupported("TYPE %s %s not supported: format control %s is not implemented; use TYPE %s N.", w[0], w[1], formName(w[1]), w[0])
		}
		return 0, syntaxError("Syntax error: unknown format control %q; use N.", w[1])
	case "I":
		if len(w) > 1 {
			return 0, syntaxError("Syntax error: TYPE I takes no parameter.")
		}
		return Image, nil
	case "L":
		if len(w) != 2 {
			return 0, syntaxError("Syntax error: TYPE L needs a byte size: L 8.")
		}
		n, err := strconv.Atoi(w[1])
		if err != nil || n < 1 || n > 255 {
			return 0, syntaxError("Syntax error: %q is not a byte size.", w[1])
		}
		if n != 8 {
			return 0, unsupported("TYPE L %d not supported: only byte size 8 is implemented; use TYPE L 8 or TYPE I.", n)
		}
		return Local8, nil
	}
	return 0, syntaxError("Syntax error: unknown type code %q; use A, E, I or L 8.", w[0])
}

func formName(code string) string {
	if code == "T" {
		return "T (Telnet format effectors)"
	}
	return "C (ASA carriage control)"
}

// ParseStru reads the argument of STRU: "F" or "R". Page structure (P) is
// refused with 504, as RFC 1123 4.1.2.3 recommends.
func ParseStru(arg string) (Structure, error) {
	w := strings.Fields(strings.ToUpper(arg))
	if len(w) != 1 {
		return 0, syntaxError("Syntax error: STRU needs one structure code: F or R.")
	}
	switch w[0] {
	case "F":
		return File, nil
	case "R":
		return Record, nil
	case "P":
		return 0, unsupported("STRU P not supported: page structure is not implemented; use STRU F or STRU R.")
	}
	return 0, syntaxError("Syntax error: unknown structure code %q; use F or R.", w[0])
}

// ParseMode reads the argument of MODE: "S", "B", "C" or "Z". Whether MODE Z
// is offered is the control layer's setting: when it is off, it answers 504
// itself.
func ParseMode(arg string) (Mode, error) {
	w := strings.Fields(strings.ToUpper(arg))
	if len(w) != 1 {
		return 0, syntaxError("Syntax error: MODE needs one mode code: S, B, C or Z.")
	}
	switch w[0] {
	case "S":
		return Stream, nil
	case "B":
		return Block, nil
	case "C":
		return Compressed, nil
	case "Z":
		return Deflate, nil
	}
	return 0, syntaxError("Syntax error: unknown mode code %q; use S, B, C or Z.", w[0])
}
