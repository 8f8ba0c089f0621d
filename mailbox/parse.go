package mailbox

import (
	"bufio"
	"bytes"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode Subject and names in any common charset
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// headerMeta is what listings show of a message.
type headerMeta struct {
	subject, from, to, messageID string
	date                         *time.Time
}

// parseHeader extracts the listing fields from a header block. Broken
// headers give empty fields, never an error: mail is stored as received.
func parseHeader(raw []byte) headerMeta {
	var m headerMeta
	if len(raw) == 0 {
		return m
	}
	th, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return m
	}
	h := mail.Header{Header: message.Header{Header: th}}
	if s, err := h.Subject(); err == nil {
		m.subject = s
	} else {
		m.subject = h.Get("Subject")
	}
	m.from = firstAddress(h, "From")
	m.to = firstAddress(h, "To")
	if id, err := h.MessageID(); err == nil {
		m.messageID = id
	}
	if d, err := h.Date(); err == nil && !d.IsZero() {
		d = d.UTC()
		m.date = &d
	}
	m.subject = clean(m.subject, 998)
	m.from = clean(m.from, 320)
	m.to = clean(m.to, 320)
	m.messageID = clean(m.messageID, 320)
	return m
}

func firstAddress(h mail.Header, key string) string {
	list, err := h.AddressList(key)
	if err != nil || len(list) == 0 {
		return h.Get(key)
	}
	a := list[0]
	if a.Name != "" {
		return a.Name + " <" + a.Address + ">"
	}
	return a.Address
}

// clean makes s valid UTF-8 without NULs or line breaks, at most n bytes,
// so that both databases store it.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}
