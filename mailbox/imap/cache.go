package imap

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/ferryhq/ferry/store"
)

// DefaultHeaderCache is how many bytes of message headers a server keeps
// in memory by default, over every folder its sessions have selected.
const DefaultHeaderCache = 64 << 20

// message is a folder's copy of one message row (see folderState). Only
// flags and modseq ever change; the rest of a row is immutable.
type message struct {
	uid     imap.UID
	modseq  int64
	flags   string // as store.MailMessage.Flags
	date    time.Time
	size    int64
	blobKey string
	// header is the header copy of the row once read (hasHeader; empty
	// when the header was too big to keep: then it is read from the
	// blob), and section BODY[HEADER] as imapserver renders it from
	// header, once asked (it shares header's bytes when they are the
	// same, which is the rule).
	header    []byte
	hasHeader bool
	section   []byte
}

func newMessage(m *store.MailMessage) *message {
	return &message{uid: imap.UID(m.UID), modseq: m.Modseq, flags: m.Flags, date: m.InternalDate, size: m.Size, blobKey: m.BlobKey}
}

// row is what mailbox.Store.Open needs of a message.
func (m *message) row() *store.MailMessage {
	return &store.MailMessage{UID: int64(m.uid), BlobKey: m.blobKey, Size: m.size}
}

func (m *message) flagList() []string { return strings.Fields(m.flags) }

func (m *message) hasFlag(flag imap.Flag) bool {
	for _, f := range m.flagList() {
		if strings.EqualFold(f, string(flag)) {
			return true
		}
	}
	return false
}

// cost is what the header copies of m hold in memory.
func (m *message) cost() int64 {
	n := int64(len(m.header))
	if len(m.section) > 0 && (len(m.header) == 0 || &m.section[0] != &m.header[0]) {
		n += int64(len(m.section))
	}
	return n
}

func (s *Server) headerCacheLimit() int64 {
	if s.HeaderCache != 0 {
		return s.HeaderCache
	}
	return DefaultHeaderCache
}

// charge takes n bytes of the server's header cache for st, if they fit.
func (st *folderState) charge(n int64) bool {
	if n == 0 {
		return true
	}
	if st.srv.headerCache.Add(n) > st.srv.headerCacheLimit() {
		st.srv.headerCache.Add(-n)
		return false
	}
	st.cached += n
	return true
}

// forget drops the copy of an expunged message.
func (st *folderState) forget(u imap.UID) {
	if m := st.msgs[u]; m != nil {
		n := m.cost()
		st.cached -= n
		st.srv.headerCache.Add(-n)
	}
	delete(st.msgs, u)
}

// dropCache gives st's header bytes back to the server (the last session
// left the folder).
func (st *folderState) dropCache() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.srv.headerCache.Add(-st.cached)
	st.cached = 0
}

// fetched is one message a FETCH answers: a copy of its row, so that the
// response is written without holding the folder's lock.
type fetched struct {
	seq uint32
	message
}

// messages returns copies of the rows of refs that are still in the folder
// (a message expunged meanwhile, or whose header row is gone, is left
// out), with their headers if
// withHeader (read in one statement for those not in memory yet, and kept
// within the server's header cache) and their BODY[HEADER] if
// withSection. The caller has just synced st, so the copies are the
// database's rows as of that sync.
func (st *folderState) messages(ctx context.Context, refs []ref, withHeader, withSection bool) ([]fetched, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var passing map[imap.UID][]byte // headers read for this FETCH only
	if withHeader {
		var missing []int64
		for _, r := range refs {
			if m := st.msgs[r.uid]; m != nil && !m.hasHeader {
				missing = append(missing, int64(r.uid))
			}
		}
		if len(missing) > 0 {
			rows, err := st.srv.Store.DB.MailHeaders(ctx, st.id, missing)
			if err != nil {
				return nil, fmt.Errorf("imap: read headers: %w", err)
			}
			for _, row := range rows {
				m := st.msgs[imap.UID(row.UID)]
				switch {
				case m == nil || m.hasHeader:
				case st.charge(int64(len(row.Header))):
					m.header, m.hasHeader = row.Header, true
				default:
					if passing == nil {
						passing = map[imap.UID][]byte{}
					}
					passing[m.uid] = row.Header
				}
			}
		}
	}
	out := make([]fetched, 0, len(refs))
	for _, r := range refs {
		m := st.msgs[r.uid]
		if m == nil {
			continue
		}
		f := fetched{seq: r.seq, message: *m}
		if h, ok := passing[m.uid]; ok {
			f.header, f.hasHeader = h, true
		}
		if withHeader && !f.hasHeader {
			continue // expunged since the sync: its row is gone
		}
		if withSection && f.section == nil && len(f.header) > 0 {
			f.section = headerSection(f.header)
			if _, ok := passing[m.uid]; !ok && st.charge(f.cost()-m.cost()) {
				m.section = f.section
			}
		}
		out = append(out, f)
	}
	return out, nil
}

var plainHeader = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}

// headerSection renders BODY[HEADER] of a header block the way imapserver
// does, sharing h's bytes when the result is the same.
func headerSection(h []byte) []byte {
	b := imapserver.ExtractBodySection(bytes.NewReader(h), plainHeader)
	if bytes.Equal(b, h) {
		return h
	}
	return b
}

// isPlainHeader reports whether bs is BODY[HEADER] (or BODY.PEEK[HEADER])
// of the whole message, which headerSection answers.
func isPlainHeader(bs *imap.FetchItemBodySection) bool {
	return bs.Specifier == imap.PartSpecifierHeader && len(bs.Part) == 0 && len(bs.HeaderFields) == 0 &&
		len(bs.HeaderFieldsNot) == 0 && bs.Partial == nil
}
