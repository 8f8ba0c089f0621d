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
//
// With Options.Wait, a connection over a cap is first held for a moment:
// a client that closes a session and opens the next at once (scripts, and
// FTP clients that do not wait for the 221 to QUIT) gets the place its
// last session frees instead of a refusal.
package connlimit

import (
	"crypto/tls"
	"errors"
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
	// Wait is how long a connection over a cap is held, without a word,
	// for a place to free before it is refused; 0: refused at once.
	Wait time.Duration
	// Track is told of every admitted connection and of its close.
	Track  func(c *Conn, open bool)
	Logger *slog.Logger
}

// maxWaiting bounds the connections held for a place at one time, in all;
// per address the bound is the address's cap. Beyond it a connection is
// refused at once.
const maxWaiting = 1024

// Listener admits connections within its Options.
type Listener struct {
	net.Listener
	opts Options

	mu       sync.Mutex
	total    int
	perIP    map[netip.Addr]int
	logged   time.Time // last refusal logged, to keep a flood out of the log
	waiting  int
	waitIP   map[netip.Addr]int
	freed    chan struct{} // closed (and replaced) when a place frees; Wait only
	closing  bool
	accepted chan accepted // from the accept loop; Wait only
	ready    chan *Conn    // admitted after waiting; Wait only
	done     chan struct{} // closed by Close; Wait only
	wg       sync.WaitGroup
}

type accepted struct {
	c   net.Conn
	err error
}

// New wraps ln. Refused connections are closed inside Accept, which keeps
// accepting. With Options.Wait, New starts the loop that accepts from ln
// and holds connections over a cap; Close ends it and waits for it.
func New(ln net.Listener, opts Options) *Listener {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Listener{Listener: ln, opts: opts}
	if opts.Wait > 0 {
		l.freed = make(chan struct{})
		l.accepted = make(chan accepted)
		l.ready = make(chan *Conn)
		l.done = make(chan struct{})
		l.wg.Add(1)
		go l.acceptLoop()
	}
	return l
}

// Accept returns the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	if l.opts.Wait > 0 {
		select {
		case c := <-l.ready:
			return c, nil
		case a := <-l.accepted:
			return a.c, a.err
		case <-l.done:
			// As a closed net.Listener says it, which servers look for.
			return nil, &net.OpError{Op: "accept", Net: l.Addr().Network(), Addr: l.Addr(), Err: net.ErrClosed}
		}
	}
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
		return l.wrap(nc, ip), nil
	}
}

// wrap makes an admitted connection a Conn.
func (l *Listener) wrap(nc net.Conn, ip netip.Addr) *Conn {
	c := &Conn{Conn: nc, l: l, ip: ip}
	if d := l.opts.LoginTimeout; d > 0 {
		c.loginBy = time.Now().Add(d)
		_ = nc.SetReadDeadline(c.loginBy)
	}
	if l.opts.Track != nil {
		l.opts.Track(c, true)
	}
	return c
}

// acceptLoop accepts from the wrapped listener (Wait only): a connection
// within the limits goes to Accept, one over a cap to a goroutine that
// holds it until a place frees or Wait passes.
func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.accepted <- accepted{err: err}:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a temporary error (EMFILE...): the server backs off and calls again
		}
		ip := netaddr.Of(nc.RemoteAddr())
		reason, wait := l.admitOrWait(ip)
		switch {
		case reason == "":
			select {
			case l.accepted <- accepted{c: l.wrap(nc, ip)}:
			case <-l.done:
				l.release(ip)
				_ = nc.Close()
				return
			}
		case wait:
			l.wg.Add(1)
			go l.hold(nc, ip)
		default:
			l.refuse(nc, ip, reason)
		}
	}
}

// admitOrWait reserves a place for ip (reason ""), or says why there is
// none and whether the connection may wait for one. While connections
// from ip wait, a new one waits behind them.
func (l *Listener) admitOrWait(ip netip.Addr) (reason string, wait bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	reason = ReasonPerAddr // a connection behind others that wait
	if l.waitIP[ip] == 0 {
		if reason = l.admitLocked(ip); reason == "" {
			return "", false
		}
	}
	limit := l.opts.MaxPerAddr
	if limit <= 0 {
		limit = maxWaiting
	}
	if l.closing || l.waiting >= maxWaiting || l.waitIP[ip] >= limit {
		return reason, false
	}
	if l.waitIP == nil {
		l.waitIP = map[netip.Addr]int{}
	}
	l.waiting++
	l.waitIP[ip]++
	return reason, true
}

// hold keeps a connection over a cap until a place frees (it then goes to
// Accept) or Wait passes (it is refused).
func (l *Listener) hold(nc net.Conn, ip netip.Addr) {
	defer l.wg.Done()
	timer := time.NewTimer(l.opts.Wait)
	defer timer.Stop()
	for {
		l.mu.Lock()
		reason := l.admitLocked(ip)
		freed := l.freed
		if reason == "" || l.closing {
			l.unwait(ip)
		}
		closing := l.closing
		l.mu.Unlock()
		if closing {
			if reason == "" {
				l.release(ip)
			}
			_ = nc.Close()
			return
		}
		if reason == "" {
			select {
			case l.ready <- l.wrap(nc, ip):
			case <-l.done:
				l.release(ip)
				_ = nc.Close()
			}
			return
		}
		select {
		case <-freed:
		case <-timer.C:
			l.mu.Lock()
			l.unwait(ip)
			l.mu.Unlock()
			l.refuse(nc, ip, reason)
			return
		case <-l.done:
			l.mu.Lock()
			l.unwait(ip)
			l.mu.Unlock()
			_ = nc.Close()
			return
		}
	}
}

// unwait counts a held connection out; mu is held.
func (l *Listener) unwait(ip netip.Addr) {
	l.waiting--
	if l.waitIP[ip]--; l.waitIP[ip] <= 0 {
		delete(l.waitIP, ip)
	}
}

// Close closes the wrapped listener; with Wait it also refuses nothing
// more, closes the held connections and waits for its goroutines.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	if l.opts.Wait > 0 {
		l.mu.Lock()
		first := !l.closing
		l.closing = true
		l.mu.Unlock()
		if first {
			close(l.done)
		}
		l.wg.Wait()
	}
	return err
}

// admit reserves a place for ip or says why there is none.
func (l *Listener) admit(ip netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.admitLocked(ip)
}

// admitLocked is admit with mu held.
func (l *Listener) admitLocked(ip netip.Addr) string {
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
	if l.freed != nil {
		close(l.freed)
		l.freed = make(chan struct{})
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
