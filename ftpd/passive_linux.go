package ftpd

import (
	"net"
	"syscall"
)

// stopListening makes a listening socket refuse connections without
// closing it: on Linux, shutdown(SHUT_RD) of a listening TCP socket moves it
// out of the LISTEN state, and its port may then be bound on one address.
func stopListening(l *net.TCPListener) error {
	raw, err := l.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = syscall.Shutdown(int(fd), syscall.SHUT_RD) }); err != nil {
		return err
	}
	return serr
}

// canStopListening reports whether stopListening works here.
const canStopListening = true
