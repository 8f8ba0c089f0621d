// Package smtp is Ferry's inbound SMTP server: it accepts mail for partner
// mailboxes (<partner-slug>@<mail domain>) and nothing else, so it is never
// an open relay. It is built on github.com/emersion/go-smtp.
//
// A message is answered 250 only after mailbox.Store has synced its blob
// and committed its rows; any failure there is a 451 and the sender keeps
// the message and retries.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/ferryhq/ferry/internal/connlimit"
	"github.com/ferryhq/ferry/mailbox"
)

// Defaults for zero Server fields.
const (
	DefaultMaxMessageBytes = 25 << 20
	DefaultMaxRecipients   = 100
	DefaultMaxLineLength   = 2000 // RFC 5321 4.5.3.1.6 says 1000 with CRLF; clients exceed it, so doubled as go-smtp does
	DefaultReadTimeout     = 5 * time.Minute
	DefaultWriteTimeout    = time.Minute
	// RFC 5321 4.5.3.2.6 lets a server wait 10 minutes for the end of DATA.
	DefaultTransactionTimeout = 10 * time.Minute
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("smtp: server closed")

// Server receives mail for partner mailboxes. Set its fields before Serve;
// do not change them afterwards.
type Server struct {
	Store  *mailbox.Store
	Logins *mailbox.Logins // AUTH PLAIN (only over TLS) for accounts with the mail permission
	Guard  mailbox.Guard   // banned addresses get 421 at connect; nil: no check
	// Domains are the local mail domains (case-insensitive); mail for any
	// other domain is refused as relaying.
	Domains []string
	// Submission, if set, lets authenticated senders write to the outside
	// domains it allows (FERRY_MAIL_OUTBOUND_DOMAINS), queued in the
	// outbox: the rule the portal follows too. nil: never a relay.
	Submission *mailbox.Submission
	Hostname   string      // greeting and Received lines; default: the first domain
	TLSConfig  *tls.Config // STARTTLS; nil disables it

	MaxMessageBytes int64 // 552 above it; default DefaultMaxMessageBytes
	MaxRecipients   int   // per message; default DefaultMaxRecipients
	MaxLineLength   int   // longer lines end the session with 500; default DefaultMaxLineLength
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration

	MaxConns        int // open connections; over it a client gets 421 4.7.0; 0: no limit
	MaxConnsPerAddr int // open connections per client address; 0: no limit
	// LoginTimeout bounds, for a sender that has not authenticated, the
	// time from connect (or from its last delivered message) to its next
	// MAIL FROM; 0: no bound. Inbound mail needs no login, so the message
	// transaction that MAIL FROM starts gets TransactionTimeout instead,
	// and only a delivered message earns the next one: a client that
	// trickles bytes, or loops RSET and MAIL, is closed (421 4.4.2) within
	// LoginTimeout + TransactionTimeout of its last delivery. AUTH lifts
	// both bounds (ReadTimeout still applies).
	LoginTimeout time.Duration
	// TransactionTimeout bounds one message transaction, MAIL FROM to the
	// end of DATA, of an unauthenticated sender when LoginTimeout is set;
	// default DefaultTransactionTimeout.
	TransactionTimeout time.Duration
	Logger             *slog.Logger

	mu     sync.Mutex
	srv    *gosmtp.Server
	closed bool
	conns  map[string]*trackedConn // open connections by remote address
}

// trackedConn lets Shutdown close connections that are not receiving a
// message: an idle client must not hold a shutdown for the whole grace
// period, and closing it loses nothing that was acknowledged.
type trackedConn struct {
	net.Conn
	s    *Server
	busy atomic.Bool // inside DATA
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		if c.s.conns[c.RemoteAddr().String()] == c {
			delete(c.s.conns, c.RemoteAddr().String())
		}
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// NetConn returns the connection under c (connlimit.Of looks through it).
func (c *trackedConn) NetConn() net.Conn { return c.Conn }

type trackListener struct {
	net.Listener
	s *Server
}

func (l trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	if l.s.conns == nil {
		l.s.conns = map[string]*trackedConn{}
	}
	l.s.conns[c.RemoteAddr().String()] = tc
	l.s.mu.Unlock()
	return tc, nil
}

// conn returns the tracked connection of a client address.
func (s *Server) conn(remote net.Addr) *trackedConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[remote.String()]
}

// closeIdle closes the connections that are not inside DATA.
func (s *Server) closeIdle() {
	s.mu.Lock()
	var idle []*trackedConn
	for _, c := range s.conns {
		if !c.busy.Load() {
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	for _, c := range idle {
		_ = c.Close()
	}
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) hostname() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	if len(s.Domains) > 0 {
		return s.Domains[0]
	}
	return "localhost"
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func (s *Server) server() (*gosmtp.Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrServerClosed
	}
	if s.srv == nil {
		srv := gosmtp.NewServer(&backend{s: s})
		srv.Domain = s.hostname()
		srv.TLSConfig = s.TLSConfig
		srv.MaxMessageBytes = orDefault(s.MaxMessageBytes, DefaultMaxMessageBytes)
		srv.MaxRecipients = orDefault(s.MaxRecipients, DefaultMaxRecipients)
		srv.MaxLineLength = orDefault(s.MaxLineLength, DefaultMaxLineLength)
		srv.ReadTimeout = orDefault(s.ReadTimeout, DefaultReadTimeout)
		srv.WriteTimeout = orDefault(s.WriteTimeout, DefaultWriteTimeout)
		srv.EnableSMTPUTF8 = true
		srv.AllowInsecureAuth = false
		srv.ErrorLog = log.New(slogWriter{s.log()}, "", 0)
		s.srv = srv
	}
	return s.srv, nil
}

// Serve accepts connections on ln until Shutdown; it then returns
// ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	if s.Store == nil {
		return errors.New("smtp: Server.Store is nil")
	}
	srv, err := s.server()
	if err != nil {
		ln.Close()
		return err
	}
	ln = mailbox.GuardListener(ln, s.Guard, "421 4.7.0 "+s.hostname()+" access denied from your address\r\n", s.log())
	ln = connlimit.New(ln, connlimit.Options{Max: s.MaxConns, MaxPerAddr: s.MaxConnsPerAddr,
		LoginTimeout: s.LoginTimeout, Logger: s.log(),
		Refuse: func(reason string) string { return "421 4.7.0 " + s.hostname() + " " + reason + "\r\n" }})
	ln = trackListener{Listener: ln, s: s}
	err = srv.Serve(ln)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed || err == nil {
		return ErrServerClosed
	}
	return fmt.Errorf("smtp: %w", err)
}

// Shutdown stops accepting, lets sessions finish until ctx is done, then
// closes the rest. A message whose 250 was not sent is not acknowledged,
// so the sender retries it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case err := <-done:
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				_ = srv.Close()
				return err
			}
			if errors.Is(err, gosmtp.ErrServerClosed) {
				return nil
			}
			return err
		case <-tick.C:
		}
	}
}

// isLocal reports whether domain is one of ours.
func (s *Server) isLocal(domain string) bool {
	domain = strings.TrimSuffix(domain, ".")
	for _, d := range s.Domains {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}

// slogWriter sends go-smtp's log lines to slog.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Info("smtp: " + strings.TrimSpace(string(p)))
	return len(p), nil
}
