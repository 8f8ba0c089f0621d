package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/ferryhq/ferry/internal/connlimit"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// session is one IMAP connection: Ferry's side of imapserver.Session.
type session struct {
	srv    *Server
	conn   *imapserver.Conn
	ctx    context.Context // canceled when the connection ends
	cancel context.CancelFunc

	login   *partners.Login
	untrack func()     // stops RevalidateSessions tracking the login
	sel     *selection // nil unless a folder is selected

	// fetching is the FETCH response being written (by FETCH or STORE),
	// if any: a panic then must close it before anything else can be sent
	// (see guarded).
	fetching *imapserver.FetchResponseWriter
	// copyBuf carries message bodies from their blobs to the connection.
	copyBuf []byte

	loginTimer *time.Timer // nil without Server.LoginTimeout
	loggedIn   atomic.Bool // read by loginTimer
}

// Errors mapped to IMAP replies.
func imapError(err error) error {
	var code imap.ResponseCode
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mailbox.ErrNoSuchFolder):
		code = imap.ResponseCodeNonExistent
	case errors.Is(err, mailbox.ErrFolderExists):
		code = imap.ResponseCodeAlreadyExists
	case errors.Is(err, mailbox.ErrHasChildren):
		code = imap.ResponseCodeHasChildren
	case errors.Is(err, mailbox.ErrBadFolderName):
		code = imap.ResponseCodeCannot
	case errors.Is(err, mailbox.ErrTooBig):
		code = imap.ResponseCodeTooBig
	case errors.Is(err, mailbox.ErrOverQuota):
		// RFC 9208 5.3.
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "Mailbox is over its quota"}
	default:
		var ie *imap.Error
		if errors.As(err, &ie) {
			return ie
		}
		return err // logged by imapserver, answered NO [SERVERBUG]
	}
	text := err.Error()
	if i := strings.Index(text, ": "); i >= 0 && strings.HasPrefix(text, "mailbox:") {
		text = text[i+2:]
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

var errReadOnly = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Folder is read-only (EXAMINE)"}

func (s *session) isTLS() bool {
	_, ok := s.conn.NetConn().(*tls.Conn)
	return ok
}

// Login is called by LOGIN and AUTHENTICATE PLAIN (only over TLS).
func (s *session) Login(username, password string) error {
	login, err := s.srv.Logins.Login(s.ctx, "imap", username, password, s.conn.NetConn().RemoteAddr(), s.isTLS())
	if errors.Is(err, mailbox.ErrAuthFailed) {
		return imapserver.ErrAuthFailed
	}
	if err != nil {
		return err
	}
	s.login = login
	s.loggedIn.Store(true)
	if s.loginTimer != nil {
		s.loginTimer.Stop()
	}
	nc := s.conn.NetConn()
	if c := connlimit.Of(nc); c != nil {
		c.LoggedIn()
	}
	s.untrack = s.srv.sessions.Add(login, func() {
		// Close the transport under TLS: no close_notify that could wait
		// on a write in flight.
		if tc, ok := nc.(*tls.Conn); ok {
			_ = tc.NetConn().Close()
			return
		}
		_ = nc.Close()
	})
	return nil
}

// Close is called when the connection ends.
func (s *session) Close() error {
	if s.loginTimer != nil {
		s.loginTimer.Stop()
	}
	if s.untrack != nil {
		s.untrack()
	}
	s.unselect()
	s.cancel()
	return nil
}

func (s *session) partner() string { return s.login.PartnerID }

// AppendLimit is announced as APPENDLIMIT and enforced by imapserver.
func (s *session) AppendLimit() uint32 { return uint32(min(s.srv.appendLimit(), 1<<32-1)) }

// Namespace has one personal namespace.
func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Delim: rune(mailbox.Delim[0])}}}, nil
}

// Create is called by CREATE; missing parents are created too.
func (s *session) Create(name string, _ *imap.CreateOptions) error {
	return imapError(s.srv.Store.CreateFolder(s.ctx, s.partner(), name))
}

// Delete is called by DELETE.
func (s *session) Delete(name string) error {
	return imapError(s.srv.Store.DeleteFolder(s.ctx, s.partner(), name))
}

