package ftpd

import (
	"net"
)

// Ferry owns the FTP control connection. The engine (ftpserverlib) accepts
// from a controlListener; every connection it gets is a controlConn in
// front of the client's socket, which reads the client's command lines,
// answers the commands the engine cannot (TLS negotiation, STRU, HELP,
// ACCT, SITE HELP, the PORT policy, refused parameters) and hands every
// other line to the engine unchanged. The controlConn runs on the engine's
// own goroutines: the engine's Read is where a line is read from the
// client and routed, the engine's Write is where its reply goes out to the
// client. No goroutine, pipe or copy of the byte stream is added to a
// command the engine answers.

// controlListener yields a controlConn for each connection of the
// listener under it (connection limits, bans, PROXY protocol, TCP).
type controlListener struct {
	net.Listener
	srv      *Server
	implicit bool // implicit FTPS: TLS from the first byte
}

func (l *controlListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err // as it is: the engine reads the closed listener's error
	}
	c := newControlConn(l.srv, nc, l.implicit)
	l.srv.addControl(c)
	return c, nil
}

// addControl remembers a control connection by its client's address, for
// the driver to find the session's TLS state (the engine's ClientContext
// only gives the address).
func (s *Server) addControl(c *controlConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.controls == nil {
		s.controls = map[string]*controlConn{}
	}
	s.controls[c.RemoteAddr().String()] = c
}

func (s *Server) removeControl(c *controlConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := c.RemoteAddr().String()
	if s.controls[key] == c {
		delete(s.controls, key)
	}
}

// controlOf returns the control connection of the client at remote, or nil.
func (s *Server) controlOf(remote net.Addr) *controlConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.controls[remote.String()]
}
