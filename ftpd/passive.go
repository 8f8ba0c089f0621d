package ftpd

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
)

var _ ftpserver.MainDriverExtensionPassiveWrapper = (*driver)(nil)

// WrapPassiveListener gives passive data connections a write buffer. The
// engine writes a listing with one write per line (fmt.Fprintf on the
// connection): a LIST of 10,000 entries cost 10,000 write calls and as
// many TCP segments, about a third of its time. vsftpd writes a listing in
// a few large writes. Buffered, the lines leave in 64 KiB writes; files
// still go out with sendfile (ReadFrom flushes and hands over to the
// socket's), and uploads are read as before.
//
// With Server.KeepPassivePorts the listener is the engine's reservation of
// a shared passive port for the client's address
// (Settings.PassiveTransferPortMultiplexing): the ports of the range stay
// open, so a transfer no longer pays for a socket, bind, listen and close
// of its own (about a quarter of a small file's RETR). The wrapper also
// works around the engine's release of a reservation, which forgets
// whichever reservation of that port the client's address holds at that
// moment: once a connection was delivered, that may be another session's
// (several sessions behind one address), so a used reservation is not
// closed again. Otherwise the listener is the transfer's own
// *net.TCPListener, closed as usual.
//
// With the control listener bound to one address (127.0.0.1 in a dev run)
// the transfer's listener moves to that address: the engine binds every
// passive listener on all interfaces. With kept ports that is a
// reservation of a port kept open on that address (keptPorts), else a
// listener of the transfer's own (rebind).
func (d *driver) WrapPassiveListener(ln net.Listener) (net.Listener, error) {
	if tl, ok := ln.(*net.TCPListener); ok && d.kept != nil {
		r, err := d.kept.reserve(tl)
		if err != nil {
			d.srv.logger().Warn("passive port on the control address", "err", err)
			return nil, errPassivePort
		}
		return &bufferedListener{Listener: r}, nil
	}
	if tl, ok := ln.(*net.TCPListener); ok && d.passiveIP != nil {
		own, err := rebind(tl, d.passiveIP)
		if err != nil {
			d.srv.logger().Warn("passive listener on the control address", "err", err)
			return nil, errPassivePort
		}
		ln = own
	}
	return &bufferedListener{Listener: ln}, nil
}

// errPassivePort is what the client sees (421) when the port the engine
// chose is taken on the control address meanwhile; the client may retry.
var errPassivePort = errors.New("passive port busy, try again")

// dataConnTimeout is how long a passive listener waits for the client's
// data connection (the engine's ConnectionTimeout).
const dataConnTimeout = 30 * time.Second

// boundIP is the address a listener is bound to; nil for all interfaces.
func boundIP(a net.Addr) net.IP {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP == nil || ta.IP.IsUnspecified() {
		return nil
	}
	return ta.IP
}

// boundListener is a transfer's passive listener on the control listener's
// address, in place of the engine's listener on all interfaces. That one
// stays open but listens no more (stopListening): the engine sets the
// transfer's accept deadline on it, so Accept applies the same timeout
// itself.
type boundListener struct {
	*net.TCPListener
	engine *net.TCPListener
}

