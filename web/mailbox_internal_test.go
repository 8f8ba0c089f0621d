package web

import (
	"strings"
	"testing"
)

// A message nesting multiparts deeper than maxMIMEDepth is not walked.
func TestTextBodyBoundsNesting(t *testing.T) {
	var b strings.Builder
	const levels = 2000
	for i := 0; i < levels; i++ {
		b.WriteString("--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	}
	b.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nhidden\r\n--b--\r\n")
	text, note := textBody("multipart/mixed; boundary=b", "", strings.NewReader(b.String()), 0)
	if text != "" || note == "" {
		t.Fatalf("deep nesting: text %q note %q", text, note)
	}
	// A normal message still shows its text.
	msg := "--x\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x--\r\n"
	text, _ = textBody("multipart/alternative; boundary=x", "", strings.NewReader(msg), 0)
	if !strings.Contains(text, "<p>x</p>") && !strings.Contains(text, "hello") {
		t.Fatalf("normal multipart: %q", text)
	}
}
