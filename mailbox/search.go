package mailbox

// The one search of a mailbox, whatever front end asks: IMAP SEARCH and
// the partner portal's webmail both match messages here. Flags, dates,
// sizes and UIDs come from the database; header criteria from the header
// copy; TEXT and BODY read the blobs (substring match, case-insensitive,
// decoded text parts), only for messages still in the running after the
// cheap tests.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/ferryhq/ferry/store"
)

// Candidate starts matching m, the message with sequence number seq in
// the searcher's view of its folder.
func (s *Store) Candidate(m *store.MailMessage, seq uint32) *Candidate {
	return &Candidate{store: s, seq: seq, m: m}
}

// Search returns the messages of a folder that match cr, in UID order.
// Sequence numbers are positions in the folder as it is now.
func (s *Store) Search(ctx context.Context, folderID string, cr *imap.SearchCriteria) ([]store.MailMessage, error) {
	uids, err := s.DB.MailUIDs(ctx, folderID)
	if err != nil {
		return nil, fmt.Errorf("mailbox: search: %w", err)
	}
	msgs, err := s.DB.MailMessagesByUID(ctx, folderID, uids, NeedsHeader(cr))
	if err != nil {
		return nil, fmt.Errorf("mailbox: search: %w", err)
	}
	var out []store.MailMessage
	for i := range msgs {
		if s.Candidate(&msgs[i], uint32(i+1)).Match(cr) {
			out = append(out, msgs[i])
		}
	}
	return out, nil
}

// NeedsHeader reports whether matching cr reads the messages' headers
// (load them with the messages).
func NeedsHeader(c *imap.SearchCriteria) bool {
	if len(c.Header) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		return true
	}
	for i := range c.Not {
		if NeedsHeader(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if NeedsHeader(&c.Or[i][0]) || NeedsHeader(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// Candidate is one message being matched by a search; its blob is read at
// most once.
type Candidate struct {
	store  *Store
	seq    uint32
	m      *store.MailMessage
	raw    []byte
	rawErr error
	hdr    *mail.Header
}

func (c *Candidate) body() []byte {
	if c.raw == nil && c.rawErr == nil {
		rc, err := c.store.Open(c.m)
		if err == nil {
			c.raw, err = io.ReadAll(rc)
			rc.Close()
		}
		c.rawErr = err
	}
	return c.raw
}

func (c *Candidate) header() *mail.Header {
	if c.hdr == nil {
		raw := c.m.Header
		if len(raw) == 0 {
			raw = c.body()
		}
		th, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
		c.hdr = &mail.Header{Header: gomessage.Header{Header: th}}
	}
	return c.hdr
}

func (c *Candidate) entity() *gomessage.Entity {
	e, _ := gomessage.Read(bytes.NewReader(c.body()))
	if e == nil {
		e, _ = gomessage.New(gomessage.Header{}, bytes.NewReader(nil))
	}
	return e
}

// Match reports whether the message meets cr. It follows the memory
// server of go-imap (imapmemserver), MIT licence.
func (c *Candidate) Match(cr *imap.SearchCriteria) bool {
	m := c.m
	for _, set := range cr.SeqNum {
		if !set.Contains(c.seq) {
			return false
		}
	}
	for _, set := range cr.UID {
		if !set.Contains(imap.UID(m.UID)) {
			return false
		}
	}
	if !matchDate(m.InternalDate, cr.Since, cr.Before) {
		return false
	}
	for _, f := range cr.Flag {
		if !m.HasFlag(string(f)) {
			return false
		}
	}
	for _, f := range cr.NotFlag {
		if m.HasFlag(string(f)) {
			return false
		}
	}
	if (cr.Larger != 0 && m.Size <= cr.Larger) || (cr.Smaller != 0 && m.Size >= cr.Smaller) {
		return false
	}
	for _, f := range cr.Header {
		if !matchFields(c.header().FieldsByKey(f.Key), f.Value) {
			return false
		}
	}
	if !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
		t, err := c.header().Date()
		if err != nil || !matchDate(t, cr.SentSince, cr.SentBefore) {
			return false
		}
	}
	for _, not := range cr.Not {
		if c.Match(&not) {
			return false
		}
	}
	for _, or := range cr.Or {
		if !c.Match(&or[0]) && !c.Match(&or[1]) {
			return false
		}
	}
	// The expensive tests last.
	for _, text := range cr.Text {
		if !matchEntity(c.entity(), text, true) {
			return false
		}
	}
	for _, body := range cr.Body {
		if !matchEntity(c.entity(), body, false) {
			return false
		}
	}
	return true
}

// matchDate compares dates without time or zone (RFC 3501 6.4.4).
func matchDate(t, since, before time.Time) bool {
	t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && t.Before(since) {
		return false
	}
	if !before.IsZero() && !t.Before(before) {
		return false
	}
	return true
}

func matchFields(fields gomessage.HeaderFields, pattern string) bool {
	if pattern == "" {
		return fields.Len() > 0
	}
	pattern = strings.ToLower(pattern)
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		if strings.Contains(strings.ToLower(v), pattern) {
			return true
		}
	}
	return false
}

func matchEntity(e *gomessage.Entity, pattern string, withHeader bool) bool {
	if pattern == "" {
		return true
	}
	if withHeader && matchFields(e.Header.Fields(), pattern) {
		return true
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if err != nil {
				return false
			}
			if matchEntity(part, pattern, withHeader) {
				return true
			}
		}
	}
	t, _, err := e.Header.ContentType()
	if err != nil {
		t = "text/plain" // RFC 2045 5.2: the default
	}
	if !strings.HasPrefix(t, "text/") && !strings.HasPrefix(t, "message/") {
		return false
	}
	buf, err := io.ReadAll(e.Body)
	if err != nil && len(buf) == 0 {
		return false
	}
	return bytes.Contains(bytes.ToLower(buf), bytes.ToLower([]byte(pattern)))
}
