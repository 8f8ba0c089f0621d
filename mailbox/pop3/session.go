package pop3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/connlimit"
	pop3lib "github.com/ferryhq/ferry/internal/pop3"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/store"
)

// backend serves partner INBOXes to the protocol library: it is its
// Backend.
type backend struct{ s *Server }

var _ pop3lib.Backend = backend{}

// Login is called on PASS.
func (b backend) Login(ctx context.Context, conn pop3lib.ConnInfo, username, password string) (pop3lib.Session, error) {
	s := b.s
	login, err := s.Logins.Login(ctx, "pop3", username, password, conn.RemoteAddr, conn.TLS)
	if errors.Is(err, mailbox.ErrAuthFailed) {
		return nil, pop3lib.ErrAuthFailed
	}
	if err != nil {
		return nil, err
	}
	ttl := s.LockTTL
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	if c := connlimit.Of(conn.Conn); c != nil {
		c.LoggedIn()
	}
	sess := &session{srv: s, partnerID: login.PartnerID, holder: store.NewID(), ttl: ttl}
	if conn.Disconnect != nil {
		sess.untrack = s.sessions.Add(login, conn.Disconnect)
	}
	return sess, nil
}

// session is one POP3 session on a partner's INBOX.
type session struct {
	srv       *Server
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
func (s *session) Lock(ctx context.Context) ([]pop3lib.MessageInfo, error) {
	db := s.srv.Store.DB
	f, err := db.EnsureMailFolder(ctx, s.partnerID, store.MailInbox)
	if err != nil {
		return nil, fmt.Errorf("pop3: inbox: %w", err)
	}
	if err := db.AcquireMailLock(ctx, f.ID, s.holder, s.ttl); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, pop3lib.ErrInUse
		}
		return nil, fmt.Errorf("pop3: lock: %w", err)
	}
	s.folder = f
	rctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.renewed.Add(1)
	go s.renew(rctx)

	msgs, err := db.MailMessages(ctx, f.ID)
	if err != nil {
		return nil, fmt.Errorf("pop3: snapshot: %w", err)
	}
	s.snapshot = msgs
	out := make([]pop3lib.MessageInfo, len(msgs))
	for i, m := range msgs {
		out[i] = pop3lib.MessageInfo{Size: m.Size, UID: strconv.FormatInt(f.UIDValidity, 10) + "." + strconv.FormatInt(m.UID, 10)}
	}
	return out, nil
}

func (s *session) renew(ctx context.Context) {
	defer s.renewed.Done()
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.srv.Store.DB.RenewMailLock(ctx, s.folder.ID, s.holder, s.ttl); err != nil && ctx.Err() == nil {
				s.srv.log().Warn("pop3: renew lock", "folder", s.folder.ID, "err", err)
			}
		}
	}
}

// Open returns a message of the snapshot; one deleted meanwhile (by IMAP)
// reads as an error.
func (s *session) Open(ctx context.Context, index int) (io.ReadCloser, error) {
	return s.srv.Store.Open(&s.snapshot[index])
}

// Commit deletes the marked messages in one transaction, if this session
// still holds the lock.
func (s *session) Commit(ctx context.Context, deleted []int) error {
	if len(deleted) == 0 {
		return nil
	}
	uids := make([]int64, len(deleted))
	for i, idx := range deleted {
		uids[i] = s.snapshot[idx].UID
	}
	if err := s.srv.Store.ExpungeHeld(ctx, s.folder.ID, s.holder, s.ttl, uids); err != nil {
		return fmt.Errorf("pop3: commit: %w", err)
	}
	return nil
}

// Close releases the lock.
func (s *session) Close() error {
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
	if err := s.srv.Store.DB.ReleaseMailLock(ctx, s.folder.ID, s.holder); err != nil {
		return fmt.Errorf("pop3: release lock: %w", err)
	}
	return nil
}
