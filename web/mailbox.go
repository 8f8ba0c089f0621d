package web

// The partner mailbox pages: the message list and one message as text.

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"strings"

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
	msg, err := mail.ReadMessage(bufio.NewReader(io.LimitReader(rc, 32<<20)))
	if err != nil {
		d.Note = "The message could not be parsed: " + err.Error()
	} else {
		dec := new(mime.WordDecoder)
		for _, k := range []string{"From", "To", "Cc", "Date", "Subject", "Message-ID"} {
			if v := msg.Header.Get(k); v != "" {
				if dv, err := dec.DecodeHeader(v); err == nil {
					v = dv
				}
				d.Headers = append(d.Headers, [2]string{k, v})
			}
		}
		d.Body, d.Note = textBody(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0)
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
// text/plain part when multipart. Other content is not shown.
func textBody(ctype, cte string, body io.Reader, depth int) (string, string) {
	mt, params, err := mime.ParseMediaType(ctype)
	if ctype == "" || err != nil {
		mt = "text/plain"
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if depth >= maxMIMEDepth {
			return "", "The message nests its parts too deeply to show."
		}
		mr := multipart.NewReader(body, params["boundary"])
		for i := 0; i < maxMIMEParts; i++ {
			part, err := mr.NextPart()
			if err != nil {
				break
			}
			// NextPart decodes quoted-printable itself.
			if text, note := textBody(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part, depth+1); note == "" {
				return text, ""
			}
		}
		return "", "The message has no text part to show."
	case mt == "text/plain" || mt == "text/html":
		var rd io.Reader = body
		if strings.EqualFold(strings.TrimSpace(cte), "base64") {
			rd = base64.NewDecoder(base64.StdEncoding, body)
		} else if strings.EqualFold(strings.TrimSpace(cte), "quoted-printable") {
			rd = quotedprintable.NewReader(body)
		}
		b, _ := io.ReadAll(io.LimitReader(rd, maxShownBody+1))
		note := ""
		if len(b) > maxShownBody {
			b, note = b[:maxShownBody], "Only the first megabyte is shown."
		}
		if mt == "text/html" {
			return string(b), "This is the HTML source of the message, shown as text."
		}
		return string(b), note
	}
	return "", "The message is " + mt + "; only text is shown here."
}
