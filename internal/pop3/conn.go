package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"time"
)

// state is a POP3 session state (RFC 1939 section 3).
type state int

const (
	stateAuthorization state = iota
	stateTransaction
	stateUpdate
)

// messageBufferSize is the size of the buffer used to stream messages.
const messageBufferSize = 32 << 10

// conn is the server side of one client connection. Everything but mu and
// idle is owned by the connection's goroutine.
type conn struct {
	srv    *Server
	raw    net.Conn // transport: deadlines and forced close; never changes
	nc     net.Conn // current stream: raw, or a *tls.Conn on top of it
	br     *bufio.Reader
	bw     *bufio.Writer
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger

	isTLS        bool
	state        state
	user         string // name given by USER, valid if hasUser
	hasUser      bool
	authFailures int
	errCount     int // consecutive -ERR replies

	session  Session
	msgs     []MessageInfo
	deleted  []bool
	nDeleted int
	msgBuf   *bufio.Reader // reused to stream messages

	mu   sync.Mutex
	idle bool // blocked reading a command in the AUTHORIZATION state
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, raw: nc, nc: nc}
	if tc, ok := nc.(*tls.Conn); ok {
		c.raw = tc.NetConn()
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.log = s.logger().With("remote", nc.RemoteAddr().String())
	c.br = newCommandReader(c.nc, s.maxLineLength())
	c.bw = bufio.NewWriterSize(deadlineWriter{c}, 8<<10)
	return c
}

// deadlineWriter writes to the connection's current stream, refreshing the
// write deadline before each write.
type deadlineWriter struct{ c *conn }

func (w deadlineWriter) Write(p []byte) (int, error) {
	if d := w.c.srv.writeTimeout(); d > 0 {
		_ = w.c.raw.SetWriteDeadline(time.Now().Add(d))
	}
	return w.c.nc.Write(p)
}

// interruptIfIdle wakes up the connection if it is waiting for a command
// in the AUTHORIZATION state, so that it notices the server is shutting
// down. Called by Shutdown.
func (c *conn) interruptIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle {
		_ = c.raw.SetReadDeadline(time.Unix(1, 0))
	}
}

// forceClose cancels the connection's context and closes its transport.
// Called by Close and by Shutdown when its context is done.
func (c *conn) forceClose() {
	c.cancel()
	_ = c.raw.Close()
}

func (c *conn) serve() {
	defer c.srv.untrackConn(c)
	defer c.cancel()
	defer func() {
		if r := recover(); r != nil {
			c.logPanic(r)
		}
	}()
	defer c.closeSession()
	defer func() {
		if r := recover(); r != nil {
			c.logPanic(r)
		}
		_ = c.bw.Flush()
		_ = c.nc.Close()
	}()

	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.handshake(tc); err != nil {
			c.log.Debug("pop3: TLS handshake failed", "error", err)
			return
		}
		c.isTLS = true
	}
	c.writeLine("+OK " + c.srv.greeting())
	for {
		if err := c.serveCommand(); err != nil {
			if !errors.Is(err, errCloseConn) && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Debug("pop3: connection ended", "error", err)
			}
			return
		}
	}
}

func (c *conn) logPanic(r any) {
	buf := make([]byte, 64<<10)
	buf = buf[:runtime.Stack(buf, false)]
	c.log.Error("pop3: panic serving connection", "panic", r, "stack", string(buf))
}

// serveCommand reads, parses and executes one command. A non-nil error
// ends the connection.
func (c *conn) serveCommand() error {
	line, err := c.readCommand()
	switch {
	case err == nil:
	case errors.Is(err, errLineTooLong):
		return c.replyErr(errLineTooLong)
	case errors.Is(err, errShuttingDown):
		c.writeErr(errShuttingDown)
		return errCloseConn
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if c.srv.shuttingDown() && c.state == stateAuthorization {
				c.writeErr(errShuttingDown)
			} else {
				c.writeErr(errAutologout)
			}
			return errCloseConn
		}
		return err
	}
	cmd, args, err := parseCommand(line)
	if err != nil {
		var pe *Error
		if !errors.As(err, &pe) {
			pe = errSyntax
		}
		return c.replyErr(pe)
	}
	return c.dispatch(cmd, args)
}

// dispatch runs a command's handler. A panic in it is answered "-ERR
// [SYS/TEMP]" and ends the connection (the session's state is unknown):
// the client learns the server failed rather than seeing the connection
// drop. Inside a multi-line reply the line is one more line of it, and the
// unterminated reply tells the client the same.
func (c *conn) dispatch(cmd string, args []string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.logPanic(r)
			c.writeErr(errInternal)
			err = errCloseConn
		}
	}()
	switch c.state {
	case stateAuthorization:
		return c.handleAuthorization(cmd, args)
	case stateTransaction:
		return c.handleTransaction(cmd, args)
	default:
		return fmt.Errorf("pop3: command in unexpected state %d", c.state)
	}
}

