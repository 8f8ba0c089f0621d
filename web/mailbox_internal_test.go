package web

import (
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

func entity(t *testing.T, raw string) (*message.Entity, error) {
	t.Helper()
	e, err := message.Read(strings.NewReader(raw))
	if e == nil {
		t.Fatal(err)
	}
	return e, err
}

// A message nesting multiparts deeper than maxMIMEDepth is not walked.
func TestTextBodyBoundsNesting(t *testing.T) {
	var b strings.Builder
	const levels = 2000
	b.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n")
	for i := 0; i < levels; i++ {
		b.WriteString("--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	}
	b.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nhidden\r\n--b--\r\n")
	e, err := entity(t, b.String())
	text, note, _ := textBody(e, err, 0)
	if text != "" || note == "" {
		t.Fatalf("deep nesting: text %q note %q", text, note)
	}
	// A normal message still shows its text.
	msg := "Content-Type: multipart/alternative; boundary=x\r\n\r\n" +
		"--x\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x--\r\n"
	e, err = entity(t, msg)
	text, _, _ = textBody(e, err, 0)
	if !strings.Contains(text, "hello") {
		t.Fatalf("normal multipart: %q", text)
	}
}

// Text in a charset go-message does not know is shown as received, with a
// note, not dropped.
func TestTextBodyUnknownCharset(t *testing.T) {
	e, err := entity(t, "Content-Type: text/plain; charset=x-unheard-of\r\n\r\nplain words\r\n")
	text, note, plain := textBody(e, err, 0)
	if !plain || !strings.Contains(text, "plain words") || !strings.Contains(note, "as received") {
		t.Fatalf("unknown charset: %q %q %v", text, note, plain)
	}
}
