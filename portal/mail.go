package portal

// Webmail: the partner's mailbox, an adapter over the mailbox store as the
// IMAP and POP3 servers are. What an IMAP client does shows here and the
// other way round: folders, flags and messages are the same rows, and the
// search is the mailbox core's (mailbox.Store.Search), the one IMAP SEARCH
// uses.

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// mailPageSize is how many messages a list page shows.
const mailPageSize = 50

var errNoMail = &httpError{status: http.StatusForbidden, msg: "Your access does not include the mailbox."}

// mailHandler is a mail page: the account may read the partner's mailbox.
func (s *Server) mailed(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, u *user) error {
		if s.Mail == nil {
			return errNotFound
		}
		if !u.Login.Perms.Has(partners.PermMail) {
			return errNoMail
		}
		return h(w, r, u)
	}
}

// writes needs a Submission: without one the portal only reads mail.
func (s *Server) writes(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, u *user) error {
		if s.Submission == nil {
			return errNotFound
		}
		return h(w, r, u)
	}
}

type folderView struct {
	Name, URL string
	Unseen    int64
	Messages  int64
	Current   bool
}

type messageRow struct {
	ID, URL, Subject, From string
	Date                   time.Time
	Size                   int64
	Seen, Flagged          bool
}

type mailData struct {
	Folders   []folderView
	Folder    string
	Query     string
	Messages  []messageRow
	Next      string // URL of the next (older) page, "" at the end
	First     string // URL of the first page, "" on it
	Done      string
	Deletable bool // the folder is not INBOX
	Writes    bool // the portal sends mail
}

func mailURL(folder string) string { return mailURLAt("/portal", folder) }

func mailURLAt(base, folder string) string { return base + "/mail/?folder=" + urlQuery(folder) }

func (s *Server) folders(r *http.Request, u *user, current string) ([]folderView, error) {
	sum, err := s.Mail.Summary(r.Context(), u.Login.PartnerID)
	if err != nil {
		return nil, err
	}
	out := make([]folderView, 0, len(sum))
	for _, f := range sum {
		out = append(out, folderView{Name: f.Name, URL: mailURLAt(u.base(), f.Name), Unseen: f.Unseen, Messages: f.Messages, Current: f.Name == current})
	}
	return out, nil
}

var mailDone = map[string]string{
	"deleted": "Message deleted.", "moved": "Message moved.", "folder-created": "Folder created.",
	"folder-renamed": "Folder renamed.", "folder-deleted": "Folder deleted.", "sent": "Message sent.",
}

// mailList shows a folder's messages, newest first, or those matching a
// search.
func (s *Server) mailList(w http.ResponseWriter, r *http.Request, u *user) error {
	ctx, q := r.Context(), r.URL.Query()
	name := q.Get("folder")
	if name == "" {
		name = store.MailInbox
	}
	f, err := s.Mail.Folder(ctx, u.Login.PartnerID, name)
	if err != nil {
		return mailError(err)
	}
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	query := strings.TrimSpace(q.Get("q"))
	var msgs []store.MailMessage
	if query == "" {
		msgs, err = s.Mail.DB.MailPage(ctx, f.ID, before, mailPageSize+1)
	} else {
		msgs, err = s.Mail.Search(ctx, f.ID, &imap.SearchCriteria{Text: []string{query}})
		slices.Reverse(msgs) // newest first
		msgs = slices.DeleteFunc(msgs, func(m store.MailMessage) bool { return before > 0 && m.UID >= before })
		msgs = msgs[:min(len(msgs), mailPageSize+1)]
	}
	if err != nil {
		return err
	}
	d := mailData{Folder: f.Name, Query: query, Done: mailDone[q.Get("done")], Deletable: f.Name != store.MailInbox,
		Writes: s.Submission != nil && u.viewAs == ""}
	if d.Folders, err = s.folders(r, u, f.Name); err != nil {
		return err
	}
	base := mailURLAt(u.base(), f.Name)
	if query != "" {
		base += "&q=" + urlQuery(query)
	}
	if len(msgs) > mailPageSize {
		msgs = msgs[:mailPageSize]
		d.Next = base + "&before=" + strconv.FormatInt(msgs[len(msgs)-1].UID, 10)
	}
	if before > 0 {
		d.First = base
	}
	for _, m := range msgs {
		date := m.InternalDate
		if m.SentAt != nil {
			date = *m.SentAt
		}
		d.Messages = append(d.Messages, messageRow{ID: m.ID, URL: u.base() + "/mail/message/" + m.ID, Subject: m.Subject,
			From: m.FromAddr, Date: date, Size: m.Size, Seen: m.HasFlag(`\Seen`), Flagged: m.HasFlag(`\Flagged`)})
	}
	s.render(w, r, u, http.StatusOK, "mail", f.Name, d)
	return nil
}

