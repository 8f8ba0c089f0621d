package proxied

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// start serves l with a server that speaks first, as FTP, SMTP, IMAP and
// POP3 do: it greets with the client address it sees, then echoes lines.
func start(t *testing.T, trusted ...string) (*Listener, string) {
	return startTimeout(t, 300*time.Millisecond, trusted...)
}

func startTimeout(t *testing.T, timeout time.Duration, trusted ...string) (*Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ps []netip.Prefix
	for _, s := range trusted {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	l := New(ln, ps, nil)
	l.HeaderTimeout = timeout
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "hello "+c.RemoteAddr().String()+"\r\n")
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					io.WriteString(c, "echo "+line)
				}
			}()
		}
	}()
	return l, ln.Addr().String()
}

// dial connects from the loopback address from (127.0.0.x), writes pre,
// and returns the connection and a reader on it.
func dial(t *testing.T, from, addr string, pre []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if len(pre) > 0 {
		if _, err := c.Write(pre); err != nil {
			t.Fatal(err)
		}
	}
	return c, bufio.NewReader(c)
}

func header(t *testing.T, version byte, src, dst string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(version, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, line)
	}
	return strings.TrimRight(line, "\r\n")
}

// closedWithoutGreeting asserts the server closed the connection without
// sending anything.
func closedWithoutGreeting(t *testing.T, r *bufio.Reader) {
	t.Helper()
	line, err := r.ReadString('\n')
	if err == nil || line != "" {
		t.Fatalf("got %q, %v; want the connection closed without a greeting", line, err)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open: %v", err)
	}
}

func TestClientAddressFromHeader(t *testing.T) {
	_, addr := start(t, "127.0.0.0/8")
	for _, tc := range []struct {
		name string
		pre  []byte
		want string
	}{
		{"v1", header(t, 1, "192.0.2.10:40000", "198.51.100.1:21"), "192.0.2.10:40000"},
		{"v2", header(t, 2, "192.0.2.10:40001", "198.51.100.1:21"), "192.0.2.10:40001"},
		{"v2 IPv6", header(t, 2, "[2001:db8::7]:40002", "[2001:db8::1]:21"), "[2001:db8::7]:40002"},
		{"v1 text", []byte("PROXY TCP4 203.0.113.9 198.51.100.1 5000 21\r\n"), "203.0.113.9:5000"},
		{"v2 IPv4-mapped", header(t, 2, "[::ffff:192.0.2.44]:40003", "[::ffff:198.51.100.1]:21"), "192.0.2.44:40003"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := dial(t, "127.0.0.1", addr, tc.pre)
			if got := readLine(t, r); got != "hello "+tc.want {
				t.Fatalf("greeting %q, want client %s", got, tc.want)
			}
		})
	}
}

// Bytes that arrive in the same segment as the header reach the server.
func TestBytesAfterHeader(t *testing.T) {
	_, addr := start(t, "127.0.0.1/32")
	pre := append(header(t, 2, "192.0.2.10:1234", "127.0.0.1:21"), "NOOP\r\n"...)
	_, r := dial(t, "127.0.0.1", addr, pre)
	if got := readLine(t, r); got != "hello 192.0.2.10:1234" {
		t.Fatal(got)
	}
	if got := readLine(t, r); got != "echo NOOP" {
		t.Fatal(got)
	}
}

// A LOCAL header (v2) or PROXY UNKNOWN (v1), what balancers send for their
// own health checks, keeps the proxy's address.
func TestLocalKeepsProxyAddress(t *testing.T) {
	_, addr := start(t, "127.0.0.0/8")
	local := &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
	b, err := local.Format()
	if err != nil {
		t.Fatal(err)
	}
	for name, pre := range map[string][]byte{"v2 LOCAL": b, "v1 UNKNOWN": []byte("PROXY UNKNOWN\r\n")} {
		t.Run(name, func(t *testing.T) {
			c, r := dial(t, "127.0.0.3", addr, pre)
			if got := readLine(t, r); got != "hello "+c.LocalAddr().String() {
				t.Fatalf("greeting %q, want the proxy's own address %s", got, c.LocalAddr())
			}
		})
	}
}

func TestRefused(t *testing.T) {
	_, addr := start(t, "127.0.0.2/32")
	t.Run("header from an untrusted address", func(t *testing.T) {
		_, r := dial(t, "127.0.0.1", addr, header(t, 1, "192.0.2.10:1", "127.0.0.1:21"))
		closedWithoutGreeting(t, r)
	})
	t.Run("direct client from an untrusted address", func(t *testing.T) {
		_, r := dial(t, "127.0.0.1", addr, nil)
		closedWithoutGreeting(t, r)
	})
	t.Run("trusted proxy without a header", func(t *testing.T) {
		_, r := dial(t, "127.0.0.2", addr, []byte("USER alice\r\n"))
		closedWithoutGreeting(t, r)
	})
	t.Run("trusted proxy with a broken header", func(t *testing.T) {
		_, r := dial(t, "127.0.0.2", addr, []byte("PROXY TCP4 999.0.2.10 127.0.0.1 1 21\r\n"))
		closedWithoutGreeting(t, r)
	})
	t.Run("trusted proxy that stays silent", func(t *testing.T) {
		_, r := dial(t, "127.0.0.2", addr, nil)
		closedWithoutGreeting(t, r) // after HeaderTimeout
	})
	t.Run("v2 over UDP", func(t *testing.T) {
		h := proxyproto.HeaderProxyFromAddrs(2, &net.UDPAddr{IP: net.ParseIP("192.0.2.10"), Port: 1},
			&net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 21})
		b, err := h.Format()
		if err != nil {
			t.Fatal(err)
		}
		_, r := dial(t, "127.0.0.2", addr, b)
		closedWithoutGreeting(t, r)
	})
}

// A proxy that never sends its header does not hold up other connections.
func TestSilentConnectionDoesNotBlockAccept(t *testing.T) {
	_, addr := startTimeout(t, time.Hour, "127.0.0.0/8")
	silent, _ := dial(t, "127.0.0.1", addr, nil)
	defer silent.Close()
	_, r := dial(t, "127.0.0.1", addr, header(t, 1, "192.0.2.10:7", "127.0.0.1:21"))
	if got := readLine(t, r); got != "hello 192.0.2.10:7" {
		t.Fatal(got)
	}
}

func TestCloseEndsAccept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, nil, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		var op *net.OpError
		if !errors.Is(err, net.ErrClosed) || !errors.As(err, &op) || op.Err.Error() != "use of closed network connection" {
			t.Fatalf("Accept after Close: %#v, want the *net.OpError of a closed listener", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Accept: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("the port still accepts connections")
	}
}
