package web

// The partner mailbox pages: the message list and one message as text.

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // text in any common charset
	"github.com/emersion/go-message/mail"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/store"
)

type mailboxData struct {
	Partner  *store.Partner
	Folders  []mailbox.FolderSummary
	Folder   string
	Messages []mailbox.MessageSummary
	Next     int64
}

func (s *Server) needMail() error {
	if s.Mail == nil {
		return &httpError{status: http.StatusNotFound, msg: "Partner mailboxes are not configured on this server."}
	}
	return nil
}

const messagesPerPage = 50

func (s *Server) mailboxList(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.needMail(); err != nil {
		return err
	}
	ctx := r.Context()
	pt, err := s.Partners.Partner(ctx, r.PathValue("slug"))
	if err != nil {
		return err
	}
	d := mailboxData{Partner: pt, Folder: r.URL.Query().Get("folder")}
	if d.Folder == "" {
		d.Folder = "INBOX"
	}
	if d.Folders, err = s.Mail.Summary(ctx, pt.ID); err != nil {
		return err
	}
	before, _ := parseInt(r.URL.Query().Get("before"))
	msgs, err := s.Mail.MessagePage(ctx, pt.ID, d.Folder, before, messagesPerPage+1)
	if err != nil && !errors.Is(err, mailbox.ErrNoSuchFolder) {
		return err
	}
	if len(msgs) > messagesPerPage {
		msgs = msgs[:messagesPerPage]
		d.Next = msgs[len(msgs)-1].UID
	}
	d.Messages = msgs
	s.renderPage(w, r, http.StatusOK, "mailbox", &page{Title: pt.Name + ": mailbox", Nav: "partners", User: p, Data: d})
	return nil
}

type messageData struct {
	Partner *store.Partner
	Msg     *store.MailMessage
	Headers [][2]string
	Body    string
	Note    string
}

// maxShownBody bounds the text shown of one message.
const maxShownBody = 1 << 20

func (s *Server) mailboxMessage(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.needMail(); err != nil {
		return err
	}
	ctx := r.Context()
	pt, err := s.Partners.Partner(ctx, r.PathValue("slug"))
	if err != nil {
		return err
	}
	m, err := s.Store.MailMessageByID(ctx, pt.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	rc, err := s.Mail.Open(m)
	if err != nil {
		return err
	}
	defer rc.Close()
	d := messageData{Partner: pt, Msg: m}
	// go-message with its charset package, as the mailbox store reads
	// headers: text in any common charset (ISO-8859-x, Windows-125x,
	// Shift_JIS, EUC-KR, GB18030, ...) is shown as UTF-8.
	msg, err := message.Read(bufio.NewReader(io.LimitReader(rc, 32<<20)))
	if msg == nil {
		d.Note = "The message could not be parsed: " + err.Error()
	} else {
		h := mail.Header{Header: msg.Header}
		for _, k := range []string{"From", "To", "Cc", "Date", "Subject", "Message-ID"} {
			v, err := h.Text(k)
			if err != nil {
				v = h.Get(k) // an unknown charset: as received
			}
			if v != "" {
				d.Headers = append(d.Headers, [2]string{k, v})
			}
		}
		d.Body, d.Note, _ = textBody(msg, err, 0)
	}
	s.renderPage(w, r, http.StatusOK, "message", &page{Title: m.Subject, Nav: "partners", User: p, Data: d})
	return nil
}

// maxMIMEDepth bounds how deep textBody looks into nested multiparts: a
// message built to nest thousands of levels must not exhaust the node.
const maxMIMEDepth = 8

// maxMIMEParts bounds how many parts of one multipart textBody looks at.
const maxMIMEParts = 64

// textBody finds the text of a message: itself when text/plain, its first
// text/plain part when multipart. Other content is not shown. readErr is
// what reading e reported (an unknown charset or transfer encoding: its
// body is then shown as received, with a note). plain reports a text/plain
// body found.
func textBody(e *message.Entity, readErr error, depth int) (text, note string, plain bool) {
	mt, _, err := e.Header.ContentType()
	if err != nil || mt == "" {
		mt = "text/plain"
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if depth >= maxMIMEDepth {
			return "", "The message nests its parts too deeply to show.", false
		}
		mr := e.MultipartReader()
		if mr == nil {
			return "", "The message has no text part to show.", false
		}
		for i := 0; i < maxMIMEParts; i++ {
			part, err := mr.NextPart()
			if part == nil {
				break
			}
			if text, note, plain := textBody(part, err, depth+1); plain {
				return text, note, true
			}
		}
		return "", "The message has no text part to show.", false
	case mt == "text/plain" || mt == "text/html":
		b, _ := io.ReadAll(io.LimitReader(e.Body, maxShownBody+1))
		if len(b) > maxShownBody {
			b, note = b[:maxShownBody], "Only the first megabyte is shown."
		}
		if mt == "text/html" {
			return string(b), "This is the HTML source of the message, shown as text.", false
		}
		if message.IsUnknownCharset(readErr) || message.IsUnknownEncoding(readErr) {
			note = "The text is shown as received: " + readErr.Error() + "."
		}
		return string(b), note, true
	}
	return "", "The message is " + mt + "; only text is shown here.", false
}
