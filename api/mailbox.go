package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

type mailFolderJSON struct {
	Name        string `json:"name"`
	Messages    int64  `json:"messages"`
	Unseen      int64  `json:"unseen"`
	Bytes       int64  `json:"bytes"`
	UIDValidity int64  `json:"uid_validity"`
	UIDNext     int64  `json:"uid_next"`
	Subscribed  bool   `json:"subscribed"`
}

type mailboxJSON struct {
	PartnerID string           `json:"partner_id"`
	Slug      string           `json:"slug"`
	Messages  int64            `json:"messages"`
	Unseen    int64            `json:"unseen"`
	Bytes     int64            `json:"bytes"`
	Quota     mailQuotaJSON    `json:"quota"`
	Folders   []mailFolderJSON `json:"folders"`
}

type mailMessageJSON struct {
	ID           string     `json:"id"`
	Folder       string     `json:"folder"`
	UID          int64      `json:"uid"`
	Subject      string     `json:"subject"`
	From         string     `json:"from"`
	To           string     `json:"to"`
	MessageID    string     `json:"message_id"`
	Date         *time.Time `json:"date"`
	InternalDate time.Time  `json:"internal_date"`
	Size         int64      `json:"size"`
	Flags        []string   `json:"flags"`
	// Signature is the check of a signed message made on delivery: null
	// when it is not signed.
	Signature *mailSignatureJSON `json:"signature"`
}

// mailSignatureJSON is the result of a signature check.
type mailSignatureJSON struct {
	Status string `json:"status"` // valid, invalid, unknown_key
	Signer string `json:"signer"`
}

// mailMessageDetail is one message with its header section.
type mailMessageDetail struct {
	mailMessageJSON
	Header string `json:"header"`
}

func mailMessageView(m *store.MailMessage, folder string) mailMessageJSON {
	flags := m.FlagList()
	if flags == nil {
		flags = []string{}
	}
	v := mailMessageJSON{ID: m.ID, Folder: folder, UID: m.UID, Subject: m.Subject, From: m.FromAddr, To: m.ToAddr,
		MessageID: m.MessageID, Date: utcPtr(m.SentAt), InternalDate: m.InternalDate.UTC(), Size: m.Size, Flags: flags}
	if m.Signature != "" {
		v.Signature = &mailSignatureJSON{Status: m.Signature, Signer: m.Signer}
	}
	return v
}

// mailPartner is the partner (ID or slug) of a mailbox route, disabled
// ones included: an operator may look into a switched-off mailbox.
func (s *Server) mailPartner(c echo.Context) (*store.Partner, error) {
	if s.Mail == nil {
		return nil, notConfigured("mailboxes")
	}
	return s.Partners.Partner(c.Request().Context(), param(c, "id"))
}

// mailFolder reads the folder query parameter (default INBOX) and finds
// the folder.
func (s *Server) mailFolder(c echo.Context, q url.Values, partnerID string) (*store.MailFolder, error) {
	name := store.MailInbox
	if v, ok := q["folder"]; ok {
		name = v[0]
	}
	f, err := s.Mail.Folder(c.Request().Context(), partnerID, name)
	if errors.Is(err, mailbox.ErrBadFolderName) {
		return nil, badRequest("invalid query parameter", partners.FieldError{
			Field: "folder", Message: "must be a folder name like INBOX or Archive/2025",
		})
	}
	return f, err
}

func (s *Server) getMailbox(c echo.Context) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	p, err := s.mailPartner(c)
	if err != nil {
		return err
	}
	folders, err := s.Mail.Summary(c.Request().Context(), p.ID)
	if err != nil {
		return err
	}
	quota, used, err := s.Mail.Quota(c.Request().Context(), p.ID)
	if err != nil {
		return err
	}
	out := mailboxJSON{PartnerID: p.ID, Slug: p.Slug, Quota: mailQuotaJSON{Bytes: quota, UsedBytes: used},
		Folders: []mailFolderJSON{}}
	for _, f := range folders {
		out.Messages += f.Messages
		out.Unseen += f.Unseen
		out.Bytes += f.Bytes
		out.Folders = append(out.Folders, mailFolderJSON{Name: f.Name, Messages: f.Messages, Unseen: f.Unseen,
			Bytes: f.Bytes, UIDValidity: f.UIDValidity, UIDNext: f.UIDNext, Subscribed: f.Subscribed})
	}
	return writeJSON(c, http.StatusOK, out)
}

// listMailMessages pages through a folder's messages, newest (highest UID)
// first; the cursor is the last UID of the previous page.
func (s *Server) listMailMessages(c echo.Context) error {
	q, err := queryParams(c, "folder", "limit", "cursor")
	if err != nil {
		return err
	}
	p, err := s.mailPartner(c)
	if err != nil {
		return err
	}
	var fields []partners.FieldError
	limit, bad := pageLimit(q)
	fields = append(fields, bad...)
	cursor, bad := pageCursor(q, cursorUID)
	fields = append(fields, bad...)
	var before int64
	if cursor != "" {
		before, _ = strconv.ParseInt(cursor, 10, 64) // checked by pageCursor
	}
	if len(fields) > 0 {
		return badRequest("the query string has invalid parameters", fields...)
	}
	f, err := s.mailFolder(c, q, p.ID)
	if err != nil {
		return err
	}
	list, err := s.Mail.MessagePage(c.Request().Context(), p.ID, f.Name, before, limit+1)
	if err != nil {
		return err
	}
	out := pageOf(list, limit, func(m *mailbox.MessageSummary) string { return strconv.FormatInt(m.UID, 10) },
		messageSummaryView)
	return writeJSON(c, http.StatusOK, out)
}

