// Package imap is Ferry's IMAP4rev1 server for partner mailboxes, built on
// github.com/emersion/go-imap/v2's imapserver and kept behind Ferry's own
// session type, so the pre-1.0 library stays an implementation detail.
//
// Every session reads and writes mailbox.Store; nothing in a node's memory
// is the only copy of anything. Within a node, the sessions that selected
// a folder share one imapserver.MailboxTracker (sequence numbers stay
// right) and a copy of its message rows and headers (folderState);
// changes made on other nodes (or by SMTP, POP3 and the notifier) are
// found by comparing the folder's MODSEQ in the database after every
// command, before every FETCH answers from the copy, and, while a client
// IDLEs, every IdlePoll.
package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/ferryhq/ferry/internal/connlimit"
	"github.com/ferryhq/ferry/mailbox"
)

// DefaultIdlePoll is how often an IDLE session looks for changes made by
// other nodes; changes made on this node wake it at once.
const DefaultIdlePoll = 5 * time.Second

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("imap: server closed")

// Server serves partner mailboxes over IMAP. Set its fields before Serve.
type Server struct {
	Store     *mailbox.Store
	Logins    *mailbox.Logins
	Guard     mailbox.Guard // banned addresses get BYE at connect; nil: no check
	TLSConfig *tls.Config   // STARTTLS (and implicit TLS); logins need TLS
	// Implicit makes Serve wrap the listener in TLS (IMAPS, port 993).
	Implicit bool
	// IdlePoll is how often IDLE reads the database (default DefaultIdlePoll).
	IdlePoll time.Duration
	// MaxMessageBytes bounds APPEND (default 25 MiB).
	MaxMessageBytes int64
	// HeaderCache bounds the bytes of message headers kept in memory for
	// the folders sessions have selected (default DefaultHeaderCache;
	// negative: none). Headers past it are read for each FETCH.
	HeaderCache int64

	MaxConns        int // open connections; over it a client gets "* BYE"; 0: no limit
	MaxConnsPerAddr int // open connections per client address; 0: no limit
	// LoginTimeout is how long a connection may stay unauthenticated: then
	// it gets "* BYE" and is closed, however much it sends; 0: no bound.
	LoginTimeout time.Duration
	Logger       *slog.Logger

	sessions mailbox.Sessions // logged-in sessions, for RevalidateSessions

	mu     sync.Mutex
	srv    *imapserver.Server
	closed bool
	// listeners are the ones Serve is accepting on, and serving counts
	// those Serve calls: Shutdown closes the listeners and waits for
	// Serve to return before it closes the library's server, whose own
	// Serve adds to a WaitGroup that its Close waits on (a race when the
	// two run at once).
	listeners map[net.Listener]struct{}
	serving   sync.WaitGroup
	folders   map[string]*folderState // selected folders, by ID
	// headerCache counts the header bytes the folders hold (HeaderCache).
	headerCache atomic.Int64
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) idlePoll() time.Duration {
	if s.IdlePoll > 0 {
		return s.IdlePoll
	}
	return DefaultIdlePoll
}

func (s *Server) appendLimit() int64 {
	if s.MaxMessageBytes > 0 {
		return s.MaxMessageBytes
	}
	return 25 << 20
}

func (s *Server) server() (*imapserver.Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrServerClosed
	}
	if s.srv == nil {
		s.srv = imapserver.New(&imapserver.Options{
			NewSession: s.newSession,
			Caps: imap.CapSet{
				imap.CapIMAP4rev1: {}, imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapMove: {},
				imap.CapUnselect: {}, imap.CapIdle: {},
			},
			Logger:       logAdapter{s.log()},
			TLSConfig:    s.TLSConfig,
			InsecureAuth: false,
		})
	}
	return s.srv, nil
}

