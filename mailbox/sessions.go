package mailbox

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// Sessions tracks the logged-in sessions of one mail server so that
// Revalidate can close those whose account or partner changed since the
// login, as ftpd does for FTP. The zero value is ready to use; it is safe
// for concurrent use.
type Sessions struct {
	mu   sync.Mutex
	live map[*liveSession]struct{}
}

type liveSession struct {
	login *partners.Login
	kick  func()
}

// Add tracks a session logged in as login; kick must close its connection
// (the protocol layer then ends the session as on a dropped connection).
// The returned function stops tracking it; call it when the session ends.
func (s *Sessions) Add(login *partners.Login, kick func()) (remove func()) {
	ls := &liveSession{login: login, kick: kick}
	s.mu.Lock()
	if s.live == nil {
		s.live = map[*liveSession]struct{}{}
	}
	s.live[ls] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.live, ls)
		s.mu.Unlock()
	}
}

// Len returns how many sessions are tracked.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// Revalidate closes the tracked sessions whose account was deleted or
// disabled, lost the mail permission, or changed in anything its login
// depended on (partners.Fingerprint: password, permissions, home, TLS
// policy, enabled flags, partner address ranges). It returns how many it
// closed. protocol and log only label the log lines.
func (s *Sessions) Revalidate(ctx context.Context, db *store.Store, protocol string, log *slog.Logger) (int, error) {
	if s == nil || db == nil {
		return 0, nil
	}
	s.mu.Lock()
	var (
		live   []*liveSession
		logins []*partners.Login
	)
	for ls := range s.live {
		live, logins = append(live, ls), append(logins, ls.login)
	}
	s.mu.Unlock()
	stale, err := partners.Stale(ctx, db, logins, partners.PermMail)
	if err != nil {
		return 0, fmt.Errorf("mailbox: revalidate %s sessions: %w", protocol, err)
	}
	if log == nil {
		log = slog.Default()
	}
	for _, i := range stale {
		log.Info("closing a mail session whose account or partner changed", "protocol", protocol,
			"user", logins[i].Username)
		live[i].kick()
	}
	return len(stale), nil
}
