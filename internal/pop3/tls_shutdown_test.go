package pop3

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestSTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testCert(t)
	ts := startServer(t, func(s *Server) { s.TLSConfig = serverTLS })
	c, _ := dial(t, ts.addr)
	c.expect("CAPA", "+OK Capability list follows")
	if caps := c.lines(); !slices.Contains(caps, "STLS") {
		t.Fatalf("CAPA before STLS = %q, missing STLS", caps)
	}
	c.expect("USER alice", "+OK send PASS") // forgotten by STLS
	c.expect("STLS extra", "-ERR syntax error")
	c.expect("STLS", "+OK Begin TLS negotiation")
	c.startTLS(clientTLS)
	if !c.nc.(*tls.Conn).ConnectionState().HandshakeComplete {
		t.Fatal("handshake not complete")
	}
	c.expect("CAPA", "+OK Capability list follows")
	if caps := c.lines(); slices.Contains(caps, "STLS") {
		t.Errorf("CAPA after STLS = %q, still lists STLS", caps)
	}
	c.expect("STLS", "-ERR already using TLS")
	c.expect("PASS secret", "-ERR send USER first")
	c.login("alice", "secret")
	c.expect("RETR 2", "+OK "+itoa(size2)+" octets")
	if got := c.body(); got != msg2Wire {
		t.Errorf("RETR over TLS = %q", got)
	}
	c.expectPrefix("QUIT", "+OK bye")
	if box := ts.backend.box("alice"); !box.lastTLS {
		t.Error("ConnInfo.TLS = false after STLS")
	}
}

// TestSTLSDiscardsPlaintext checks that commands pipelined in plaintext
// after STLS are not executed inside the TLS session (CVE-2011-0411).
func TestSTLSDiscardsPlaintext(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testCert(t)
	ts := startServer(t, func(s *Server) { s.TLSConfig = serverTLS })
	c, _ := dial(t, ts.addr)
	c.send("STLS\r\nUSER alice")
	if got := c.line(); got != "+OK Begin TLS negotiation" {
		t.Fatalf("STLS = %q", got)
	}
	c.startTLS(clientTLS)
	c.expect("PASS secret", "-ERR send USER first")
}

func TestSTLSHandshakeFailure(t *testing.T) {
	t.Parallel()
	serverTLS, _ := testCert(t)
	ts := startServer(t, func(s *Server) { s.TLSConfig = serverTLS })
	c, _ := dial(t, ts.addr)
	c.expect("STLS", "+OK Begin TLS negotiation")
	c.send("this is not a TLS ClientHello")
	c.expectEOF()
	// The server is unaffected.
	c2, _ := dial(t, ts.addr)
	c2.login("alice", "secret")
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testCert(t)
	ts := startServerOn(t, func(ln net.Listener) net.Listener { return tls.NewListener(ln, serverTLS) },
		func(s *Server) { s.TLSConfig = serverTLS; s.RequireTLSForAuth = true })
	nc, err := tls.Dial("tcp", ts.addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	tc := newClientOn(t, nc)
	if g := tc.line(); g != "+OK ferry test POP3 ready" {
		t.Fatalf("greeting = %q", g)
	}
	tc.expect("CAPA", "+OK Capability list follows")
	if caps := tc.lines(); slices.Contains(caps, "STLS") || !slices.Contains(caps, "USER") {
		t.Errorf("CAPA over implicit TLS = %q", caps)
	}
	tc.expect("STLS", "-ERR already using TLS")
	tc.login("alice", "secret")
	tc.expectPrefix("QUIT", "+OK bye")
	if box := ts.backend.box("alice"); !box.lastTLS {
		t.Error("ConnInfo.TLS = false over implicit TLS")
	}
}

func TestShutdownGraceful(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	idle, _ := dial(t, ts.addr)
	busy, _ := dial(t, ts.addr)
	busy.login("alice", "secret")

	shutdownErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shutdownErr <- ts.srv.Shutdown(ctx)
	}()

	// The idle connection in AUTHORIZATION state is closed promptly.
	if got := idle.line(); got != "-ERR [SYS/TEMP] server shutting down" {
		t.Fatalf("idle connection got %q", got)
	}
	idle.expectEOF()
	select {
	case err := <-ts.serveErr:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
		ts.serveErr <- err // for the cleanup check
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if nc, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		nc.Close()
		t.Error("listener still accepting after Shutdown")
	}

	// The session in TRANSACTION state finishes its work.
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned %v while a session is active", err)
	case <-time.After(100 * time.Millisecond):
	}
	busy.expect("STAT", "+OK 3 "+itoa(total))
	busy.expect("DELE 1", "+OK message 1 deleted")
	busy.expect("QUIT", "+OK bye (1 message deleted)")
	select {
	case err := <-shutdownErr:
		if err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the last session ended")
	}
	box := ts.backend.box("alice")
	ts.backend.with(func() {
		if len(box.commits) != 1 || !slices.Equal(box.commits[0], []int{0}) || box.closes != 1 {
			t.Errorf("commits = %v, closes = %d", box.commits, box.closes)
		}
	})
}

func TestShutdownTimeout(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	busy, _ := dial(t, ts.addr)
	busy.login("alice", "secret")
	busy.expect("DELE 1", "+OK message 1 deleted")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	// Shutdown has waited for the handler: Close already happened.
	box := ts.backend.box("alice")
	ts.backend.with(func() {
		if box.closes != 1 || len(box.commits) != 0 || box.locked {
			t.Errorf("closes = %d, commits = %v, locked = %v", box.closes, box.commits, box.locked)
		}
	})
	busy.expectEOF()
}

func TestShutdownDuringLogin(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	aborted := make(chan struct{})
	ts.backend.with(func() { ts.backend.blockCtx = aborted })
	c, _ := dial(t, ts.addr)
	c.expect("USER alice", "+OK send PASS")
	c.send("PASS secret")
	waitFor(t, ts.backend, "Login to start", func() bool { return ts.backend.blocked == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	select {
	case <-aborted: // the Login context was canceled
	default:
		t.Error("Login still running after Shutdown returned")
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	idle, _ := dial(t, ts.addr)
	busy, _ := dial(t, ts.addr)
	busy.login("alice", "secret")
	busy.expect("DELE 2", "+OK message 2 deleted")
	if err := ts.srv.Close(); err != nil {
		t.Fatal(err)
	}
	box := ts.backend.box("alice")
	ts.backend.with(func() {
		if box.closes != 1 || len(box.commits) != 0 {
			t.Errorf("closes = %d, commits = %v", box.closes, box.commits)
		}
	})
	idle.expectEOF()
	busy.expectEOF()
	// Close is idempotent.
	if err := ts.srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func newClientOn(t testing.TB, nc net.Conn) *client {
	t.Helper()
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, tp: textproto.NewConn(nc)}
}

func itoa(n int) string { return strconv.Itoa(n) }