// rebind moves the engine's passive listener to ip, on the same port. Where
// a listening socket cannot be stopped without closing it (outside Linux)
// the engine's listener is kept as it is.
func rebind(engine *net.TCPListener, ip net.IP) (net.Listener, error) {
	if err := stopListening(engine); err != nil {
		return engine, nil
	}
	addr := &net.TCPAddr{IP: ip, Port: engine.Addr().(*net.TCPAddr).Port}
	own, err := net.ListenTCP("tcp", addr)
	if err != nil {
		engine.Close()
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return &boundListener{TCPListener: own, engine: engine}, nil
}

func (l *boundListener) Accept() (net.Conn, error) {
	if err := l.TCPListener.SetDeadline(time.Now().Add(dataConnTimeout)); err != nil {
		return nil, err
	}
	return l.TCPListener.Accept()
}

func (l *boundListener) Close() error {
	err := l.TCPListener.Close()
	l.engine.Close()
	return err
}

type bufferedListener struct {
	net.Listener
	mu       sync.Mutex
	accepted bool
	closed   bool
}

func (l *bufferedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.accepted = true
	l.mu.Unlock()
	if tc, ok := c.(*net.TCPConn); ok {
		return &dataConn{TCPConn: tc}, nil
	}
	return c, nil
}

// deadliner is the engine's passive listener (both kinds have it).
type deadliner interface{ SetDeadline(time.Time) error }

func (l *bufferedListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	switch l.Listener.(type) {
	case *net.TCPListener, *boundListener, *keptReservation: // the transfer's own
		return l.Listener.Close()
	}
	if l.accepted {
		// The engine took the reservation off its port when it handed the
		// connection over: nothing of this transfer is left on the port.
		return nil
	}
	// Not used: a connection may still have been handed over (the client
	// connected but the transfer never started). Take it, so the
	// reservation is known to be gone from its port, and drop it.
	if dl, ok := l.Listener.(deadliner); ok {
		_ = dl.SetDeadline(time.Now().Add(time.Millisecond))
		if c, err := l.Listener.Accept(); err == nil {
			c.Close()
			return nil
		}
	}
	return l.Listener.Close()
}

// dataBuffer is the most a data connection holds back.
const dataBuffer = 64 << 10

// dataConn is a passive data connection with a write buffer. The engine
// flushes it before closing (ftpserver.Flusher); under TLS, Close flushes
// what the TLS layer wrote last, and Read flushes first so that a TLS
// handshake's flight is sent before its answer is awaited.
type dataConn struct {
	*net.TCPConn
	mu  sync.Mutex
	buf []byte
}

var _ ftpserver.Flusher = (*dataConn)(nil)

func (c *dataConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf)+len(p) > dataBuffer {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) >= dataBuffer {
		return c.TCPConn.Write(p)
	}
	if c.buf == nil {
		c.buf = make([]byte, 0, dataBuffer)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *dataConn) flushLocked() error {
	for len(c.buf) > 0 {
		n, err := c.TCPConn.Write(c.buf)
		c.buf = c.buf[:copy(c.buf, c.buf[n:])]
		if err != nil {
			c.buf = c.buf[:0]
			return err
		}
	}
	return nil
}

// Flush sends what is buffered.
func (c *dataConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *dataConn) Read(p []byte) (int, error) {
	if err := c.Flush(); err != nil {
		return 0, err
	}
	return c.TCPConn.Read(p)
}

// ReadFrom sends a file with sendfile, after what is buffered.
func (c *dataConn) ReadFrom(r io.Reader) (int64, error) {
	if err := c.Flush(); err != nil {
		return 0, err
	}
	return c.TCPConn.ReadFrom(r)
}

// WriteTo hands an upload's data to the file's ReadFrom, as
// TCPConn.WriteTo does for a file (it splices only to Unix sockets), but
// returns the file's errors as they are: TCPConn.WriteTo wraps them in
// "writeto tcp a->b: ...", and they are the driver's replies to the partner.
func (c *dataConn) WriteTo(w io.Writer) (int64, error) {
	if err := c.Flush(); err != nil {
		return 0, err
	}
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(onlyReader{c.TCPConn})
	}
	return io.Copy(w, onlyReader{c.TCPConn})
}

// SyscallConn is hidden: os.File.WriteTo would otherwise sendfile to the
// socket directly, ahead of anything still buffered. It falls back to
// ReadFrom, which flushes first and then uses sendfile all the same.
func (c *dataConn) SyscallConn() (syscall.RawConn, error) {
	return nil, errors.ErrUnsupported
}

// Close flushes and closes. If a write is blocked in another goroutine,
// this is an abort (ABOR, shutdown): it closes at once, which ends the
// write, instead of waiting behind it.
func (c *dataConn) Close() error {
	if c.mu.TryLock() {
		_ = c.TCPConn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_ = c.flushLocked()
		c.mu.Unlock()
	}
	return c.TCPConn.Close()
}

// passivePorts is the passive port range handed to the engine. For every
// PASV/EPSV the engine draws candidate ports until it has NumberAttempts
// distinct ones (at most four times that many draws, each checked against
// a map of those drawn), then tries them in turn; its own PortRange draws
// each from crypto/rand through a big.Int: several hundred getrandom calls
// and allocations per transfer, which showed as ~0.1-0.2 ms of every small
// file. The ports need to be unpredictable enough that no one guesses the
// next one (the data connection must also come from the control
// connection's address), not cryptographically random: math/rand/v2's
// generator is randomly seeded and costs nanoseconds.
type passivePorts struct{ start, end int }

var _ ftpserver.PasvPortGetter = passivePorts{}

// passiveCandidates is the most ports a PASV tries. Asking for every port
// of the range cost four draws per port, each with a map lookup, on every
// transfer (200 ports: 3% of a small upload's CPU; a range of thousands,
// as behind a NAT, a tenth of a millisecond and more), though the first
// port is almost always free. With this many drawn at random, a PASV finds
// no port only if nearly the whole range is in use: at 90% in use, once in
// about a thousand (0.9^64); the client may retry (421).
const passiveCandidates = 64

// FetchNext implements ftpserver.PasvPortGetter.
func (p passivePorts) FetchNext() (int, int, bool) {
	port := p.start + rand.IntN(p.end-p.start+1)
	return port, port, true
}

// NumberAttempts implements ftpserver.PasvPortGetter: every port of a
// small range, passiveCandidates of a larger one.
func (p passivePorts) NumberAttempts() int { return min(p.end-p.start+1, passiveCandidates) }
