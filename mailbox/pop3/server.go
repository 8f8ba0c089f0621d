// Package pop3 is Ferry's POP3 server for partner INBOXes, built on Ferry's
// own protocol library, internal/pop3, whose Backend and Session this
// package implements over mailbox.Store.
//
// A session takes the maildrop lock in the database (one POP3 session per
// mailbox across every node; a crashed node's lock expires after LockTTL)
// and works on a snapshot of INBOX; its DELEs are applied at QUIT, all at
// once, and a dropped connection deletes nothing.
package pop3

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/connlimit"
	pop3lib "github.com/ferryhq/ferry/internal/pop3"
	"github.com/ferryhq/ferry/mailbox"
)

// DefaultLockTTL is how long a POP3 maildrop lock lasts without renewal;
// a session renews it every third of that, so only a crashed node's lock
// ever expires.
const DefaultLockTTL = 2 * time.Minute

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = pop3lib.ErrServerClosed

// Server serves partner INBOXes over POP3. Set its fields before Serve;
// do not change them afterwards.
type Server struct {
	Store  *mailbox.Store
	Logins *mailbox.Logins
	Guard  mailbox.Guard // banned addresses get "-ERR" and are closed; nil: no check
	// TLSConfig enables STLS; nil disables it. USER and PASS need TLS
	// unless AllowInsecureAuth.
	TLSConfig         *tls.Config
	AllowInsecureAuth bool
	Domain            string        // the greeting names it
	LockTTL           time.Duration // 0: DefaultLockTTL
	// AuthFailureDelay is how long a failed login waits for its reply;
	// 0: no delay.
	AuthFailureDelay time.Duration

	MaxConns        int // open connections; over it a client gets "-ERR [SYS/TEMP]"; 0: no limit
	MaxConnsPerAddr int // open connections per client address; 0: no limit
	// LoginTimeout is how long a connection may stay unauthenticated,
	// however much it sends: then it gets "-ERR autologout timer expired"
	// and is closed; 0: no bound.
	LoginTimeout time.Duration
	Logger       *slog.Logger

	sessions mailbox.Sessions // logged-in sessions, for RevalidateSessions

	mu     sync.Mutex
	srv    *pop3lib.Server
	closed bool
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) server() (*pop3lib.Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrServerClosed
	}
	if s.srv == nil {
		s.srv = &pop3lib.Server{
			Backend:           backend{s},
			TLSConfig:         s.TLSConfig,
			RequireTLSForAuth: !s.AllowInsecureAuth,
			Domain:            s.Domain,
			AuthFailureDelay:  s.AuthFailureDelay,
			ErrorLog:          s.log(),
		}
	}
	return s.srv, nil
}

// Serve accepts connections on ln until Shutdown or Close; it then returns
// ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	if s.Store == nil || s.Logins == nil {
		ln.Close()
		return errors.New("pop3: Server.Store and Server.Logins are required")
	}
	srv, err := s.server()
	if err != nil {
		ln.Close()
		return err
	}
	ln = mailbox.GuardListener(ln, s.Guard, "-ERR [SYS/PERM] access denied from your address\r\n", s.log())
	ln = connlimit.New(ln, connlimit.Options{Max: s.MaxConns, MaxPerAddr: s.MaxConnsPerAddr,
		LoginTimeout: s.LoginTimeout, Logger: s.log(),
		Refuse: func(reason string) string { return "-ERR [SYS/TEMP] " + reason + "\r\n" }})
	return srv.Serve(ln)
}

// Shutdown stops accepting, closes the connections not logged in, lets
// logged-in sessions run to their end until ctx is done, then closes the
// rest (see internal/pop3's Server.Shutdown). A session that did not
// reach QUIT commits nothing: its DELEs are forgotten.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

// Close closes the listeners and every connection at once; sessions
// commit nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// RevalidateSessions closes the logged-in sessions whose account or
// partner changed since their login (see mailbox.Sessions.Revalidate) and
// returns how many it closed. A closed session commits nothing: its DELEs
// are forgotten, as for a dropped connection.
func (s *Server) RevalidateSessions(ctx context.Context) (int, error) {
	if s.Store == nil {
		return 0, nil
	}
	return s.sessions.Revalidate(ctx, s.Store.DB, "pop3", s.log())
}
