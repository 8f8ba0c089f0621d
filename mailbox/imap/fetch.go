package imap

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"github.com/ferryhq/ferry/store"
)

// Fetch is called by FETCH and UID FETCH. It first brings the folder's
// copy up to date (one statement when nothing changed), then answers
// flags, dates, sizes and header-only items from it, reading the headers
// it does not hold yet in one statement; the blob is read only for body
// parts, and a whole or partial BODY[] is streamed from it. A non-PEEK
// body section sets \Seen (unless the folder was EXAMINEd).
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	st := s.sel.st
	if err := st.sync(s.ctx); err != nil {
		return err
	}
	refs := st.resolve(s.sel.tracker, numSet)
	if len(refs) == 0 {
		return nil
	}
	needHeader, needSection, markSeen := options.Envelope, false, false
	for _, bs := range options.BodySection {
		if !bs.Peek {
			markSeen = true
		}
		if headerOnly(bs) {
			needHeader = true
			needSection = needSection || isPlainHeader(bs)
		}
	}
	msgs, err := st.messages(s.ctx, refs, needHeader, needSection)
	if err != nil {
		return err
	}
	if markSeen && !s.sel.readOnly {
		var unseen []int64
		for _, m := range msgs {
			if !m.hasFlag(imap.FlagSeen) {
				unseen = append(unseen, int64(m.uid))
			}
		}
		if len(unseen) > 0 {
			changed, err := s.srv.Store.SetFlags(s.ctx, st.id, unseen, store.FlagsAdd, []string{string(imap.FlagSeen)})
			if err != nil {
				return err
			}
			// Every session, this one included, gets FETCH (FLAGS).
			st.flagsChanged(changed, nil)
			byUID := make(map[imap.UID]*fetched, len(msgs))
			for i := range msgs {
				byUID[msgs[i].uid] = &msgs[i]
			}
			for _, c := range changed {
				if m := byUID[imap.UID(c.UID)]; m != nil {
					m.flags = c.Flags
				}
			}
		}
	}
	if len(msgs) > 1 {
		defer cork(s.conn.NetConn())()
	}
	for i := range msgs {
		s.fetching = w.CreateMessage(msgs[i].seq)
		err := s.fetchOne(s.fetching, &msgs[i].message, options)
		s.fetching = nil
		if err != nil {
			return err
		}
	}
	return nil
}

// headerOnly reports whether a body section is answered from the header.
func headerOnly(bs *imap.FetchItemBodySection) bool {
	if len(bs.Part) > 0 {
		return false
	}
	switch bs.Specifier {
	case imap.PartSpecifierHeader:
		return true
	}
	return len(bs.HeaderFields) > 0 || len(bs.HeaderFieldsNot) > 0
}

func (s *session) fetchOne(w *imapserver.FetchResponseWriter, m *message, options *imap.FetchOptions) error {
	w.WriteUID(m.uid)
	if options.Flags {
		w.WriteFlags(toFlags(m.flagList()))
	}
	if options.InternalDate {
		w.WriteInternalDate(m.date.In(time.UTC))
	}
	if options.RFC822Size {
		w.WriteRFC822Size(m.size)
	}
	var raw []byte // the whole message, read once if needed
	load := func() ([]byte, error) {
		if raw != nil {
			return raw, nil
		}
		rc, err := s.srv.Store.Open(m.row())
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		raw, err = io.ReadAll(rc)
		return raw, err
	}
	header := func() ([]byte, error) {
		if len(m.header) > 0 || m.size == 0 {
			return m.header, nil
		}
		return load() // header too big to cache: parse the blob
	}
	if options.Envelope {
		h, err := header()
		if err != nil {
			return err
		}
		th, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(h)))
		w.WriteEnvelope(imapserver.ExtractEnvelope(th))
	}
	if options.BodyStructure != nil {
		b, err := load()
		if err != nil {
			return err
		}
		w.WriteBodyStructure(bodyStructure(b))
	}
	for _, bs := range options.BodySection {
		var err error
		switch {
		case m.section != nil && isPlainHeader(bs):
			err = writeSection(w, bs, m.section)
		case headerOnly(bs):
			var h []byte
			if h, err = header(); err == nil {
				err = writeSection(w, bs, imapserver.ExtractBodySection(bytes.NewReader(h), bs))
			}
		case bs.Specifier == imap.PartSpecifierNone && len(bs.Part) == 0 && raw == nil:
			err = s.streamBody(w, bs, m)
		default:
			var b []byte
			if b, err = load(); err == nil {
				err = writeSection(w, bs, imapserver.ExtractBodySection(bytes.NewReader(b), bs))
			}
		}
		if err != nil {
			return err
		}
	}
	for _, bs := range options.BinarySection {
		b, err := load()
		if err != nil {
			return err
		}
		buf := imapserver.ExtractBinarySection(bytes.NewReader(b), bs)
		wc := w.WriteBinarySection(bs, int64(len(buf)))
		if _, err := wc.Write(buf); err != nil {
			return err
		}
		if err := wc.Close(); err != nil {
			return err
		}
	}
	for _, bss := range options.BinarySectionSize {
		b, err := load()
		if err != nil {
			return err
		}
		w.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(b), bss))
	}
	return w.Close()
}

func writeSection(w *imapserver.FetchResponseWriter, bs *imap.FetchItemBodySection, b []byte) error {
	wc := w.WriteBodySection(bs, int64(len(b)))
	if _, err := wc.Write(b); err != nil {
		wc.Close()
		return err
	}
	return wc.Close()
}

// streamBody sends BODY[] or BODY[]<offset.size> straight from the blob.
func (s *session) streamBody(w *imapserver.FetchResponseWriter, bs *imap.FetchItemBodySection, m *message) error {
	rc, err := s.srv.Store.Open(m.row())
	if err != nil {
		return err
	}
	defer rc.Close()
	offset, size := int64(0), m.size
	if p := bs.Partial; p != nil {
		offset = min(p.Offset, m.size)
		size = min(p.Size, m.size-offset)
	}
	if offset > 0 {
		var err error
		if sk, ok := rc.(io.Seeker); ok {
			_, err = sk.Seek(offset, io.SeekStart)
		} else {
			_, err = io.CopyN(io.Discard, rc, offset)
		}
		if err != nil {
			return fmt.Errorf("imap: read message %d: %w", m.uid, err)
		}
	}
	if s.copyBuf == nil {
		s.copyBuf = make([]byte, 32<<10)
	}
	wc := w.WriteBodySection(bs, size)
	n, err := io.CopyBuffer(wc, io.LimitReader(rc, size), s.copyBuf)
	if err == nil && n < size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		// The literal's size is already on the wire: the connection cannot
		// continue.
		wc.Close()
		return fmt.Errorf("imap: stream message %d (%d of %d octets): %w", m.uid, n, size, err)
	}
	return wc.Close()
}
