// Package connlimit is the one place where Ferry's listeners (FTP, FTPS,
// SMTP, IMAP, POP3) cap their connections, in all and per client address,
// and bound how long a connection may stay unauthenticated.
//
// A connection over a cap gets the protocol's refusal line and is closed
// before the server sees it. Until the server calls LoggedIn, no read
// deadline set on the connection reaches past the login deadline, however
// the server extends it: a client that trickles bytes cannot keep an
// unauthenticated connection open, and the server's own read timeout
// handling sends the protocol's reply (SMTP 421, POP3 -ERR, FTP 421).
package connlimit

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/netaddr"
)

// Reasons passed to Options.Refuse.
const (
	ReasonTotal   = "Too many connections, try again later"
	ReasonPerAddr = "Too many connections from your address"
)

// Options configure a Listener. The zero value limits nothing.
type Options struct {
	Max        int // open connections in all; 0: no limit
	MaxPerAddr int // open connections per client address; 0: no limit
	// LoginTimeout is how long a connection may read before LoggedIn;
	// 0: no bound.
	LoginTimeout time.Duration
	// Refuse returns the complete protocol line (with CRLF) sent to a
	// connection refused for a limit, given one of the Reason constants;
	// nil sends nothing (implicit TLS, where the client expects a
	// handshake).
	Refuse func(reason string) string
	// Track is told of every admitted connection and of its close.
	Track  func(c *Conn, open bool)
	Logger *slog.Logger
}

// Listener admits connections within its Options.
type Listener struct {
	net.Listener
	opts Options

	mu     sync.Mutex
	total  int
	perIP  map[netip.Addr]int
	logged time.Time // last refusal logged, to keep a flood out of the log
}

// New wraps ln. Refused connections are closed inside Accept, which keeps
// accepting.
func New(ln net.Listener, opts Options) *Listener {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{Listener: ln, opts: opts}
}

// Accept returns the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := netaddr.Of(nc.RemoteAddr())
		if reason := l.admit(ip); reason != "" {
			l.refuse(nc, ip, reason)
			continue
		}
		c := &Conn{Conn: nc, l: l, ip: ip}
		if d := l.opts.LoginTimeout; d > 0 {
			c.loginBy = time.Now().Add(d)
			_ = nc.SetReadDeadline(c.loginBy)
		}
		if l.opts.Track != nil {
			l.opts.Track(c, true)
		}
		return c, nil
	}
}

// admit reserves a place for ip or says why there is none.
func (l *Listener) admit(ip netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opts.Max > 0 && l.total >= l.opts.Max {
		return ReasonTotal
	}
	if l.opts.MaxPerAddr > 0 && l.perIP[ip] >= l.opts.MaxPerAddr {
		return ReasonPerAddr
	}
	if l.perIP == nil {
		l.perIP = map[netip.Addr]int{}
	}
	l.total++
	l.perIP[ip]++
	return ""
}

func (l *Listener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

func (l *Listener) refuse(nc net.Conn, ip netip.Addr, reason string) {
	l.mu.Lock()
	now := time.Now()
	quiet := now.Sub(l.logged) < time.Second
	if !quiet {
		l.logged = now
	}
	l.mu.Unlock()
	if !quiet {
		l.opts.Logger.Info("connection refused", "remote", ip.String(), "reason", reason)
	}
	if l.opts.Refuse != nil {
		if line := l.opts.Refuse(reason); line != "" {
			_ = nc.SetWriteDeadline(now.Add(5 * time.Second))
			_, _ = nc.Write([]byte(line))
		}
	}
	_ = nc.Close()
}

// Open returns the number of open connections.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Conn is an admitted connection.
type Conn struct {
	net.Conn
	l  *Listener
	ip netip.Addr

	mu      sync.Mutex
	loginBy time.Time // zero once logged in or without a login bound
	wanted  time.Time // the read deadline the server last asked for
	freed   bool      // the place is given back (Release or Close)
}

// Of returns the *Conn under c (through TLS and other wrappers that have
// NetConn), or nil.
func Of(c net.Conn) *Conn {
	for c != nil {
		switch v := c.(type) {
		case *Conn:
			return v
		case *tls.Conn:
			c = v.NetConn()
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// LoggedIn lifts the login deadline: the server's own read deadlines
// apply from now on.
func (c *Conn) LoggedIn() { c.SetLoginDeadline(time.Time{}) }

// SetLoginDeadline moves the login deadline to t (zero lifts it). SMTP uses
// it to grant one mail transaction at a time to unauthenticated senders.
func (c *Conn) SetLoginDeadline(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loginBy = t
	_ = c.Conn.SetReadDeadline(c.clamp(c.wanted))
}

// clamp bounds a read deadline by the login deadline; mu is held.
func (c *Conn) clamp(t time.Time) time.Time {
	if c.loginBy.IsZero() || (!t.IsZero() && t.Before(c.loginBy)) {
		return t
	}
	return c.loginBy
}

// SetReadDeadline sets the read deadline, bounded by the login deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wanted = t
	return c.Conn.SetReadDeadline(c.clamp(t))
}

// SetDeadline sets the write deadline as asked and the read deadline
// bounded by the login deadline (the server must still be able to write
// its timeout reply).
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// Release gives the connection's place back before it is closed. A
// server calls it just before the reply that ends a session (FTP 221 or
// 421), so a client that reconnects the moment it reads that reply is not
// refused for a place the closing session still holds. Close calls it too;
// it counts once.
func (c *Conn) Release() {
	c.mu.Lock()
	first := !c.freed
	c.freed = true
	c.mu.Unlock()
	if first {
		c.l.release(c.ip)
		if c.l.opts.Track != nil {
			c.l.opts.Track(c, false)
		}
	}
}

// Close closes the connection and frees its place.
func (c *Conn) Close() error {
	c.Release()
	return c.Conn.Close()
}
