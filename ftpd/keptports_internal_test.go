package ftpd

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
)

// engineListener stands for the engine's listener of one transfer.
func engineListener(t *testing.T) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func keptForTest(t *testing.T, n int) *keptPorts {
	t.Helper()
	if !canStopListening {
		t.Skip("kept ports on the control address need Linux")
	}
	first, last := testenv.FreePortRange(t, n)
	k := newKeptPorts(net.IPv4(127, 0, 0, 1), first, last, slog.New(slog.DiscardHandler))
	t.Cleanup(k.close)
	return k
}

// A port serves one reservation at a time, and is free again once its
// connection is handed over or the reservation closes unused; the
// engine's listener closes with the reservation.
func TestKeptPortReservations(t *testing.T) {
	k := keptForTest(t, 1)
	engine := engineListener(t)
	r, err := k.reserve(engine)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.reserve(engineListener(t)); !errors.Is(err, errPassivePort) {
		t.Fatalf("second reservation of the only port: %v, want errPassivePort", err)
	}
	if _, err := engine.Accept(); err == nil {
		t.Fatal("the engine's listener still accepts")
	}

	// Its connection is handed over; the port is then free at once.
	addr := r.Addr().String()
	client, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := r.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if server.RemoteAddr().String() != client.LocalAddr().String() {
		t.Fatalf("accepted %s, dialled from %s", server.RemoteAddr(), client.LocalAddr())
	}
	next, err := k.reserve(engineListener(t))
	if err != nil {
		t.Fatalf("reservation after the connection was handed over: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := engine.SetDeadline(time.Now()); err == nil {
		t.Fatal("the engine's listener is still open after the reservation closed")
	}
	// The first reservation's Close left the second one's port alone.
	if _, err := k.reserve(engineListener(t)); !errors.Is(err, errPassivePort) {
		t.Fatalf("reservation while the port is held: %v, want errPassivePort", err)
	}

	// Closed unused: the port is free, and a connection that came but was
	// not accepted is closed.
	late, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	testenv.Eventually(t, 5*time.Second, func() error {
		if len(next.(*keptReservation).conn) == 0 {
			return errors.New("the connection has not reached the reservation")
		}
		return nil
	})
	next.Close()
	_ = late.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := late.Read(make([]byte, 1)); err == nil || n > 0 {
		t.Fatalf("a connection the closed reservation did not accept was kept (%d bytes, %v)", n, err)
	}
	third, err := k.reserve(engineListener(t))
	if err != nil {
		t.Fatalf("reservation after an unused one closed: %v", err)
	}
	third.Close()
}

// A reservation waits for its connection as long as the engine would,
// then fails with a timeout; closing the ports ends a waiting Accept.
func TestKeptPortWaits(t *testing.T) {
	k := keptForTest(t, 2)
	k.wait = 50 * time.Millisecond
	r, err := k.reserve(engineListener(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.Accept()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Accept without a connection: %v, want a timeout", err)
	}

	k.wait = time.Minute
	r2, err := k.reserve(engineListener(t))
	if err != nil {
		t.Fatal(err)
	}
	port := r2.Addr().(*net.TCPAddr).Port
	got := make(chan error, 1)
	go func() { _, err := r2.Accept(); got <- err }()
	time.Sleep(20 * time.Millisecond)
	k.close()
	select {
	case err := <-got:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waits after the ports closed")
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second); err == nil {
		c.Close()
		t.Fatal("port still open after close")
	}
	if _, err := k.reserve(engineListener(t)); err == nil {
		t.Fatal("reservation after close")
	}
}

// A port another program holds is skipped.
func TestKeptPortSkipsTakenPorts(t *testing.T) {
	k := keptForTest(t, 4)
	for p := k.first; p < k.end; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
	}
	for range 3 {
		r, err := k.reserve(engineListener(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Addr().(*net.TCPAddr).Port; got != k.end {
			t.Fatalf("reserved port %d, held by another program; want %d", got, k.end)
		}
		r.Close()
	}
}