// Rename is called by RENAME; sub-folders follow.
func (s *session) Rename(from, to string, _ *imap.RenameOptions) error {
	return imapError(s.srv.Store.RenameFolder(s.ctx, s.partner(), from, to))
}

// Subscribe is called by SUBSCRIBE.
func (s *session) Subscribe(name string) error { return s.subscribe(name, true) }

// Unsubscribe is called by UNSUBSCRIBE.
func (s *session) Unsubscribe(name string) error { return s.subscribe(name, false) }

func (s *session) subscribe(name string, on bool) error {
	f, err := s.srv.Store.Folder(s.ctx, s.partner(), name)
	if err != nil {
		return imapError(err)
	}
	return imapError(s.srv.Store.DB.SetMailFolderSubscribed(s.ctx, f.ID, on))
}

// List is called by LIST and LSUB.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	delim := rune(mailbox.Delim[0])
	if len(patterns) == 0 {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	folders, err := s.srv.Store.Folders(s.ctx, s.partner())
	if err != nil {
		return err
	}
	for i, f := range folders {
		match := false
		for _, p := range patterns {
			if imapserver.MatchList(f.Name, delim, ref, p) {
				match = true
				break
			}
		}
		if !match || (options.SelectSubscribed && !f.Subscribed) {
			continue
		}
		data := imap.ListData{Mailbox: f.Name, Delim: delim}
		hasChildren := i+1 < len(folders) && strings.HasPrefix(folders[i+1].Name, f.Name+mailbox.Delim)
		if hasChildren {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if f.Subscribed {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if options.ReturnStatus != nil {
			if data.Status, err = s.status(&f, options.ReturnStatus); err != nil {
				return err
			}
		}
		if err := w.WriteList(&data); err != nil {
			return err
		}
	}
	return nil
}

// Status is called by STATUS.
func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	f, err := s.srv.Store.Folder(s.ctx, s.partner(), name)
	if err != nil {
		return nil, imapError(err)
	}
	return s.status(f, options)
}

func (s *session) status(f *store.MailFolder, options *imap.StatusOptions) (*imap.StatusData, error) {
	data := &imap.StatusData{Mailbox: f.Name, UIDValidity: uint32(f.UIDValidity), UIDNext: imap.UID(f.UIDNext)}
	if !options.NumMessages && !options.NumUnseen && !options.NumDeleted && !options.Size && !options.NumRecent {
		return data, nil
	}
	msgs, err := s.srv.Store.DB.MailMessages(s.ctx, f.ID)
	if err != nil {
		return nil, err
	}
	var unseen, deleted, recent uint32
	var size int64
	for _, m := range msgs {
		if !m.HasFlag(string(imap.FlagSeen)) {
			unseen++
		}
		if m.HasFlag(string(imap.FlagDeleted)) {
			deleted++
		}
		size += m.Size
	}
	n := uint32(len(msgs))
	if options.NumMessages {
		data.NumMessages = &n
	}
	if options.NumUnseen {
		data.NumUnseen = &unseen
	}
	if options.NumDeleted {
		data.NumDeleted = &deleted
	}
	if options.Size {
		data.Size = &size
	}
	if options.NumRecent {
		data.NumRecent = &recent
	}
	return data, nil
}

// Append is called by APPEND.
func (s *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	f, err := s.srv.Store.Folder(s.ctx, s.partner(), name)
	if errors.Is(err, mailbox.ErrNoSuchFolder) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such folder"}
	}
	if err != nil {
		return nil, imapError(err)
	}
	if r.Size() > s.srv.appendLimit() {
		return nil, imapError(mailbox.ErrTooBig)
	}
	// Refuse early what cannot fit; DeliverTo checks again, exactly.
	if err := s.srv.Store.CheckQuota(s.ctx, s.partner(), r.Size()); err != nil {
		return nil, imapError(err)
	}
	d, err := s.srv.Store.DeliverTo(s.ctx, []mailbox.Recipient{{PartnerID: s.partner(), Folder: f.Name, Resolved: f}}, io.LimitReader(r, r.Size()),
		mailbox.DeliverOptions{Flags: fromFlags(options.Flags), Date: options.Time})
	if err != nil {
		return nil, imapError(err)
	}
	return &imap.AppendData{UID: imap.UID(d.Messages[0].UID), UIDValidity: uint32(f.UIDValidity)}, nil
}
