package repr_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/ftpd/repr"
)

func TestParseType(t *testing.T) {
	tests := []struct {
		arg  string
		want repr.Type
		code int // 0: accepted
		text string
	}{
		{"A", repr.ASCII, 0, ""},
		{"A N", repr.ASCII, 0, ""},
		{"a n", repr.ASCII, 0, ""},
		{"AN", repr.ASCII, 0, ""},
		{"E", repr.EBCDIC, 0, ""},
		{"E N", repr.EBCDIC, 0, ""},
		{"I", repr.Image, 0, ""},
		{"L 8", repr.Local8, 0, ""},
		{"L8", repr.Local8, 0, ""},
		{"A T", 0, 504, "format control T (Telnet format effectors) is not implemented"},
		{"A C", 0, 504, "format control C (ASA carriage control) is not implemented"},
		{"E T", 0, 504, "use TYPE E N"},
		{"E C", 0, 504, "TYPE E C not supported"},
		{"L 7", 0, 504, "only byte size 8"},
		{"L 36", 0, 504, "TYPE L 36 not supported"},
		{"", 0, 501, "TYPE needs a type code"},
		{"   ", 0, 501, "TYPE needs a type code"},
		{"X", 0, 501, `unknown type code "X"`},
		{"A X", 0, 501, `unknown format control "X"`},
		{"A N N", 0, 501, "one format control"},
		{"I N", 0, 501, "TYPE I takes no parameter"},
		{"L", 0, 501, "needs a byte size"},
		{"L x", 0, 501, `"X" is not a byte size`},
		{"L 0", 0, 501, "not a byte size"},
		{"L 256", 0, 501, "not a byte size"},
		{"L 8 8", 0, 501, "needs a byte size"},
	}
	for _, tt := range tests {
		got, err := repr.ParseType(tt.arg)
		checkParse(t, "TYPE "+tt.arg, int(got), int(tt.want), err, tt.code, tt.text)
	}
}

func TestParseStru(t *testing.T) {
	tests := []struct {
		arg  string
		want repr.Structure
		code int
		text string
	}{
		{"F", repr.File, 0, ""},
		{"f", repr.File, 0, ""},
		{"R", repr.Record, 0, ""},
		{"P", 0, 504, "page structure is not implemented"},
		{"", 0, 501, "STRU needs one structure code"},
		{"1", 0, 501, `unknown structure code "1"`},
		{"F R", 0, 501, "STRU needs one structure code"},
		{"FILE", 0, 501, `unknown structure code "FILE"`},
	}
	for _, tt := range tests {
		got, err := repr.ParseStru(tt.arg)
		checkParse(t, "STRU "+tt.arg, int(got), int(tt.want), err, tt.code, tt.text)
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		arg  string
		want repr.Mode
		code int
		text string
	}{
		{"S", repr.Stream, 0, ""},
		{"B", repr.Block, 0, ""},
		{"c", repr.Compressed, 0, ""},
		{"Z", repr.Deflate, 0, ""},
		{"", 0, 501, "MODE needs one mode code"},
		{"X", 0, 501, `unknown mode code "X"`},
		{"S B", 0, 501, "MODE needs one mode code"},
	}
	for _, tt := range tests {
		got, err := repr.ParseMode(tt.arg)
		checkParse(t, "MODE "+tt.arg, int(got), int(tt.want), err, tt.code, tt.text)
	}
}

func checkParse(t *testing.T, cmd string, got, want int, err error, code int, text string) {
	t.Helper()
	if code == 0 {
		if err != nil || got != want {
			t.Errorf("%q = %d, %v; want %d", cmd, got, err, want)
		}
		return
	}
	var re *repr.ReplyError
	if !errors.As(err, &re) {
		t.Errorf("%q: error %v is not a *ReplyError", cmd, err)
		return
	}
	if re.Code != code || !strings.Contains(re.Text, text) {
		t.Errorf("%q: reply %d %q; want %d with %q", cmd, re.Code, re.Text, code, text)
	}
	if strings.ContainsAny(re.Text, "\r\n") {
		t.Errorf("%q: reply text %q spans lines", cmd, re.Text)
	}
}

func TestParseCodePage(t *testing.T) {
	for arg, want := range map[string]repr.CodePage{"IBM-1047": repr.IBM1047, "1047": repr.IBM1047, "ibm-037": repr.IBM037, "37": repr.IBM037} {
		if got, err := repr.ParseCodePage(arg); err != nil || got != want {
			t.Errorf("ParseCodePage(%q) = %v, %v; want %v", arg, got, err, want)
		}
	}
	if _, err := repr.ParseCodePage("IBM-500"); err == nil {
		t.Error("ParseCodePage(IBM-500) accepted a code page the package does not have")
	}
}

func TestRepresentationString(t *testing.T) {
	tests := map[string]repr.Representation{
		"TYPE A N, STRU F, MODE S":           {},
		"TYPE E N (IBM-037), STRU R, MODE B": {Type: repr.EBCDIC, CodePage: repr.IBM037, Structure: repr.Record, Mode: repr.Block},
		"TYPE L 8, STRU F, MODE Z":           {Type: repr.Local8, Mode: repr.Deflate},
	}
	for want, r := range tests {
		if got := r.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}
