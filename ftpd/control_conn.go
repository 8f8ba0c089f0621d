package ftpd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryhq/ferry/ftpd/repr"
	"github.com/ferryhq/ferry/internal/connlimit"
)

// maxCommandLine bounds a command line, its CRLF included: the engine reads
// lines into a buffer of this size and drops the connection on a longer
// one. RFC 959 sets no limit; a longer line is discarded up to its end and
// refused with 500, and the session goes on.
const maxCommandLine = 4096

// errLineTooLong marks a command line over maxCommandLine.
var errLineTooLong = errors.New("command line too long")

// barrierLine is handed to the engine to learn when it has answered every
// command before it (it runs a NOOP only after a running transfer ends).
const barrierLine = "NOOP\r\n"

// controlConn is the connection the engine serves: it stands in front of
// the client's socket, whose addresses it reports (bans, passive-port
// ownership and the FTP-bounce checks see the real client). The engine
// reads only the lines the layer hands on, and everything it writes goes
// through the replyStream to the client.
type controlConn struct {
	srv *Server
	raw net.Conn // the accepted connection; deadlines and addresses

	tls     atomic.Bool // the control connection is TLS (AUTH TLS or implicit)
	session atomic.Pointer[session]
	// working: a command line has been read and the reader has not come
	// back for the next one yet (see answering).
	working atomic.Bool

	// Read side, used only by the engine's reader goroutine.
	in   *bufio.Reader
	out  []byte              // a line handed on, not yet all read by the engine
	held answer              // a command the layer answers once the barrier is answered
	cur  repr.Representation // the session's representation (state.rep), as the reader sees it

	// writeMu keeps the writes to the client whole and in order; it is
	// held across a network write, so nothing else waits on it but
	// writers.
	writeMu sync.Mutex
	// pending is what the engine wrote of a multi-line reply that is not
	// finished yet (guarded by writeMu): the engine flushes every line of
	// it on its own, and a FEAT went out in fifteen writes and segments.
	pending []byte
	mu      sync.Mutex // the two below; never held across network I/O
	replies replyStream
	state   reprState
	listing *listingReq // a listing handed to the engine as RETR (see cmdListing)

	connMu sync.Mutex // the two below
	conn   net.Conn   // raw, or TLS over raw
	closed bool
}

// answer is a command the layer answers itself; an error ends the session.
type answer func() error

func newControlConn(srv *Server, raw net.Conn, implicit bool) *controlConn {
	c := &controlConn{srv: srv, raw: raw, conn: raw, state: newReprState(srv.DeflateLevel)}
	c.cur = c.state.rep
	c.replies.forwarded = 1 // the engine's greeting
	c.replies.modeZ = srv.DeflateLevel > 0
	c.replies.loggedIn = func() bool { loggedIn, _ := c.account(); return loggedIn }
	if implicit {
		c.conn = tls.Server(raw, srv.TLSConfig)
		c.tls.Store(true)
		c.state.prot = 'P' // the engine protects every data connection
	}
	c.in = bufio.NewReaderSize(c.conn, maxCommandLine)
	return c
}

// Read hands the engine the next command line the layer does not answer.
func (c *controlConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if h := c.held; h != nil {
			// The engine read again after the barrier: it has answered
			// every command before this one.
			c.held = nil
			if err := h(); err != nil {
				return 0, err
			}
			c.extendIdle()
			continue
		}
		c.working.Store(false)
		line, err := c.readLine()
		c.working.Store(err == nil || errors.Is(err, errLineTooLong))
		var h answer
		switch {
		case errors.Is(err, errLineTooLong):
			h = func() error {
				return c.reply(500, fmt.Sprintf("Command line too long (limit %d bytes); ignored", maxCommandLine-2))
			}
		case err != nil:
			return 0, err
		default:
			h = c.route(line)
		}
		if h == nil {
			continue // handed on: c.out is set
		}
		c.mu.Lock()
		balanced := c.replies.balanced()
		if !balanced {
			c.replies.barrier = true
		}
		c.mu.Unlock()
		if !balanced {
			c.held, c.out = h, []byte(barrierLine)
			break
		}
		if err := h(); err != nil {
			return 0, err
		}
		c.extendIdle()
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// readLine reads one command line with its line end. A line at the end of
// the stream without one is returned as it is, as the engine would.
func (c *controlConn) readLine() ([]byte, error) {
	line, err := c.in.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = c.in.ReadSlice('\n')
		}
		if err != nil {
			return nil, err
		}
		return nil, errLineTooLong
	}
	if err != nil && len(line) > 0 && errors.Is(err, io.EOF) {
		return line, nil
	}
	return line, err
}

// answering reports whether a command is still being answered: the layer
// is handling a line it read, the engine owes a final reply (a transfer's
// 226 is owed until written, after the transfer itself has ended), or a
// reply is being written. Shutdown does not close such a session.
func (c *controlConn) answering() bool {
	if c.working.Load() {
		return true
	}
	// A Write holds writeMu from counting a final reply until the client
	// has it: when writeMu is free, every counted reply has been written.
	if !c.writeMu.TryLock() {
		return true
	}
	defer c.writeMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.replies.balanced() || len(c.pending) > 0
}

