package imap

import (
	"crypto/tls"
	"net"

	"github.com/ferryhq/ferry/internal/connlimit"
)

// tcpConn finds the TCP connection under a session's connection (TLS,
// the connection limit's wrapper), or nil.
func tcpConn(c net.Conn) *net.TCPConn {
	for {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case *tls.Conn:
			c = v.NetConn()
		case *connlimit.Conn:
			c = v.Conn
		default:
			return nil
		}
	}
}
