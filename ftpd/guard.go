package ftpd

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/netaddr"
)

// Guard keeps banned addresses out and counts failed logins; bans.Guard
// implements it. Every protocol shares one.
type Guard interface {
	// Check returns an error while ip is banned (matching bans.ErrBanned).
	Check(ctx context.Context, ip netip.Addr) error
	// Failure records a failed login.
	Failure(ctx context.Context, ip netip.Addr, protocol, username string)
	// Success records a good login of username (it forgets that
	// account's failures only).
	Success(ctx context.Context, ip netip.Addr, username string)
}

// limitListener turns away connections over the session limits with "421"
// before the FTP engine sees them (banned addresses are turned away by
// bans.Listener below it).
type limitListener struct {
	net.Listener
	max      int // all sessions; 0: no limit
	maxPerIP int // per client address; 0: no limit
	plain    bool
	log      *slog.Logger
	track    func(c net.Conn, open bool) // told of every admitted connection and its close

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := netaddr.Of(conn.RemoteAddr())
		if reason := l.admit(ip); reason != "" {
			l.reject(conn, reason)
			continue
		}
		cc := &countedConn{Conn: conn, l: l, ip: ip}
		if l.track != nil {
			l.track(cc, true)
		}
		return cc, nil
	}
}

// admit reserves a place for ip or says why there is none.
func (l *limitListener) admit(ip netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return "Too many connections, try again later"
	}
	if l.maxPerIP > 0 && l.perIP[ip] >= l.maxPerIP {
		return "Too many connections from your address"
	}
	if l.perIP == nil {
		l.perIP = map[netip.Addr]int{}
	}
	l.total++
	l.perIP[ip]++
	return ""
}

func (l *limitListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

func (l *limitListener) reject(conn net.Conn, reason string) {
	if l.plain {
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = conn.Write([]byte("421 " + reason + "\r\n"))
	}
	_ = conn.Close()
}

type countedConn struct {
	net.Conn
	l    *limitListener
	ip   netip.Addr
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.release(c.ip)
		if c.l.track != nil {
			c.l.track(c, false)
		}
	})
	return c.Conn.Close()
}
