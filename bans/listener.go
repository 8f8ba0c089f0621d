package bans

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/netaddr"
	"github.com/ferryhq/ferry/internal/stack"
)

// Listener wraps ln so that a connection for which check returns an error
// gets reject (a complete protocol line, e.g. "421 4.7.0 ...\r\n"; empty
// sends nothing) and is closed before the server sees it. check is usually
// a Guard's Check; whether a failed lookup refuses or admits is the
// caller's choice, made in check. Checks run on their own goroutine per
// connection, so a slow database never stalls Accept. With a nil check it
// returns ln.
func Listener(ln net.Listener, check func(context.Context, netip.Addr) error, reject string, log *slog.Logger) net.Listener {
	if check == nil {
		return ln
	}
	if log == nil {
		log = slog.Default()
	}
	gl := &guardListener{Listener: ln, check: check, reject: reject, log: log,
		conns: make(chan net.Conn), done: make(chan struct{})}
	go gl.run()
	return gl
}

type guardListener struct {
	net.Listener
	check  func(context.Context, netip.Addr) error
	reject string
	log    *slog.Logger

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	err       error // the error that ended the accept loop
}

func (l *guardListener) run() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			l.Close()
			return
		}
		go l.admit(c)
	}
}

func (l *guardListener) admit(c net.Conn) {
	stack.Grow() // a new goroutine; the ban check goes deep into the store
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := l.check(ctx, netaddr.Of(c.RemoteAddr()))
	cancel()
	if err != nil {
		l.log.Info("connection refused: address banned", "remote", c.RemoteAddr().String(), "err", err)
		if l.reject != "" {
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write([]byte(l.reject))
		}
		_ = c.Close()
		return
	}
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// Accept returns the next connection that passed the ban check.
func (l *guardListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		err := l.err
		l.mu.Unlock()
		if err == nil {
			err = net.ErrClosed
		}
		// The inner listener's own error as it is: wrapped once more, the
		// FTP engine no longer recognised a closed listener and logged an
		// error at every shutdown.
		var op *net.OpError
		if errors.As(err, &op) {
			return nil, err
		}
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: err}
	}
}

// Close stops accepting.
func (l *guardListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}