func messageSummaryView(m *mailbox.MessageSummary) mailMessageJSON {
	item := mailMessageJSON{ID: m.ID, Folder: m.Folder, UID: m.UID, Subject: m.Subject,
		From: m.From, To: m.To, MessageID: m.MessageID, Date: utcPtr(m.Date), InternalDate: m.InternalDate.UTC(),
		Size: m.Size, Flags: m.Flags}
	if m.Signature != "" {
		item.Signature = &mailSignatureJSON{Status: m.Signature, Signer: m.Signer}
	}
	return item
}

// mailRef is the message a route names: a UID in the folder parameter's
// folder (default INBOX), or a message's id (then without folder).
type mailRef struct {
	uid    int64 // 0 when id is set
	id     string
	folder *store.MailFolder // with uid
}

func (s *Server) mailRef(c echo.Context, partnerID string) (*mailRef, error) {
	q, err := queryParams(c, "folder")
	if err != nil {
		return nil, err
	}
	v := param(c, "message")
	if !isDigits(v) {
		if _, ok := q["folder"]; ok {
			return nil, badRequest("invalid query parameter", partners.FieldError{
				Field: "folder", Message: "only with a UID; a message id names the message on its own",
			})
		}
		return &mailRef{id: v}, nil
	}
	uid, err := strconv.ParseInt(v, 10, 64)
	if err != nil || uid < 1 || uid > 1<<32-1 {
		return nil, badRequest("invalid path parameter", partners.FieldError{
			Field: "message", Message: "a UID must be a whole number from 1 to 4294967295",
		})
	}
	f, err := s.mailFolder(c, q, partnerID)
	if err != nil {
		return nil, err
	}
	return &mailRef{uid: uid, folder: f}, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// mailMessage loads the message a route names, with its header copy, and
// its folder's name.
func (s *Server) mailMessage(c echo.Context, partnerID string) (*store.MailMessage, string, error) {
	ctx := c.Request().Context()
	ref, err := s.mailRef(c, partnerID)
	if err != nil {
		return nil, "", err
	}
	if ref.id != "" {
		m, err := s.Mail.DB.MailMessageByID(ctx, partnerID, ref.id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", newProblem(http.StatusNotFound, fmt.Sprintf("no message %q in this mailbox", ref.id))
		}
		if err != nil {
			return nil, "", err
		}
		f, err := s.Mail.DB.MailFolderByID(ctx, m.FolderID)
		if err != nil {
			return nil, "", err
		}
		return m, f.Name, nil
	}
	list, err := s.Mail.DB.MailMessagesByUID(ctx, ref.folder.ID, []int64{ref.uid}, true)
	if err != nil {
		return nil, "", err
	}
	if len(list) == 0 {
		return nil, "", newProblem(http.StatusNotFound, fmt.Sprintf("no message with UID %d in %s", ref.uid, ref.folder.Name))
	}
	return &list[0], ref.folder.Name, nil
}

// getMailMessage shows one message's summary and header section; reading
// it through the API sets no flag.
func (s *Server) getMailMessage(c echo.Context) error {
	p, err := s.mailPartner(c)
	if err != nil {
		return err
	}
	m, folder, err := s.mailMessage(c, p.ID)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, mailMessageDetail{mailMessageJSON: mailMessageView(m, folder), Header: string(m.Header)})
}

// getMailMessageRaw sends the message exactly as stored (message/rfc822).
func (s *Server) getMailMessageRaw(c echo.Context) error {
	p, err := s.mailPartner(c)
	if err != nil {
		return err
	}
	m, _, err := s.mailMessage(c, p.ID)
	if err != nil {
		return err
	}
	r, err := s.Mail.Open(m)
	if err != nil {
		return err
	}
	defer r.Close()
	h := c.Response().Header()
	h.Set("Content-Type", "message/rfc822")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%d.eml"`, m.UID))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	_, err = io.Copy(c.Response(), r)
	return err // after the status: only logged
}

// deleteMailMessage removes one message at once (no \Deleted, no
// EXPUNGE needed); IMAP sessions of this process see it go.
func (s *Server) deleteMailMessage(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := s.mailPartner(c)
	if err != nil {
		return err
	}
	ref, err := s.mailRef(c, p.ID)
	if err != nil {
		return err
	}
	if ref.id != "" {
		setTarget(c, p.ID+"/"+ref.id)
		if err := s.Mail.DeleteMessage(ctx, p.ID, ref.id); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
	setTarget(c, fmt.Sprintf("%s/%s/%d", p.ID, ref.folder.Name, ref.uid))
	removed, err := s.Mail.Expunge(ctx, ref.folder.ID, []int64{ref.uid}, false)
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		return newProblem(http.StatusNotFound, fmt.Sprintf("no message with UID %d in %s", ref.uid, ref.folder.Name))
	}
	return c.NoContent(http.StatusNoContent)
}