// Serve accepts connections on ln until Shutdown; it then returns
// ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	if s.Store == nil || s.Logins == nil {
		return errors.New("imap: Server.Store and Server.Logins are required")
	}
	srv, err := s.server()
	if err != nil {
		ln.Close()
		return err
	}
	ln = mailbox.GuardListener(ln, s.Guard, "* BYE access denied from your address\r\n", s.log())
	opts := connlimit.Options{Max: s.MaxConns, MaxPerAddr: s.MaxConnsPerAddr, Logger: s.log(),
		Refuse: func(reason string) string { return "* BYE " + reason + "\r\n" }}
	if s.LoginTimeout > 0 {
		// The session's timer sends BYE at LoginTimeout (go-imap closes a
		// connection whose read timed out without a word); the read
		// deadline is the backstop for a client that never completes a
		// TLS handshake.
		opts.LoginTimeout = s.LoginTimeout + loginBackstop
	}
	ln = connlimit.New(ln, opts)
	if s.Implicit {
		if s.TLSConfig == nil {
			return errors.New("imap: implicit TLS needs TLSConfig")
		}
		ln = tls.NewListener(ln, s.TLSConfig)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
	}
	s.listeners[ln] = struct{}{}
	s.serving.Add(1) // under mu, before Shutdown sets closed: never beside its Wait
	s.mu.Unlock()
	err = srv.Serve(ln)
	s.mu.Lock()
	delete(s.listeners, ln)
	closed := s.closed
	s.mu.Unlock()
	s.serving.Done()
	if closed || err == nil {
		return ErrServerClosed
	}
	return fmt.Errorf("imap: %w", err)
}

// Shutdown stops the server and closes its connections. Every IMAP
// command is committed before its reply, so nothing acknowledged is lost.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() {
		s.serving.Wait() // every Serve has left the library's accept loop
		done <- srv.Close()
	}()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("imap: shutdown: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RevalidateSessions closes the logged-in sessions whose account or
// partner changed since their login (deleted, disabled, password,
// permissions, mail permission, TLS policy, address ranges: see
// mailbox.Sessions.Revalidate). It returns how many it closed. Every IMAP
// command commits before its reply, so a closed session loses nothing
// acknowledged.
func (s *Server) RevalidateSessions(ctx context.Context) (int, error) {
	if s.Store == nil {
		return 0, nil
	}
	return s.sessions.Revalidate(ctx, s.Store.DB, "imap", s.log())
}

// loginBackstop is how long after LoginTimeout the read deadline closes a
// connection the BYE could not reach.
const loginBackstop = 5 * time.Second

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	ctx, cancel := context.WithCancel(context.Background())
	sess := &session{srv: s, conn: c, ctx: ctx, cancel: cancel}
	if d := s.LoginTimeout; d > 0 {
		sess.loginTimer = time.AfterFunc(d, func() {
			if sess.loggedIn.Load() {
				return
			}
			s.log().Info("imap: login timeout", "remote", c.NetConn().RemoteAddr().String())
			_ = c.Bye("Login timeout")
		})
	}
	return guarded{sess}, nil, nil
}

// acquire returns the shared state of a folder, loading it on first use;
// release must follow.
func (s *Server) acquire(ctx context.Context, folderID string) (*folderState, error) {
	s.mu.Lock()
	if s.folders == nil {
		s.folders = map[string]*folderState{}
	}
	st := s.folders[folderID]
	if st == nil {
		st = &folderState{srv: s, id: folderID, tracker: imapserver.NewMailboxTracker(0), msgs: map[imap.UID]*message{}}
		s.folders[folderID] = st
	}
	st.refs++
	s.mu.Unlock()
	if err := st.sync(ctx); err != nil {
		s.release(st)
		return nil, err
	}
	return st, nil
}

func (s *Server) release(st *folderState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.refs--
	if st.refs == 0 {
		delete(s.folders, st.id)
		st.dropCache()
	}
}

// logAdapter sends imapserver's log lines to slog.
type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Printf(format string, args ...any) {
	a.l.Info("imap: " + fmt.Sprintf(format, args...))
}