// forward hands a line to the engine, which answers it.
func (c *controlConn) forward(line []byte) {
	c.mu.Lock()
	c.replies.forwarded++
	c.mu.Unlock()
	c.out = line
}

// extendIdle gives the client its idle time again after a command the layer
// answered, as the engine does before it reads each command (the login
// deadline still bounds it: see connlimit).
func (c *controlConn) extendIdle() {
	if d := c.srv.IdleTimeout; d > 0 {
		_ = c.raw.SetDeadline(time.Now().Add(d))
	}
}

// Write takes the engine's replies to the client.
func (c *controlConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	out := c.replies.feed(p, c.state.statLines) // reuses a buffer only writers touch
	ending := c.replies.ending
	unfinished := c.replies.multi != 0
	c.mu.Unlock()
	if ending {
		// The session ends with this reply: its place is free before the
		// client reads it and reconnects.
		if lc := connlimit.Of(c.raw); lc != nil {
			lc.Release()
		}
	}
	if unfinished && len(c.pending)+len(out) <= maxPendingReply {
		// The rest of the reply follows at once: it goes out in one write.
		c.pending = append(c.pending, out...)
		return len(p), nil
	}
	if err := c.writePending(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// maxPendingReply bounds what a multi-line reply holds back (a STAT of a
// big folder is sent in parts).
const maxPendingReply = 64 << 10

// writePending writes what a multi-line reply held back, then out; the
// caller holds writeMu.
func (c *controlConn) writePending(out []byte) error {
	if len(c.pending) > 0 {
		out = append(c.pending, out...)
		c.pending = c.pending[:0]
		if cap(c.pending) > maxPendingReply {
			c.pending = nil
		}
	}
	if len(out) == 0 {
		return nil
	}
	_, err := c.current().Write(out)
	return err
}

// current is the connection to the client: raw, or TLS once negotiated.
func (c *controlConn) current() net.Conn {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	return c.conn
}

// reply writes a reply of the layer's own: one line, or a multi-line
// reply with the first and last line given and the lines between.
func (c *controlConn) reply(code int, lines ...string) error {
	var b strings.Builder
	for i, l := range lines {
		switch {
		case i == len(lines)-1:
			fmt.Fprintf(&b, "%d %s\r\n", code, l)
		case i == 0:
			fmt.Fprintf(&b, "%d-%s\r\n", code, l)
		default:
			fmt.Fprintf(&b, " %s\r\n", l)
		}
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.writePending(nil); err != nil {
		return err
	}
	_, err := io.WriteString(c.current(), b.String())
	return err
}

// startTLS answers AUTH TLS and negotiates TLS on the control connection
// with the configuration that also protects the data connections, so they
// can resume the control connection's TLS session.
func (c *controlConn) startTLS() error {
	if err := c.reply(234, "AUTH command ok. Expecting TLS Negotiation."); err != nil {
		return err
	}
	tc := tls.Server(c.raw, c.srv.TLSConfig)
	if err := tc.Handshake(); err != nil {
		c.srv.logger().Info("FTP TLS handshake failed", "remote", c.raw.RemoteAddr().String(), "err", err)
		return io.EOF // the session ends; the engine logs no error of its own
	}
	c.connMu.Lock()
	c.conn = tc
	c.connMu.Unlock()
	// Whatever the client sent in clear after AUTH is dropped, not read as
	// commands over TLS.
	c.in = bufio.NewReaderSize(tc, maxCommandLine)
	c.tls.Store(true)
	return nil
}

// Close closes the client's connection (with a TLS close alert when
// protected). It waits for no lock a blocked write holds: closing is what
// unblocks that write.
func (c *controlConn) Close() error {
	c.connMu.Lock()
	conn, closed := c.conn, c.closed
	c.closed = true
	c.connMu.Unlock()
	if closed {
		return net.ErrClosed
	}
	c.srv.removeControl(c)
	err := conn.Close()
	if conn != c.raw {
		_ = c.raw.Close()
	}
	return err
}

func (c *controlConn) LocalAddr() net.Addr                { return c.raw.LocalAddr() }
func (c *controlConn) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }
func (c *controlConn) SetDeadline(t time.Time) error      { return c.raw.SetDeadline(t) }
func (c *controlConn) SetReadDeadline(t time.Time) error  { return c.raw.SetReadDeadline(t) }
func (c *controlConn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// NetConn returns the client's connection (see connlimit.Of).
func (c *controlConn) NetConn() net.Conn { return c.raw }

// account reports whether the session has logged in, and whether its
// account requires TLS.
func (c *controlConn) account() (loggedIn, tlsRequired bool) {
	s := c.session.Load()
	if s == nil {
		return false, false
	}
	l := s.loginInfo()
	if l == nil {
		return false, false
	}
	return true, l.TLSRequired
}

// failTransfer makes the engine's reply to the running transfer's failure
// the layer's code and text (the engine only knows 550, 552 and 553).
func (c *controlConn) failTransfer(code int, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replies.transferReply = fmt.Appendf(nil, "%d %s\r\n", code, text)
}
