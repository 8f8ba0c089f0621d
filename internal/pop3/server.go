package pop3

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
)

// Defaults used when the corresponding Server field is zero.
const (
	// DefaultReadTimeout is the inactivity autologout timer; RFC 1939
	// requires at least 10 minutes.
	DefaultReadTimeout = 10 * time.Minute
	// DefaultWriteTimeout bounds how long a single write to the client
	// may block.
	DefaultWriteTimeout = time.Minute
	// DefaultMaxLineLength is the longest accepted command line,
	// excluding CRLF. RFC 2449 only requires 255 octets.
	DefaultMaxLineLength = 1024
)

const (
	maxAuthFailures      = 3  // failed logins before the connection is closed
	maxConsecutiveErrors = 10 // -ERR replies in a row before the connection is closed
)

// Server is a POP3 server. Its exported fields must not be changed once
// Serve has been called. A Server must not be copied after first use, nor
// reused after Shutdown or Close.
type Server struct {
	// Backend authenticates users and opens maildrops. Required.
	Backend Backend

	// TLSConfig, when set, enables the STLS command on connections that
	// are not already encrypted. For implicit TLS wrap the listener with
	// tls.NewListener instead (TLSConfig may then be nil).
	TLSConfig *tls.Config

	// RequireTLSForAuth refuses USER and PASS on unencrypted connections
	// with "-ERR [AUTH] TLS required"; USER is then not advertised by CAPA
	// until the connection is encrypted.
	RequireTLSForAuth bool

	// Domain is the server's host name, used in the default greeting.
	Domain string

	// Greeting is the text of the "+OK" greeting line. If empty,
	// "<Domain> POP3 server ready" is used.
	Greeting string

	// ReadTimeout is the autologout timer: the longest time to wait for
	// the next command (and for a TLS handshake). Zero means
	// DefaultReadTimeout; a negative value disables the timeout.
	ReadTimeout time.Duration

	// WriteTimeout is the longest time a single write to the client may
	// block; large messages are streamed in many writes. Zero means
	// DefaultWriteTimeout; a negative value disables the timeout.
	WriteTimeout time.Duration

	// MaxLineLength is the longest accepted command line in octets,
	// excluding the CRLF. Zero means DefaultMaxLineLength.
	MaxLineLength int

	// AuthFailureDelay is how long the server waits before answering a
	// failed login, to slow down password guessing. Zero means no delay.
	AuthFailureDelay time.Duration

	// ErrorLog receives backend failures, panics and other unexpected
	// conditions. If nil, slog.Default() is used.
	ErrorLog *slog.Logger

	inShutdown atomic.Bool
	mu         sync.Mutex
	listeners  map[*net.Listener]struct{}
	conns      map[*conn]struct{}
	wg         sync.WaitGroup // one count per tracked connection
}

// Serve accepts connections on ln and serves each on its own goroutine.
// Connections that are *tls.Conn (from tls.NewListener) are treated as
// encrypted from the start.
//
// Serve always closes ln and returns a non-nil error; after Shutdown or
// Close it returns ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	l := &ln
	defer ln.Close()
	if s.Backend == nil {
		return errors.New("pop3: Server.Backend is nil")
	}
	if !s.trackListener(l, true) {
		return ErrServerClosed
	}
	defer s.trackListener(l, false)

	var tempDelay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shuttingDown() {
				return ErrServerClosed
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				if tempDelay == 0 {
					tempDelay = 5 * time.Millisecond
				} else {
					tempDelay = min(2*tempDelay, time.Second)
				}
				s.logger().Error("pop3: accept error; retrying", "error", err, "delay", tempDelay)
				time.Sleep(tempDelay)
				continue
			}
			return fmt.Errorf("pop3: accept: %w", err)
		}
		tempDelay = 0
		if !s.serveConn(nc) {
			return ErrServerClosed
		}
	}
}

// serveConn starts serving nc on a new goroutine. It reports false, and
// closes nc, if the server is shutting down.
func (s *Server) serveConn(nc net.Conn) bool {
	c := newConn(s, nc)
	s.mu.Lock()
	if s.shuttingDown() {
		s.mu.Unlock()
		_ = nc.Close()
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
	return true
}

// untrackConn is called by a connection's goroutine when it is done.
func (s *Server) untrackConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shuttingDown() {
			return false
		}
		if s.listeners == nil {
			s.listeners = make(map[*net.Listener]struct{})
		}
		s.listeners[ln] = struct{}{}
	} else {
		delete(s.listeners, ln)
	}
	return true
}

func (s *Server) closeListenersLocked() error {
	var errs []error
	for ln := range s.listeners {
		if err := (*ln).Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("pop3: closing listener: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Shutdown gracefully shuts the server down: it closes all listeners,
// closes the connections that are idle in the AUTHORIZATION state (after
// replying "-ERR [SYS/TEMP] server shutting down"), lets connections in
// the TRANSACTION state finish their session, and waits for them to end.
// If ctx is done first, the remaining connections are closed without
// Commit and Shutdown returns ctx.Err() once their handlers have returned.
//
// When Shutdown returns, no Backend or Session method is running or will
// be called again, so a backend that ignores context cancellation can delay
// it. Serve returns ErrServerClosed immediately.
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	err := s.closeListenersLocked()
	for c := range s.conns {
		c.interruptIfIdle()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		s.closeConns()
		<-done
		return ctx.Err()
	}
}

// Close immediately closes all listeners and connections; sessions get
// Close without Commit. It waits for the connection handlers to return,
// so when Close returns no Backend or Session method is running or will
// be called again. Backends should honor context cancellation, or Close
// may be delayed by a blocked backend call.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	err := s.closeListenersLocked()
	s.mu.Unlock()
	s.closeConns()
	s.wg.Wait()
	return err
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.forceClose()
	}
}

func (s *Server) shuttingDown() bool { return s.inShutdown.Load() }

func (s *Server) logger() *slog.Logger {
	if s.ErrorLog != nil {
		return s.ErrorLog
	}
	return slog.Default()
}

func (s *Server) readTimeout() time.Duration {
	switch {
	case s.ReadTimeout == 0:
		return DefaultReadTimeout
	case s.ReadTimeout < 0:
		return 0
	}
	return s.ReadTimeout
}

func (s *Server) writeTimeout() time.Duration {
	switch {
	case s.WriteTimeout == 0:
		return DefaultWriteTimeout
	case s.WriteTimeout < 0:
		return 0
	}
	return s.WriteTimeout
}

func (s *Server) maxLineLength() int {
	if s.MaxLineLength <= 0 {
		return DefaultMaxLineLength
	}
	return s.MaxLineLength
}

func (s *Server) greeting() string {
	if s.Greeting != "" {
		return sanitizeLine(s.Greeting)
	}
	if s.Domain != "" {
		return sanitizeLine(s.Domain) + " POP3 server ready"
	}
	return "POP3 server ready"
}
