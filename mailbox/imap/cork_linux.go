package imap

import (
	"net"
	"syscall"
)

// cork holds back partial TCP segments on c (TCP_CORK) until uncork is
// called: imapserver flushes after every FETCH response, so that a FETCH of
// a thousand small responses would otherwise send a thousand packets, and
// cost the receiving side as much again. uncork sends what is held at once.
func cork(c net.Conn) (uncork func()) {
	tc := tcpConn(c)
	if tc == nil {
		return func() {}
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return func() {}
	}
	set := func(on int) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, on)
		}); err != nil {
			return err
		}
		return serr
	}
	if set(1) != nil {
		return func() {}
	}
	return func() { _ = set(0) }
}