// mailError turns an error of the mailbox store into what the partner
// reads.
func mailError(err error) error {
	switch {
	case errors.Is(err, mailbox.ErrNoSuchFolder), errors.Is(err, mailbox.ErrNoSuchMessage), errors.Is(err, store.ErrNotFound):
		return errNotFound
	case errors.Is(err, mailbox.ErrHasChildren):
		return &httpError{status: http.StatusConflict, msg: "The folder has folders inside it; delete those first."}
	case errors.Is(err, mailbox.ErrBadFolderName):
		return badRequest("That folder name is not allowed.")
	case errors.Is(err, mailbox.ErrFolderExists):
		return &httpError{status: http.StatusConflict, msg: "A folder of that name is already there."}
	}
	return err
}

// message loads a message of the signed-in account's partner; an ID of
// another partner's message is no message.
func (s *Server) message(r *http.Request, u *user) (*store.MailMessage, error) {
	m, err := s.Mail.DB.MailMessageByID(r.Context(), u.Login.PartnerID, r.PathValue("id"))
	if err != nil {
		return nil, mailError(err)
	}
	return m, nil
}

func (s *Server) mailFlag(w http.ResponseWriter, r *http.Request, u *user) error {
	m, err := s.message(r, u)
	if err != nil {
		return err
	}
	op, flag := store.FlagsAdd, ""
	switch r.PostForm.Get("set") {
	case "seen":
		flag = `\Seen`
	case "unseen":
		op, flag = store.FlagsRemove, `\Seen`
	case "flagged":
		flag = `\Flagged`
	case "unflagged":
		op, flag = store.FlagsRemove, `\Flagged`
	default:
		return badRequest("Say what to mark.")
	}
	if _, err := s.Mail.SetFlags(r.Context(), m.FolderID, []int64{m.UID}, op, []string{flag}); err != nil {
		return err
	}
	if r.PostForm.Get("back") == "list" {
		f, err := s.Mail.DB.MailFolderByID(r.Context(), m.FolderID)
		if err != nil {
			return err
		}
		http.Redirect(w, r, mailURL(f.Name), http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/portal/mail/message/"+m.ID+"?keep=1", http.StatusSeeOther)
	return nil
}

func (s *Server) mailMove(w http.ResponseWriter, r *http.Request, u *user) error {
	m, err := s.message(r, u)
	if err != nil {
		return err
	}
	to, err := s.Mail.Folder(r.Context(), u.Login.PartnerID, r.PostForm.Get("to"))
	if err != nil {
		return mailError(err)
	}
	from, err := s.Mail.DB.MailFolderByID(r.Context(), m.FolderID)
	if err != nil {
		return err
	}
	if to.ID != m.FolderID {
		if _, _, err := s.Mail.Copy(r.Context(), m.FolderID, []int64{m.UID}, to.ID, true); err != nil {
			return err
		}
	}
	http.Redirect(w, r, mailURL(from.Name)+"&done=moved", http.StatusSeeOther)
	return nil
}

func (s *Server) mailDelete(w http.ResponseWriter, r *http.Request, u *user) error {
	m, err := s.message(r, u)
	if err != nil {
		return err
	}
	from, err := s.Mail.DB.MailFolderByID(r.Context(), m.FolderID)
	if err != nil {
		return err
	}
	if err := s.Mail.DeleteMessage(r.Context(), u.Login.PartnerID, m.ID); err != nil {
		return mailError(err)
	}
	http.Redirect(w, r, mailURL(from.Name)+"&done=deleted", http.StatusSeeOther)
	return nil
}

func (s *Server) folderCreate(w http.ResponseWriter, r *http.Request, u *user) error {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if err := s.Mail.CreateFolder(r.Context(), u.Login.PartnerID, name); err != nil {
		return mailError(err)
	}
	http.Redirect(w, r, mailURL(name)+"&done=folder-created", http.StatusSeeOther)
	return nil
}

func (s *Server) folderRename(w http.ResponseWriter, r *http.Request, u *user) error {
	from, to := r.PostForm.Get("folder"), strings.TrimSpace(r.PostForm.Get("to"))
	if err := s.Mail.RenameFolder(r.Context(), u.Login.PartnerID, from, to); err != nil {
		return mailError(err)
	}
	http.Redirect(w, r, mailURL(to)+"&done=folder-renamed", http.StatusSeeOther)
	return nil
}

func (s *Server) folderDelete(w http.ResponseWriter, r *http.Request, u *user) error {
	if err := s.Mail.DeleteFolder(r.Context(), u.Login.PartnerID, r.PostForm.Get("folder")); err != nil {
		return mailError(err)
	}
	http.Redirect(w, r, mailURL(store.MailInbox)+"&done=folder-deleted", http.StatusSeeOther)
	return nil
}
