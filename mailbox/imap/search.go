package imap

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/ferryhq/ferry/store"
)

// Search is called by SEARCH and UID SEARCH. Flags, dates, sizes and UIDs
// come from the database; header criteria from the header copy; TEXT and
// BODY read the blobs (substring match, case-insensitive, decoded text
// parts), only for messages still in the running after the cheap tests.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, _ *imap.SearchOptions) (*imap.SearchData, error) {
	view := s.sel.st.clientView(s.sel.tracker)
	var maxSeq uint32
	var maxUID imap.UID
	if n := len(view); n > 0 {
		maxSeq, maxUID = view[n-1].seq, view[n-1].uid
	}
	staticCriteria(criteria, maxSeq, maxUID)
	uids := make([]int64, len(view))
	for i, r := range view {
		uids[i] = int64(r.uid)
	}
	msgs, err := s.srv.Store.DB.MailMessagesByUID(s.ctx, s.sel.st.id, uids, needsHeader(criteria))
	if err != nil {
		return nil, err
	}
	byUID := make(map[imap.UID]*store.MailMessage, len(msgs))
	for i := range msgs {
		byUID[imap.UID(msgs[i].UID)] = &msgs[i]
	}
	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uidSet imap.UIDSet
	for _, r := range view {
		m := byUID[r.uid]
		if m == nil {
			continue
		}
		c := &candidate{s: s, seq: r.seq, m: m}
		if !c.match(criteria) {
			continue
		}
		num := r.seq
		if kind == imapserver.NumKindUID {
			num = uint32(r.uid)
		}
		seqs.AddNum(r.seq)
		uidSet.AddNum(r.uid)
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		data.Max = max(data.Max, num)
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uidSet
	} else {
		data.All = seqs
	}
	return data, nil
}

func staticCriteria(c *imap.SearchCriteria, maxSeq uint32, maxUID imap.UID) {
	for i := range c.SeqNum {
		c.SeqNum[i] = staticSeqSet(c.SeqNum[i], maxSeq)
	}
	for i := range c.UID {
		c.UID[i] = staticUIDSet(c.UID[i], maxUID)
	}
	for i := range c.Not {
		staticCriteria(&c.Not[i], maxSeq, maxUID)
	}
	for i := range c.Or {
		staticCriteria(&c.Or[i][0], maxSeq, maxUID)
		staticCriteria(&c.Or[i][1], maxSeq, maxUID)
	}
}

func needsHeader(c *imap.SearchCriteria) bool {
	if len(c.Header) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		return true
	}
	for i := range c.Not {
		if needsHeader(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if needsHeader(&c.Or[i][0]) || needsHeader(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// candidate is one message being matched; its blob is read at most once.
type candidate struct {
	s      *session
	seq    uint32
	m      *store.MailMessage
	raw    []byte
	rawErr error
	hdr    *mail.Header
}

func (c *candidate) body() []byte {
	if c.raw == nil && c.rawErr == nil {
		rc, err := c.s.srv.Store.Open(c.m)
		if err == nil {
			c.raw, err = io.ReadAll(rc)
			rc.Close()
		}
		c.rawErr = err
	}
	return c.raw
}

func (c *candidate) header() *mail.Header {
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

func (c *candidate) entity() *gomessage.Entity {
	e, _ := gomessage.Read(bytes.NewReader(c.body()))
	if e == nil {
		e, _ = gomessage.New(gomessage.Header{}, bytes.NewReader(nil))
	}
	return e
}

// match follows the memory server of go-imap (imapmemserver), MIT licence.
func (c *candidate) match(cr *imap.SearchCriteria) bool {
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
		if c.match(&not) {
			return false
		}
	}
	for _, or := range cr.Or {
		if !c.match(&or[0]) && !c.match(&or[1]) {
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