// readCommand returns the next command line without its line terminator.
// The returned slice is valid until the next read. It returns
// errLineTooLong, after discarding the whole line, for lines longer than
// the limit.
func (c *conn) readCommand() ([]byte, error) {
	// Flush pending replies unless the client has pipelined another
	// complete command, so that pipelined replies share packets.
	if !c.hasBufferedLine() {
		if err := c.bw.Flush(); err != nil {
			return nil, fmt.Errorf("pop3: writing reply: %w", err)
		}
	}

	c.mu.Lock()
	if c.state == stateAuthorization && c.srv.shuttingDown() {
		c.mu.Unlock()
		return nil, errShuttingDown
	}
	var deadline time.Time
	if d := c.srv.readTimeout(); d > 0 {
		deadline = time.Now().Add(d)
	}
	_ = c.raw.SetReadDeadline(deadline)
	c.idle = c.state == stateAuthorization
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.idle = false
		c.mu.Unlock()
	}()

	line, err := c.br.ReadSlice('\n')
	if err == nil {
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > c.srv.maxLineLength() {
			return nil, errLineTooLong
		}
		return line, nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("pop3: reading command: %w", err)
	}
	// Discard the rest of the over-long line chunk by chunk.
	if err := c.bw.Flush(); err != nil {
		return nil, fmt.Errorf("pop3: writing reply: %w", err)
	}
	for {
		_, err = c.br.ReadSlice('\n')
		if err == nil {
			return nil, errLineTooLong
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("pop3: reading command: %w", err)
		}
	}
}

// newCommandReader returns the reader for command lines: large enough
// for a line of maxLine octets plus CRLF, so that longer lines are detected
// either by length or by bufio.ErrBufferFull.
func newCommandReader(r io.Reader, maxLine int) *bufio.Reader {
	return bufio.NewReaderSize(r, max(maxLine+2, 4096))
}

// hasBufferedLine reports whether a complete line is already buffered.
func (c *conn) hasBufferedLine() bool {
	n := c.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := c.br.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

// handshake runs the server side of a TLS handshake, bounded by the read
// timeout and the connection's context.
func (c *conn) handshake(tc *tls.Conn) error {
	if d := c.srv.readTimeout(); d > 0 {
		_ = c.raw.SetDeadline(time.Now().Add(d))
	}
	err := tc.HandshakeContext(c.ctx)
	_ = c.raw.SetDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("pop3: TLS handshake: %w", err)
	}
	return nil
}

// writeLine buffers one response line. Write errors are sticky in the
// bufio.Writer and surface at the next flush.
func (c *conn) writeLine(s string) {
	_, _ = c.bw.WriteString(s)
	_, _ = c.bw.WriteString("\r\n")
}

// replyOK writes a positive response and resets the error counter.
func (c *conn) replyOK(text string) {
	c.errCount = 0
	if text == "" {
		c.writeLine("+OK")
		return
	}
	c.writeLine("+OK " + text)
}

// replyErr writes a negative response. It returns errCloseConn, after
// replying "-ERR too many errors" instead, when the client has had too
// many consecutive errors.
func (c *conn) replyErr(e *Error) error {
	c.errCount++
	if c.errCount >= maxConsecutiveErrors {
		c.log.Info("pop3: closing connection after too many errors")
		c.writeErr(errTooManyErrors)
		return errCloseConn
	}
	c.writeErr(e)
	return nil
}

// writeErr writes a negative response without counting it.
func (c *conn) writeErr(e *Error) {
	c.writeLine("-ERR " + e.reply())
}

// backendError turns an error from a backend call into the reply to send:
// an *Error is sent as is, anything else is logged and hidden behind
// ErrTempFailure.
func (c *conn) backendError(op string, err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	c.log.Error("pop3: backend error", "op", op, "error", err)
	return ErrTempFailure
}

// closeSession releases the current session, if any.
func (c *conn) closeSession() {
	s := c.session
	if s == nil {
		return
	}
	c.session = nil
	c.msgs = nil
	c.deleted = nil
	c.nDeleted = 0
	if err := s.Close(); err != nil {
		c.log.Error("pop3: closing session", "error", err)
	}
}

// sleep waits for d or until the connection's context is canceled.
func (c *conn) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
	}
}
