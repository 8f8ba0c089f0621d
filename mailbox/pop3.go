package mailbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/connlimit"
	"github.com/ferryhq/ferry/mailbox/pop3"
	"github.com/ferryhq/ferry/store"
)

// DefaultLockTTL is how long a POP3 maildrop lock lasts without renewal;
// a session renews it every third of that, so only a crashed node's lock
// ever expires.
const DefaultLockTTL = 2 * time.Minute

// POP3 serves partner INBOXes to mailbox/pop3: it is its Backend.
type POP3 struct {
	Store   *Store
	Logins  *Logins
	LockTTL time.Duration // 0: DefaultLockTTL

	sessions Sessions // logged-in sessions, for RevalidateSessions
}

// RevalidateSessions closes the logged-in sessions whose account or
// partner changed since their login (see Sessions.Revalidate) and returns
// how many it closed. A closed session commits nothing: its DELEs are
// forgotten, as for a dropped connection.
func (b *POP3) RevalidateSessions(ctx context.Context) (int, error) {
	if b.Store == nil {
		return 0, nil
	}
	return b.sessions.Revalidate(ctx, b.Store.DB, "pop3", b.Store.log())
}

var _ pop3.Backend = (*POP3)(nil)

// Login is called on PASS.
func (b *POP3) Login(ctx context.Context, conn pop3.ConnInfo, username, password string) (pop3.Session, error) {
	login, err := b.Logins.Login(ctx, "pop3", username, password, conn.RemoteAddr, conn.TLS)
	if errors.Is(err, ErrAuthFailed) {
		return nil, pop3.ErrAuthFailed
	}
	if err != nil {
		return nil, err
	}
	ttl := b.LockTTL
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	if c := connlimit.Of(conn.Conn); c != nil {
		c.LoggedIn()
	}
	sess := &pop3Session{store: b.Store, partnerID: login.PartnerID, holder: store.NewID(), ttl: ttl}
	if conn.Disconnect != nil {
		sess.untrack = b.sessions.Add(login, conn.Disconnect)
	}
	return sess, nil
}

// pop3Session is one POP3 session on a partner's INBOX.
type pop3Session struct {
	store     *Store
	partnerID string
	holder    string
	ttl       time.Duration
	untrack   func() // nil: not tracked

	folder   *store.MailFolder
	snapshot []store.MailMessage
	stop     context.CancelFunc
	renewed  sync.WaitGroup
}

// Lock takes the maildrop lock in the database and snapshots INBOX.
func (s *pop3Session) Lock(ctx context.Context) ([]pop3.MessageInfo, error) {
	f, err := s.store.DB.EnsureMailFolder(ctx, s.partnerID, store.MailInbox)
	if err != nil {
		return nil, fmt.Errorf("mailbox: pop3 inbox: %w", err)
	}
	if err := s.store.DB.AcquireMailLock(ctx, f.ID, s.holder, s.ttl); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, pop3.ErrInUse
		}
		return nil, fmt.Errorf("mailbox: pop3 lock: %w", err)
	}
	s.folder = f
	rctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.renewed.Add(1)
	go s.renew(rctx)

	msgs, err := s.store.DB.MailMessages(ctx, f.ID)
	if err != nil {
		return nil, fmt.Errorf("mailbox: pop3 snapshot: %w", err)
	}
	s.snapshot = msgs
	out := make([]pop3.MessageInfo, len(msgs))
	for i, m := range msgs {
		out[i] = pop3.MessageInfo{Size: m.Size, UID: strconv.FormatInt(f.UIDValidity, 10) + "." + strconv.FormatInt(m.UID, 10)}
	}
	return out, nil
}

func (s *pop3Session) renew(ctx context.Context) {
	defer s.renewed.Done()
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.store.DB.RenewMailLock(ctx, s.folder.ID, s.holder, s.ttl); err != nil && ctx.Err() == nil {
				s.store.log().Warn("mailbox: renew pop3 lock", "folder", s.folder.ID, "err", err)
			}
		}
	}
}

// Open returns a message of the snapshot; one deleted meanwhile (by IMAP)
// reads as an error.
func (s *pop3Session) Open(ctx context.Context, index int) (io.ReadCloser, error) {
	return s.store.Open(&s.snapshot[index])
}

// Commit deletes the marked messages in one transaction, if this session
// still holds the lock.
func (s *pop3Session) Commit(ctx context.Context, deleted []int) error {
	if len(deleted) == 0 {
		return nil
	}
	uids := make([]int64, len(deleted))
	for i, idx := range deleted {
		uids[i] = s.snapshot[idx].UID
	}
	var blobs []string
	err := s.store.DB.Tx(ctx, func(tx *store.Store) error {
		if err := tx.RenewMailLock(ctx, s.folder.ID, s.holder, s.ttl); err != nil {
			return fmt.Errorf("maildrop lock lost: %w", err)
		}
		var err error
		_, blobs, err = tx.DeleteMailMessages(ctx, s.folder.ID, uids, false)
		return err
	})
	if err != nil {
		return fmt.Errorf("mailbox: pop3 commit: %w", err)
	}
	s.store.notify(s.folder.ID)
	s.store.collect(blobs)
	return nil
}

// Close releases the lock.
func (s *pop3Session) Close() error {
	if s.untrack != nil {
		s.untrack()
		s.untrack = nil
	}
	if s.stop == nil {
		return nil
	}
	s.stop()
	s.renewed.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.store.DB.ReleaseMailLock(ctx, s.folder.ID, s.holder); err != nil {
		return fmt.Errorf("mailbox: release pop3 lock: %w", err)
	}
	return nil
}

// POP3Server is the POP3 listener: the mailbox/pop3 server with this
// package's backend in Backend, and the ban check at connect.
type POP3Server struct {
	pop3.Server
	Guard Guard // banned addresses get "-ERR" and are closed; nil: no check

	MaxConns        int // open connections; over it a client gets "-ERR [SYS/TEMP]"; 0: no limit
	MaxConnsPerAddr int // open connections per client address; 0: no limit
	// LoginTimeout is how long a connection may stay unauthenticated,
	// however much it sends: then it gets "-ERR autologout timer expired"
	// and is closed; 0: no bound.
	LoginTimeout time.Duration
}

// RevalidateSessions closes the sessions whose account or partner changed
// since their login, if Backend is a *POP3 (see POP3.RevalidateSessions).
func (s *POP3Server) RevalidateSessions(ctx context.Context) (int, error) {
	if b, ok := s.Backend.(*POP3); ok {
		return b.RevalidateSessions(ctx)
	}
	return 0, nil
}

// Serve serves POP3 on ln (see pop3.Server.Serve).
func (s *POP3Server) Serve(ln net.Listener) error {
	ln = GuardListener(ln, s.Guard, "-ERR [SYS/PERM] access denied from your address\r\n", s.ErrorLog)
	ln = connlimit.New(ln, connlimit.Options{Max: s.MaxConns, MaxPerAddr: s.MaxConnsPerAddr,
		LoginTimeout: s.LoginTimeout, Logger: s.ErrorLog,
		Refuse: func(reason string) string { return "-ERR [SYS/TEMP] " + reason + "\r\n" }})
	return s.Server.Serve(ln)
}
