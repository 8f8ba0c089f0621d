// Package proxied serves connections that reach Ferry through a TCP load
// balancer speaking the PROXY protocol (HAProxy's, version 1 or 2), so that
// bans, session limits, audit and FTP-bounce protection see the client's
// address instead of the balancer's.
//
// A Listener wraps a listener on which PROXY is switched on. Only trusted
// proxies may connect to it: a connection from any other address is closed
// at once, before a byte is read or written (all four protocols it serves
// — FTP, SMTP, IMAP, POP3 — make the server speak first, so a header cannot
// be told apart from a silent client without waiting for it; refusing by
// address is what keeps a client from claiming any address it likes). A
// trusted proxy must open every connection with a header; a connection
// without one, or with a malformed one, is closed. A v2 LOCAL header (or a
// v1 "PROXY UNKNOWN", which balancers send for their own health checks)
// keeps the proxy's own address.
//
// The header is read on a goroutine per connection, with a deadline, so a
// slow or silent peer never holds up Accept for the others.
package proxied

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/ferryhq/ferry/internal/netaddr"
)

// DefaultHeaderTimeout is how long a trusted proxy has to send its header
// when Listener.HeaderTimeout is zero.
const DefaultHeaderTimeout = 5 * time.Second

// maxHandshakes bounds the connections whose header is being read at once;
// past it new connections are closed until some finish.
const maxHandshakes = 1024

// Listener accepts connections from trusted proxies and returns them with
// the client address from their PROXY header as RemoteAddr. Set the fields,
// then call Accept; the zero HeaderTimeout means DefaultHeaderTimeout.
type Listener struct {
	Listener      net.Listener
	Trusted       []netip.Prefix // proxies allowed to connect; empty refuses every connection
	HeaderTimeout time.Duration
	Logger        *slog.Logger

	start     sync.Once
	closeOnce sync.Once
	conns     chan net.Conn
	done      chan struct{}
	slots     chan struct{}
	mu        sync.Mutex
	err       error // what ended the accept loop
}

// New wraps ln; trusted lists the proxies allowed to connect.
func New(ln net.Listener, trusted []netip.Prefix, log *slog.Logger) *Listener {
	return &Listener{Listener: ln, Trusted: trusted, Logger: log}
}

func (l *Listener) init() {
	l.start.Do(func() {
		l.conns = make(chan net.Conn)
		l.done = make(chan struct{})
		l.slots = make(chan struct{}, maxHandshakes)
		if l.Logger == nil {
			l.Logger = slog.New(slog.DiscardHandler)
		}
		if l.HeaderTimeout <= 0 {
			l.HeaderTimeout = DefaultHeaderTimeout
		}
		go l.run()
	})
}

// Accept returns the next connection whose PROXY header has been read.
func (l *Listener) Accept() (net.Conn, error) {
	l.init()
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		// The error a closed net.Listener returns: servers (ftpserverlib
		// among them) recognise it as a normal stop.
		return nil, &net.OpError{Op: "accept", Net: l.Listener.Addr().Network(), Addr: l.Listener.Addr(), Err: net.ErrClosed}
	}
}

// Close stops accepting; connections already returned stay open.
func (l *Listener) Close() error {
	l.init()
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// Addr is the wrapped listener's address.
func (l *Listener) Addr() net.Addr { return l.Listener.Addr() }

func (l *Listener) run() {
	backoff := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				l.mu.Lock()
				l.err = err
				l.mu.Unlock()
				l.Close()
				return
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does.
			l.Logger.Warn("accept failed; retrying", "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-l.done:
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !l.trusted(c.RemoteAddr()) {
			l.Logger.Warn("connection refused: not from a trusted proxy (FERRY_TRUSTED_PROXIES)",
				"remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		select {
		case l.slots <- struct{}{}:
		default:
			l.Logger.Warn("connection refused: too many PROXY headers being read", "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		go func() {
			defer func() { <-l.slots }()
			l.handshake(c)
		}()
	}
}

func (l *Listener) trusted(a net.Addr) bool {
	ip := netaddr.Of(a)
	if !ip.IsValid() {
		return false
	}
	for _, p := range l.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// handshake reads c's header and hands the connection to Accept, or
// closes it.
func (l *Listener) handshake(c net.Conn) {
	remote, br, err := readHeader(c, l.HeaderTimeout)
	if err != nil {
		l.Logger.Warn("connection refused: bad or missing PROXY header", "proxy", c.RemoteAddr().String(), "err", err)
		c.Close()
		return
	}
	pc := &Conn{Conn: c, r: br, remote: remote}
	select {
	case l.conns <- pc:
	case <-l.done:
		c.Close()
	}
}

// readHeader reads a PROXY v1 or v2 header from c and returns the client
// address it names (c's own peer for LOCAL and UNKNOWN headers) and the
// reader holding any bytes that followed the header.
func readHeader(c net.Conn, timeout time.Duration) (net.Addr, *bufio.Reader, error) {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(c, 256) // room for the longest v1 line (107 bytes)
	h, err := proxyproto.Read(br)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil, nil, fmt.Errorf("no PROXY header within %s", timeout)
		}
		if errors.Is(err, proxyproto.ErrNoProxyProtocol) {
			return nil, nil, errors.New("the connection does not start with a PROXY header")
		}
		return nil, nil, err
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, nil, err
	}
	if h.Command.IsLocal() || h.TransportProtocol.IsUnspec() {
		return c.RemoteAddr(), br, nil
	}
	src, ok := h.SourceAddr.(*net.TCPAddr)
	if !ok || !h.TransportProtocol.IsStream() {
		return nil, nil, fmt.Errorf("PROXY header names a %T source over %v, not TCP", h.SourceAddr, h.TransportProtocol)
	}
	// An IPv4 client seen through an IPv6 proxy arrives as ::ffff:a.b.c.d;
	// the rest of Ferry compares plain IPv4 addresses.
	if ip := src.AddrPort().Addr(); ip.Is4In6() {
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), src.AddrPort().Port())), br, nil
	}
	return src, br, nil
}

// Conn is a connection accepted through a proxy. RemoteAddr is the client
// named by the PROXY header; LocalAddr stays this node's own socket address,
// because that is where FTP passive data connections, which do not pass
// through the proxy, must go.
type Conn struct {
	net.Conn
	r      *bufio.Reader // bytes read past the header; nil once drained
	remote net.Addr
}

// RemoteAddr is the client's address as the proxy reported it.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// ProxyAddr is the address of the proxy the connection came through.
func (c *Conn) ProxyAddr() net.Addr { return c.Conn.RemoteAddr() }

// Read returns the bytes that arrived with the header first.
func (c *Conn) Read(b []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(b)
		}
		c.r = nil
	}
	return c.Conn.Read(b)
}
