package portal

// Writing mail: a new message or a reply, with attachments. Where it may
// go is the submission rule of the mailbox core (mailbox.Submission), the
// one authenticated SMTP follows: partner mailboxes at once, the outside
// domains the operator allows through the outbox and the relay, nothing
// else. The sender's Sent folder keeps a copy.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	netmail "net/mail"
	"path"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/store"
)

// maxCompose bounds a written message with its attachments.
const maxCompose = 20 << 20

type composeData struct {
	To, Cc, Subject, Body string
	InReplyTo, References string
	Error                 string
	Outbound              []string // the outside domains allowed
	Folders               []folderView
}

func (s *Server) composePage(w http.ResponseWriter, r *http.Request, u *user) error {
	d := composeData{Outbound: s.Submission.OutboundDomains}
	var err error
	if d.Folders, err = s.folders(r, u, ""); err != nil {
		return err
	}
	if id := r.URL.Query().Get("reply"); id != "" {
		m, err := s.Mail.DB.MailMessageByID(r.Context(), u.Login.PartnerID, id)
		if err != nil {
			return mailError(err)
		}
		if err := s.fillReply(&d, m); err != nil {
			return err
		}
	}
	s.render(w, r, u, http.StatusOK, "compose", "Write a message", d)
	return nil
}

func (s *Server) sendMail(w http.ResponseWriter, r *http.Request, u *user) error {
	f := r.PostForm
	d := composeData{To: f.Get("to"), Cc: f.Get("cc"), Subject: strings.TrimSpace(f.Get("subject")), Body: f.Get("body"),
		InReplyTo: f.Get("in_reply_to"), References: f.Get("references"), Outbound: s.Submission.OutboundDomains}
	fail := func(format string, args ...any) error {
		d.Error = fmt.Sprintf(format, args...)
		var err error
		if d.Folders, err = s.folders(r, u, ""); err != nil {
			return err
		}
		s.render(w, r, u, http.StatusBadRequest, "compose", "Write a message", d)
		return nil
	}
	var to, cc []*mail.Address
	var routes []mailbox.Route
	for _, field := range []struct {
		v    string
		list *[]*mail.Address
	}{{d.To, &to}, {d.Cc, &cc}} {
		if strings.TrimSpace(field.v) == "" {
			continue
		}
		list, err := netmail.ParseAddressList(field.v)
		if err != nil {
			return fail("The addresses could not be read: write them like name@example.com, separated by commas.")
		}
		for _, a := range list {
			route, err := s.Submission.Route(r.Context(), a.Address)
			switch {
			case errors.Is(err, mailbox.ErrNoSuchMailbox):
				return fail("There is no mailbox %s.", a.Address)
			case errors.Is(err, mailbox.ErrOutsideRefused):
				return fail("Mail to %s cannot be sent from here. %s", a.Address, s.allowedText())
			case err != nil:
				return err
			}
			routes = append(routes, route)
			*field.list = append(*field.list, (*mail.Address)(a))
		}
	}
	if len(routes) == 0 {
		return fail("Write at least one recipient.")
	}
	raw, err := s.buildMessage(r, u, to, cc, d)
	if err != nil {
		return fail("%s", err.Error())
	}
	from := s.Submission.Address(u.Partner)
	if err := s.Submission.Submit(r.Context(), u.Login.PartnerID, from, routes, raw, true); err != nil {
		if errors.Is(err, mailbox.ErrOverQuota) {
			return fail("A mailbox is full; the message was not sent.")
		}
		return err
	}
	s.logger().Info("portal mail sent", "user", u.Login.Username, "partner", u.Login.PartnerSlug, "recipients", len(routes),
		"bytes", len(raw), "remote", s.clientIP(r))
	http.Redirect(w, r, mailURL(mailbox.SentFolder)+"&done=sent", http.StatusSeeOther)
	return nil
}

// allowedText says where a partner may write, in its words.
func (s *Server) allowedText() string {
	if len(s.Submission.OutboundDomains) == 0 {
		return "You can write to the mailboxes of this file exchange only."
	}
	return "You can write to the mailboxes of this file exchange and to addresses at " +
		strings.Join(s.Submission.OutboundDomains, ", ") + "."
}

