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

// With Wait, a connection over the cap is held without a word until a
// place frees, then accepted; one that finds no place within Wait gets
// the refusal line. Close closes the held ones and returns.
func TestWaitForPlace(t *testing.T) {
	l, got := listen(t, connlimit.Options{MaxPerAddr: 1, Wait: 2 * time.Second,
		Refuse: func(reason string) string { return "NO " + reason + "\r\n" }})
	dial(t, l.Addr().String())
	first := <-got
	dial(t, l.Addr().String())
	select {
	case c := <-got:
		t.Fatalf("second connection accepted while the first holds the place: %v", c.RemoteAddr())
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	select {
	case second := <-got:
		if l.Open() != 1 {
			t.Fatalf("%d open, want 1", l.Open())
		}
		defer second.Close()
	case <-time.After(time.Second):
		t.Fatal("the held connection was not accepted when the place freed")
	}

	start := time.Now()
	third := dial(t, l.Addr().String())
	third.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(third).ReadString('\n')
	if line != "NO "+connlimit.ReasonPerAddr+"\r\n" {
		t.Fatalf("connection over the cap after Wait: %q", line)
	}
	if d := time.Since(start); d < 1900*time.Millisecond {
		t.Fatalf("refused after %v, before Wait", d)
	}

	held := dial(t, l.Addr().String())
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- l.Close() }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Close waited for a held connection")
	}
	held.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := held.Read(make([]byte, 10)); err == nil {
		t.Fatalf("held connection got %d bytes after Close, want it closed", n)
	}
}

// Connections behind one that waits wait too, up to the address's cap
// of them (beyond it one is refused at once), and each gets a place in
// turn as places free.
func TestWaitQueue(t *testing.T) {
	l, got := listen(t, connlimit.Options{MaxPerAddr: 2, Wait: 5 * time.Second,
		Refuse: func(reason string) string { return "NO " + reason + "\r\n" }})
	dial(t, l.Addr().String())
	dial(t, l.Addr().String())
	open := []net.Conn{<-got, <-got}
	dial(t, l.Addr().String())
	dial(t, l.Addr().String())
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	extra := dial(t, l.Addr().String())
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, _ := bufio.NewReader(extra).ReadString('\n'); line != "NO "+connlimit.ReasonPerAddr+"\r\n" || time.Since(start) > time.Second {
		t.Fatalf("fifth connection, two waiting: %q after %v; want refused at once", line, time.Since(start))
	}
	for i := range 2 {
		open[i].Close()
		select {
		case open[i] = <-got:
		case <-time.After(2 * time.Second):
			t.Fatalf("held connection %d not accepted when a place freed", i)
		}
		if l.Open() != 2 {
			t.Fatalf("%d open, want 2", l.Open())
		}
	}
	open[0].Close()
	open[1].Close()
	if l.Open() != 0 {
		t.Fatalf("%d open at the end, want 0", l.Open())
	}
}

// After Close, Accept fails as a closed net.Listener does (a *net.OpError
// wrapping net.ErrClosed), which servers take for a clean stop.
func TestAcceptAfterCloseWithWait(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := connlimit.New(ln, connlimit.Options{MaxPerAddr: 1, Wait: time.Second})
	l.Close()
	for range 3 {
		_, err := l.Accept()
		var op *net.OpError
		if !errors.As(err, &op) || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %#v", err)
		}
	}
}
