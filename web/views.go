package web

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/spf13/afero"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/sessions"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/vfs"
)

// ---- files ----

type fileEntry struct {
	Name, Path string
	Dir        bool
	Size       int64
	ModTime    time.Time
}

type filesData struct {
	Partner *store.Partner
	Path    string
	Parent  string // "" at the top
	Crumbs  []fileEntry
	Entries []fileEntry
}

// cleanPath makes a user-given path absolute and clean; everything is read
// through vfs.Root, which cannot leave the partner's folder whatever the
// name.
func cleanPath(p string) string { return path.Clean("/" + p) }

func hidden(p string) bool {
	return p == "/"+vfs.StagingDir || strings.HasPrefix(p, "/"+vfs.StagingDir+"/")
}

func (s *Server) partnerRoot(r *http.Request) (*store.Partner, *vfs.Root, error) {
	pt, err := s.Partners.Partner(r.Context(), r.PathValue("slug"))
	if err != nil {
		return nil, nil, err
	}
	root, err := vfs.OpenRoot(s.Partners.PartnerDir(pt.Slug))
	if err != nil {
		return nil, nil, err
	}
	return pt, root, nil
}

func notFoundFile(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &httpError{status: http.StatusNotFound, msg: "There is no such file or folder."}
	}
	return err
}

func (s *Server) files(w http.ResponseWriter, r *http.Request, p *principal) error {
	pt, root, err := s.partnerRoot(r)
	if err != nil {
		return err
	}
	defer root.Close()
	dir := cleanPath(r.URL.Query().Get("path"))
	if hidden(dir) {
		return notFoundFile(fs.ErrNotExist)
	}
	infos, err := afero.ReadDir(root, dir)
	if err != nil {
		return notFoundFile(err)
	}
	d := filesData{Partner: pt, Path: dir}
	if dir != "/" {
		d.Parent = path.Dir(dir)
		acc := ""
		for _, part := range strings.Split(strings.Trim(dir, "/"), "/") {
			acc += "/" + part
			d.Crumbs = append(d.Crumbs, fileEntry{Name: part, Path: acc})
		}
	}
	for _, fi := range infos {
		full := path.Join(dir, fi.Name())
		if hidden(full) || !fi.IsDir() && !fi.Mode().IsRegular() {
			continue
		}
		d.Entries = append(d.Entries, fileEntry{Name: fi.Name(), Path: full, Dir: fi.IsDir(), Size: fi.Size(), ModTime: fi.ModTime()})
	}
	sort.Slice(d.Entries, func(i, j int) bool {
		if d.Entries[i].Dir != d.Entries[j].Dir {
			return d.Entries[i].Dir
		}
		return d.Entries[i].Name < d.Entries[j].Name
	})
	s.renderPage(w, r, http.StatusOK, "files", &page{Title: pt.Name + ": files", Nav: "partners", User: p, Data: d})
	return nil
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, p *principal) error {
	pt, root, err := s.partnerRoot(r)
	if err != nil {
		return err
	}
	defer root.Close()
	name := cleanPath(r.URL.Query().Get("path"))
	if hidden(name) {
		return notFoundFile(fs.ErrNotExist)
	}
	f, err := root.Open(name)
	if err != nil {
		return notFoundFile(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return badRequest("%s is a folder; open it instead.", name)
	}
	start := s.now()
	h := w.Header()
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", fi.ModTime(), f)
	s.recordFileOp(r, p, pt, store.OpDownload, name, fi.Size(), 0, 0, start, nil)
	return nil
}

// recordFileOp writes a file operation of the web admin to the transfer
// audit log, next to the protocols' own.
func (s *Server) recordFileOp(r *http.Request, p *principal, pt *store.Partner, op, name string, bytes, usageBytes, usageFiles int64, start time.Time, opErr error) {
	now := s.now().UTC()
	t := &store.Transfer{PartnerID: store.StrPtr(pt.ID), Username: "web:" + p.Name, Protocol: "web", Operation: op,
		Path: name, RemoteAddr: s.remoteIP(r), Bytes: bytes, UsageBytes: usageBytes, UsageFiles: usageFiles,
		Status: store.StatusOK, StartedAt: start.UTC(), FinishedAt: &now, DurationMS: now.Sub(start).Milliseconds()}
	if opErr != nil {
		t.Status, t.Error = store.StatusFailed, opErr.Error()
	}
	if err := s.Store.RecordTransfer(r.Context(), t); err != nil {
		s.logger().Error("record web file operation", "op", op, "path", name, "err", err)
	}
}

func (s *Server) fileDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	pt, root, err := s.partnerRoot(r)
	if err != nil {
		return err
	}
	defer root.Close()
	name := cleanPath(r.PostForm.Get("path"))
	if name == "/" || hidden(name) {
		return badRequest("That cannot be deleted.")
	}
	start := s.now()
	fi, err := root.Stat(name)
	if err != nil {
		return notFoundFile(err)
	}
	if fi.IsDir() {
		return badRequest("%s is a folder; only files are deleted here.", name)
	}
	err = root.Remove(name)
	if err != nil {
		s.recordFileOp(r, p, pt, store.OpDelete, name, 0, 0, 0, start, err)
		return notFoundFile(err)
	}
	// Give the space back to the quota, as an FTP DELE does.
	if err := s.Store.AddUsage(r.Context(), pt.ID, -fi.Size(), -1); err != nil {
		s.logger().Error("give back quota of deleted file", "partner", pt.Slug, "err", err)
	}
	s.recordFileOp(r, p, pt, store.OpDelete, name, fi.Size(), -fi.Size(), -1, start, nil)
	http.Redirect(w, r, "/partners/"+urlPath(pt.Slug)+"/files?path="+urlQueryEscape(path.Dir(name))+"&done=file-deleted", http.StatusSeeOther)
	return nil
}

