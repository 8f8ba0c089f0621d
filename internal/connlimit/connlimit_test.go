package connlimit_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/connlimit"
)

// serve accepts on l until it is closed and hands each connection to got.
func serve(t *testing.T, l net.Listener, got chan<- net.Conn) {
	t.Helper()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			got <- c
		}
	}()
	t.Cleanup(func() { l.Close() })
}

func listen(t *testing.T, opts connlimit.Options) (*connlimit.Listener, chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := connlimit.New(ln, opts)
	got := make(chan net.Conn, 16)
	serve(t, l, got)
	return l, got
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The refusal line reaches the client, a closed connection frees its
// place once however often it is closed, and Of finds the Conn under TLS.
func TestCapsAndRelease(t *testing.T) {
	l, got := listen(t, connlimit.Options{Max: 2, MaxPerAddr: 1,
		Refuse: func(reason string) string { return "NO " + reason + "\r\n" }})
	dial(t, l.Addr().String())
	first := <-got
	extra := dial(t, l.Addr().String())
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(extra).ReadString('\n')
	if line != "NO "+connlimit.ReasonPerAddr+"\r\n" {
		t.Fatalf("second connection from one address: %q", line)
	}
	if l.Open() != 1 {
		t.Fatalf("%d open after a refusal, want 1", l.Open())
	}
	first.Close()
	first.Close()
	if l.Open() != 0 {
		t.Fatalf("%d open after closing twice, want 0", l.Open())
	}
	if connlimit.Of(tls.Server(first, &tls.Config{})) != first.(*connlimit.Conn) {
		t.Fatal("Of does not look through TLS")
	}
	if connlimit.Of(&net.TCPConn{}) != nil {
		t.Fatal("Of found a Conn in a plain TCP connection")
	}
}

// Until LoggedIn, no read deadline reaches past the login deadline; after
// it the server's own deadline applies again.
func TestLoginDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	l, got := listen(t, connlimit.Options{LoginTimeout: timeout})
	client := dial(t, l.Addr().String())
	srv := <-got
	start := time.Now()
	buf := make([]byte, 1)
	// A trickle: every byte read, the server asks for ten more seconds.
	for {
		srv.SetReadDeadline(time.Now().Add(10 * time.Second))
		client.Write([]byte("x"))
		if _, err := srv.Read(buf); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read: %v", err)
			}
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("the trickle kept the connection past its login deadline")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(start); d < timeout-50*time.Millisecond {
		t.Fatalf("deadline after %v, before the login timeout %v", d, timeout)
	}

	client2 := dial(t, l.Addr().String())
	srv2 := <-got
	srv2.SetReadDeadline(time.Now().Add(10 * time.Second))
	connlimit.Of(srv2).LoggedIn()
	time.AfterFunc(2*timeout, func() { client2.Write([]byte("late\n")) })
	line, err := bufio.NewReader(srv2).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "late") {
		t.Fatalf("after LoggedIn: %q %v", line, err)
	}
}

// Release gives the place back while the connection stays open, and the
// Close after it does not count it out a second time.
func TestReleaseBeforeClose(t *testing.T) {
	l, got := listen(t, connlimit.Options{MaxPerAddr: 1})
	dial(t, l.Addr().String())
	c := <-got
	if n := l.Open(); n != 1 {
		t.Fatalf("open = %d, want 1", n)
	}
	connlimit.Of(c).Release()
	if n := l.Open(); n != 0 {
		t.Fatalf("open after Release = %d, want 0", n)
	}
	if _, err := c.Write([]byte("221 bye\r\n")); err != nil {
		t.Fatalf("write after Release: %v", err)
	}
	dial(t, l.Addr().String())
	second := <-got
	c.Close()
	if n := l.Open(); n != 1 {
		t.Fatalf("open after the first one's Close = %d, want 1 (the second)", n)
	}
	second.Close()
	if n := l.Open(); n != 0 {
		t.Fatalf("open = %d, want 0", n)
	}
}
