package portal

// Reading a message: its text as text, its HTML sanitised with bluemonday
// (no script, no event attributes, no javascript: links, no styles, no
// <base>, no forms, remote images blocked until the reader allows them),
// its attachments listed and downloaded, never shown inline.

import (
	"bufio"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // text in any common charset
	"github.com/emersion/go-message/mail"
	"github.com/microcosm-cc/bluemonday"

	"github.com/ferryhq/ferry/store"
)

// Bounds on what a message page reads: a message built to nest thousands
// of levels or parts must not exhaust the node.
const (
	maxMIMEDepth  = 8
	maxMIMEParts  = 64
	maxShownBody  = 1 << 20
	maxMessageLen = 64 << 20
)

type attachment struct {
	N          int
	Name, Type string
	Size       int64
	URL        string
}

type messageData struct {
	ID, Subject, Folder, FolderURL string
	Headers                        [][2]string
	HTML                           template.HTML // sanitised
	Text                           string
	Note                           string
	Blocked                        bool   // remote images were left out
	ImagesURL                      string // the page with them
	Attachments                    []attachment
	Seen, Flagged                  bool
	Folders                        []folderView
	ReplyURL                       string // "" when the portal sends no mail
}

// sanitizer returns the policy for a message's HTML; blocked is set when
// it drops a remote image.
func sanitizer(allowImages bool, blocked *bool) *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowURLSchemes("http", "https", "mailto")
	p.RewriteSrc(func(u *url.URL) {
		if u.Scheme == "" && u.Host == "" || allowImages {
			return
		}
		*blocked = true
		*u = url.URL{}
	})
	return p
}

// walk calls fn for every leaf part of e with its index in walk order, up
// to the bounds.
func walk(e *message.Entity, depth int, n *int, fn func(i int, e *message.Entity) bool) bool {
	if mr := e.MultipartReader(); mr != nil {
		if depth >= maxMIMEDepth {
			return true
		}
		for i := 0; i < maxMIMEParts; i++ {
			part, err := mr.NextPart()
			if part == nil || err != nil && !message.IsUnknownCharset(err) {
				break
			}
			if !walk(part, depth+1, n, fn) {
				return false
			}
		}
		return true
	}
	i := *n
	*n++
	return fn(i, e)
}

func isAttachment(e *message.Entity) (name string, yes bool) {
	disp, dp, _ := e.Header.ContentDisposition()
	_, tp, _ := e.Header.ContentType()
	name = dp["filename"]
	if name == "" {
		name = tp["name"]
	}
	mt, _, _ := e.Header.ContentType()
	if disp == "attachment" || name != "" {
		return name, true
	}
	return "", mt != "" && mt != "text/plain" && mt != "text/html"
}

func (s *Server) mailMessage(w http.ResponseWriter, r *http.Request, u *user) error {
	m, err := s.message(r, u)
	if err != nil {
		return err
	}
	ctx := r.Context()
	f, err := s.Mail.DB.MailFolderByID(ctx, m.FolderID)
	if err != nil {
		return err
	}
	// Opening a message reads it, as in a mail client (unless the reader
	// just marked it unread).
	if !m.HasFlag(`\Seen`) && r.URL.Query().Get("keep") == "" && u.viewAs == "" {
		if _, err := s.Mail.SetFlags(ctx, m.FolderID, []int64{m.UID}, store.FlagsAdd, []string{`\Seen`}); err != nil {
			return err
		}
		m.Flags = strings.TrimSpace(m.Flags + ` \Seen`)
	}
	rc, err := s.Mail.Open(m)
	if err != nil {
		return err
	}
	defer rc.Close()
	allow := r.URL.Query().Get("images") == "1"
	d := messageData{ID: m.ID, Subject: m.Subject, Folder: f.Name, FolderURL: mailURLAt(u.base(), f.Name),
		Seen: m.HasFlag(`\Seen`), Flagged: m.HasFlag(`\Flagged`), ImagesURL: u.base() + "/mail/message/" + m.ID + "?images=1&keep=1"}
	if d.Folders, err = s.folders(r, u, f.Name); err != nil {
		return err
	}
	if s.Submission != nil && u.viewAs == "" {
		d.ReplyURL = "/portal/mail/compose?reply=" + m.ID
	}
	e, err := message.Read(bufio.NewReader(io.LimitReader(rc, maxMessageLen)))
	if e == nil {
		d.Note = "This message could not be read."
		s.logger().Warn("portal: unreadable message", "id", m.ID, "err", err)
	} else {
		h := mail.Header{Header: e.Header}
		for _, k := range []string{"From", "To", "Cc", "Date", "Subject"} {
			v, err := h.Text(k)
			if err != nil {
				v = h.Get(k)
			}
			if v != "" {
				d.Headers = append(d.Headers, [2]string{k, v})
			}
		}
		var html, text string
		n := 0
		walk(e, 0, &n, func(i int, p *message.Entity) bool {
			name, att := isAttachment(p)
			mt, _, _ := p.Header.ContentType()
			switch {
			case att:
				size, _ := io.Copy(io.Discard, io.LimitReader(p.Body, maxMessageLen))
				if name == "" {
					name = "part-" + strconv.Itoa(i+1)
				}
				d.Attachments = append(d.Attachments, attachment{N: i, Name: path.Base(name), Type: mt, Size: size,
					URL: "/portal/mail/message/" + m.ID + "/part/" + strconv.Itoa(i)})
			case mt == "text/html" && html == "":
				b, _ := io.ReadAll(io.LimitReader(p.Body, maxShownBody))
				html = string(b)
			case (mt == "text/plain" || mt == "") && text == "":
				b, _ := io.ReadAll(io.LimitReader(p.Body, maxShownBody))
				text = string(b)
			}
			return true
		})
		if html != "" {
			d.HTML = template.HTML(sanitizer(allow, &d.Blocked).Sanitize(html)) // #nosec: sanitised
		} else {
			d.Text = text
		}
	}
	if allow {
		// The reader asked for the remote images of this message.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: https: http:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	}
	s.render(w, r, u, http.StatusOK, "message", m.Subject, d)
	return nil
}

// mailPart downloads one attachment, always as a download (never shown
// inline, whatever type it claims).
func (s *Server) mailPart(w http.ResponseWriter, r *http.Request, u *user) error {
	m, err := s.message(r, u)
	if err != nil {
		return err
	}
	want, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		return errNotFound
	}
	rc, err := s.Mail.Open(m)
	if err != nil {
		return err
	}
	defer rc.Close()
	e, _ := message.Read(bufio.NewReader(io.LimitReader(rc, maxMessageLen)))
	if e == nil {
		return errNotFound
	}
	found := false
	n := 0
	walk(e, 0, &n, func(i int, p *message.Entity) bool {
		if i != want {
			return true
		}
		found = true
		name, _ := isAttachment(p)
		if name == "" {
			name = "part-" + strconv.Itoa(i+1)
		}
		h := w.Header()
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Cache-Control", "no-store")
		_, _ = io.Copy(w, io.LimitReader(p.Body, maxMessageLen))
		return false
	})
	if !found {
		return errNotFound
	}
	return nil
}