// ---- mailbox ----

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

// ---- transfers ----

const transfersPerPage = 50

type transfersData struct {
	Filter   url.Values
	Items    []store.Transfer
	Next     string
	Ops      []string
	Partners map[string]string // ID -> slug
	Accounts map[string]string // ID -> partner slug, for links
}

func (s *Server) transfers(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	q := r.URL.Query()
	f := store.TransferFilter{Operation: q.Get("op"), Status: q.Get("status"), PathPrefix: q.Get("path"),
		Before: q.Get("before"), Limit: transfersPerPage + 1}
	d := transfersData{Filter: q, Ops: []string{store.OpLogin, store.OpUpload, store.OpDownload, store.OpDelete,
		store.OpRename, store.OpMkdir, store.OpRmdir}, Partners: map[string]string{}, Accounts: map[string]string{}}
	if v := q.Get("partner"); v != "" {
		pt, err := s.Partners.Partner(ctx, v)
		if err != nil {
			return err
		}
		f.PartnerID = pt.ID
		if v := q.Get("account"); v != "" {
			a, err := s.Partners.Account(ctx, pt.ID, v)
			if err != nil {
				return err
			}
			f.AccountID = a.ID
		}
	} else if v := q.Get("account"); v != "" {
		a, err := s.Store.AccountByUsername(ctx, v)
		if err != nil {
			return &httpError{status: http.StatusNotFound, msg: "There is no account " + v + "."}
		}
		f.AccountID = a.ID
	}
	for _, k := range []string{"since", "until"} {
		if v := q.Get(k); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return badRequest("%s must be a date like 2026-01-31.", k)
			}
			if k == "since" {
				f.Since = t
			} else {
				f.Until = t.Add(24 * time.Hour)
			}
		}
	}
	items, err := s.Store.ListTransfers(ctx, f)
	if err != nil {
		return err
	}
	if len(items) > transfersPerPage {
		items = items[:transfersPerPage]
		d.Next = items[len(items)-1].ID
	}
	d.Items = items
	for _, t := range items {
		if t.PartnerID != nil && d.Partners[*t.PartnerID] == "" {
			if pt, err := s.Store.PartnerByID(ctx, *t.PartnerID); err == nil {
				d.Partners[pt.ID] = pt.Slug
			}
		}
	}
	s.renderPage(w, r, http.StatusOK, "transfers", &page{Title: "Transfers", User: p, Data: d})
	return nil
}

// ---- sessions ----

type sessionsData struct {
	Items []sessions.Info
}

func (s *Server) sessionList(w http.ResponseWriter, r *http.Request, p *principal) error {
	s.renderPage(w, r, http.StatusOK, "sessions", &page{Title: "Live sessions", User: p, Data: sessionsData{Items: s.liveSessions()}})
	return nil
}

func (s *Server) sessionKick(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	if s.Sessions == nil || !s.Sessions.Kick(id) {
		return &httpError{status: http.StatusNotFound, msg: "There is no live session " + id + " (it may have ended)."}
	}
	http.Redirect(w, r, "/sessions?done=kicked", http.StatusSeeOther)
	return nil
}

// ---- notifications ----

type notificationsData struct {
	Status   string
	Partner  string
	Items    []store.Notification
	Next     string
	Statuses []string
	Slugs    map[string]string
}

func (s *Server) notifications(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Outbox == nil {
		return &httpError{status: http.StatusNotFound, msg: "Notifications are not configured on this server."}
	}
	ctx := r.Context()
	q := r.URL.Query()
	d := notificationsData{Status: q.Get("status"), Partner: q.Get("partner"), Slugs: map[string]string{},
		Statuses: []string{store.NotifyPending, store.NotifySending, store.NotifySent, store.NotifyDead}}
	f := notify.Filter{Status: d.Status, Before: q.Get("before"), Limit: 50}
	if d.Partner != "" {
		pt, err := s.Partners.Partner(ctx, d.Partner)
		if err != nil {
			return err
		}
		f.PartnerID = pt.ID
	}
	items, next, err := s.Outbox.List(ctx, f)
	if err != nil {
		return err
	}
	d.Items, d.Next = items, next
	for _, n := range items {
		if d.Slugs[n.PartnerID] == "" {
			if pt, err := s.Store.PartnerByID(ctx, n.PartnerID); err == nil {
				d.Slugs[pt.ID] = pt.Slug
			}
		}
	}
	s.renderPage(w, r, http.StatusOK, "notifications", &page{Title: "Notifications", User: p, Data: d})
	return nil
}

func (s *Server) notificationRetry(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Outbox == nil {
		return &httpError{status: http.StatusNotFound, msg: "Notifications are not configured on this server."}
	}
	if _, err := s.Outbox.Retry(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/notifications?done=retried", http.StatusSeeOther)
	return nil
}