// buildMessage writes the message: text and attachments, From the
// partner's mailbox.
func (s *Server) buildMessage(r *http.Request, u *user, to, cc []*mail.Address, d composeData) ([]byte, error) {
	var h mail.Header
	h.SetDate(s.now())
	from, _ := netmail.ParseAddress(s.Submission.Address(u.Partner))
	h.SetAddressList("From", []*mail.Address{(*mail.Address)(from)})
	if len(to) > 0 {
		h.SetAddressList("To", to)
	}
	if len(cc) > 0 {
		h.SetAddressList("Cc", cc)
	}
	h.SetSubject(d.Subject)
	domain := "ferry.localhost"
	if len(s.Submission.LocalDomains) > 0 {
		domain = s.Submission.LocalDomains[0]
	}
	if err := h.GenerateMessageIDWithHostname(domain); err != nil {
		return nil, errors.New("the message could not be written")
	}
	if id := strings.Trim(d.InReplyTo, "<> "); id != "" && !strings.ContainsAny(id, "\r\n") {
		h.Set("In-Reply-To", "<"+id+">")
		refs := strings.TrimSpace(d.References + " <" + id + ">")
		if !strings.ContainsAny(refs, "\r\n") {
			h.Set("References", refs)
		}
	}
	h.Set("User-Agent", "Ferry partner portal")
	var buf bytes.Buffer
	mw, err := mail.CreateWriter(&buf, h)
	if err != nil {
		return nil, errors.New("the message could not be written")
	}
	var th mail.InlineHeader
	th.Set("Content-Type", "text/plain; charset=utf-8")
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	tw, err := mw.CreateSingleInline(th)
	if err != nil {
		return nil, errors.New("the message could not be written")
	}
	body := strings.ReplaceAll(strings.ReplaceAll(d.Body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := io.WriteString(tw, body); err != nil {
		return nil, err
	}
	tw.Close()
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["attachment"] {
			if fh.Filename == "" {
				continue
			}
			f, err := fh.Open()
			if err != nil {
				return nil, err
			}
			var ah mail.AttachmentHeader
			ct := fh.Header.Get("Content-Type")
			if ct == "" || strings.ContainsAny(ct, "\r\n") {
				ct = "application/octet-stream"
			}
			ah.Set("Content-Type", ct)
			ah.Set("Content-Transfer-Encoding", "base64")
			ah.SetFilename(path.Base(strings.ReplaceAll(fh.Filename, "\\", "/")))
			aw, err := mw.CreateAttachment(ah)
			if err == nil {
				_, err = io.Copy(aw, f)
			}
			f.Close()
			if err != nil {
				return nil, errors.New("an attachment could not be added")
			}
			aw.Close()
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fillReply fills the form for a reply to m: to its sender (Reply-To if
// it has one), "Re:" subject, its text quoted, threading headers.
func (s *Server) fillReply(d *composeData, m *store.MailMessage) error {
	rc, err := s.Mail.Open(m)
	if err != nil {
		return err
	}
	defer rc.Close()
	e, _ := message.Read(bufio.NewReader(io.LimitReader(rc, maxMessageLen)))
	if e == nil {
		return badRequest("That message cannot be answered: it could not be read.")
	}
	h := mail.Header{Header: e.Header}
	to, err := h.AddressList("Reply-To")
	if err != nil || len(to) == 0 {
		to, _ = h.AddressList("From")
	}
	var addrs []string
	for _, a := range to {
		addrs = append(addrs, a.String())
	}
	d.To = strings.Join(addrs, ", ")
	subj, err := h.Subject()
	if err != nil {
		subj = m.Subject
	}
	if !strings.HasPrefix(strings.ToLower(subj), "re:") {
		subj = "Re: " + subj
	}
	d.Subject = subj
	if id, err := h.MessageID(); err == nil && id != "" {
		d.InReplyTo = id
	}
	if refs, err := h.MsgIDList("References"); err == nil && len(refs) > 0 {
		d.References = "<" + strings.Join(refs, "> <") + ">"
	}
	n := 0
	walk(e, 0, &n, func(_ int, p *message.Entity) bool {
		if _, att := isAttachment(p); att {
			return true
		}
		if mt, _, _ := p.Header.ContentType(); mt == "text/plain" || mt == "" {
			b, _ := io.ReadAll(io.LimitReader(p.Body, maxShownBody))
			var q strings.Builder
			q.WriteString("\n\n")
			if from, err := h.AddressList("From"); err == nil && len(from) > 0 {
				q.WriteString(from[0].String() + " wrote:\n")
			}
			for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
				q.WriteString("> " + l + "\n")
			}
			d.Body = q.String()
			return false
		}
		return true
	})
	return nil
}
