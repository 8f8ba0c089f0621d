package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	proxyproto "github.com/pires/go-proxyproto"

	"github.com/ferryhq/ferry/internal/testenv"
)

// proxyHeader is what a load balancer on 127.0.0.1 sends ahead of a client
// connection from client to the node at dst.
func proxyHeader(t *testing.T, version byte, client, dst string) []byte {
	t.Helper()
	if version == 1 {
		c, d := netip.MustParseAddrPort(client), netip.MustParseAddrPort(dst)
		return fmt.Appendf(nil, "PROXY TCP4 %s %s %d %d\r\n", c.Addr(), d.Addr(), c.Port(), d.Port())
	}
	h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(client)),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// viaProxy connects from the loopback address from, sends hdr (if any) and
// returns the connection with a line reader.
func viaProxy(t *testing.T, from, addr string, hdr []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if len(hdr) > 0 {
		if _, err := c.Write(hdr); err != nil {
			t.Fatal(err)
		}
	}
	return c, bufio.NewReader(c)
}

func greeting(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("no greeting: %v %q", err, line)
	}
	return strings.TrimSpace(line)
}

func refused(t *testing.T, what string, r *bufio.Reader) {
	t.Helper()
	line, err := r.ReadString('\n')
	if err == nil || line != "" {
		t.Fatalf("%s: got %q (%v), want the connection closed without a greeting", what, line, err)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("%s: connection left open", what)
	}
}

// ftpViaProxy logs in through a load balancer on 127.0.0.1 that claims the
// client is claim; data connections (which do not pass through the
// balancer) come straight from dataFrom.
func ftpViaProxy(t *testing.T, addr string, version byte, claim, dataFrom string) *ftp.ServerConn {
	t.Helper()
	first := true
	dial := func(network, address string) (net.Conn, error) {
		if first {
			first = false
			c, _ := viaProxy(t, "127.0.0.1", address, proxyHeader(t, version, claim, addr))
			_ = c.SetDeadline(time.Time{})
			return c, nil
		}
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(dataFrom)}}
		return d.Dial(network, address)
	}
	c, err := ftp.Dial(addr, ftp.DialWithDialFunc(dial), ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("dial through the proxy as %s: %v", claim, err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	return c
}

// Ferry behind a TCP load balancer speaking the PROXY protocol (here the
// test plays the balancer on 127.0.0.1): FTP, SMTP, IMAP and POP3 see the
// client address from the header in bans, audit, live sessions and FTP
// bounce protection; addresses that are not trusted proxies, and trusted
// proxies that send no header, are refused.
func TestProxyProtocol(t *testing.T) {
	bin := buildFerry(t)
	dir := t.TempDir()
	const token = "proxy-test-admin-token-0123456789"
	n := newNode(t, "proxied", bin, dir,
		"FERRY_PROXY_PROTOCOL=ftp,smtp,imap,pop3", "FERRY_TRUSTED_PROXIES=127.0.0.1",
		"FERRY_BAN_MAX_FAILURES=2", "FERRY_ADMIN_TOKEN="+token)
	f := &ferryCmd{t: t, bin: bin, dir: dir, env: n.env}
	f.ok("", "partner", "create", "acme")
	f.ok("s3cret-password\n", "account", "create", "--partner", "acme", "alice", "--password-stdin")
	// A bad PROXY setting stops Ferry at start, naming the key.
	for key, env := range map[string][]string{
		"FERRY_TRUSTED_PROXIES": {"FERRY_TRUSTED_PROXIES="},
		"FERRY_PROXY_PROTOCOL":  {"FERRY_PROXY_PROTOCOL=ftp,http"},
	} {
		bad := &ferryCmd{t: t, bin: bin, dir: dir, env: append(append([]string{}, n.env...), env...)}
		if out, code := bad.run("", "serve"); code != 2 || !strings.Contains(out, key) {
			t.Fatalf("%v: exit %d, want 2 and a message naming %s:\n%s", env, code, key, out)
		}
	}
	n.start()
	n.waitHealthy()

	for _, l := range []struct{ name, addr string }{{"ftp", n.ftp}, {"smtp", n.smtp}, {"imap", n.imap}, {"pop3", n.pop3}} {
		t.Run("refused/"+l.name, func(t *testing.T) {
			_, r := viaProxy(t, "127.0.0.2", l.addr, proxyHeader(t, 1, "192.0.2.10:40000", l.addr))
			refused(t, "header from an untrusted address", r)
			_, r = viaProxy(t, "127.0.0.2", l.addr, nil)
			refused(t, "direct client from an untrusted address", r)
			_, r = viaProxy(t, "127.0.0.1", l.addr, []byte("HELO x\r\n"))
			refused(t, "trusted proxy without a header", r)
		})
	}

	// Two failed logins claimed from 192.0.2.10 (v1, then v2) ban it.
	failLogin := func(version byte, port int) {
		t.Helper()
		c, r := viaProxy(t, "127.0.0.1", n.ftp, proxyHeader(t, version, fmt.Sprintf("192.0.2.10:%d", port), n.ftp))
		if g := greeting(t, r); !strings.HasPrefix(g, "220") {
			t.Fatalf("v%d greeting: %s", version, g)
		}
		fmt.Fprintf(c, "USER alice\r\n")
		if g := greeting(t, r); !strings.HasPrefix(g, "331") {
			t.Fatalf("USER: %s", g)
		}
		// While the session is open the admin API lists it with the
		// client's address, not the balancer's.
		code, raw := n.api("GET", "/api/v1/sessions", token, nil)
		if code != 200 || !bytes.Contains(raw, fmt.Appendf(nil, `"remote_addr":"192.0.2.10:%d"`, port)) {
			t.Fatalf("sessions: %d %s", code, raw)
		}
		fmt.Fprintf(c, "PASS wrong-password\r\n")
		if g := greeting(t, r); !strings.HasPrefix(g, "530") {
			t.Fatalf("PASS: %s", g)
		}
		c.Close()
	}
	failLogin(1, 40001)
	failLogin(2, 40002)
	if out := f.ok("", "ban", "list"); !strings.Contains(out, "192.0.2.10 ") || strings.Contains(out, "127.0.0.1") {
		t.Fatalf("ban list after two failures claimed from 192.0.2.10:\n%s", out)
	}
	// The ban applies to that client on every protocol, not to the balancer.
	for _, l := range []struct{ name, addr, banned, open string }{
		{"ftp", n.ftp, "421", "220"}, {"smtp", n.smtp, "421", "220"},
		{"imap", n.imap, "* BYE", "* OK"}, {"pop3", n.pop3, "-ERR", "+OK"},
	} {
		for _, v := range []byte{1, 2} {
			_, r := viaProxy(t, "127.0.0.1", l.addr, proxyHeader(t, v, "192.0.2.10:41000", l.addr))
			if g := greeting(t, r); !strings.HasPrefix(g, l.banned) {
				t.Errorf("%s v%d, banned client: %q, want %s", l.name, v, g, l.banned)
			}
			c, r := viaProxy(t, "127.0.0.1", l.addr, proxyHeader(t, v, "192.0.2.11:41000", l.addr))
			if g := greeting(t, r); !strings.HasPrefix(g, l.open) {
				t.Errorf("%s v%d, other client: %q, want %s", l.name, v, g, l.open)
			}
			// Idle SMTP sessions hold up shutdown until the grace period
			// ends; the SIGTERM check below wants none left.
			c.Close()
		}
	}

	// Passive data connections do not pass through the balancer: they must
	// come from the address the header names. From anywhere else the
	// transfer is refused (FTP-bounce protection).
	t.Run("passive from another address", func(t *testing.T) {
		c := ftpViaProxy(t, n.ftp, 2, "192.0.2.11:42000", "127.0.0.1")
		if err := c.Login("alice", "s3cret-password"); err != nil {
			t.Fatal(err)
		}
		if err := c.Stor("stolen.txt", strings.NewReader("x")); err == nil {
			t.Fatal("a data connection from 127.0.0.1 was accepted for a client at 192.0.2.11")
		}
	})
	for _, tc := range []struct {
		name    string
		version byte
		client  string // what the header claims, and where data connections come from
	}{
		{"passive v1 claiming 127.0.0.1", 1, "127.0.0.1"},
		{"passive v2 claiming 127.0.0.1", 2, "127.0.0.1"},
		{"passive v2 from the client's own address", 2, "127.0.0.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ftpViaProxy(t, n.ftp, tc.version, tc.client+":43000", tc.client)
			if err := c.Login("alice", "s3cret-password"); err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("v%d-%s.txt", tc.version, tc.client)
			body := strings.Repeat("through the balancer\n", 1000)
			if err := c.Stor(name, strings.NewReader(body)); err != nil {
				t.Fatalf("STOR: %v", err)
			}
			rc, err := c.Retr(name)
			if err != nil {
				t.Fatalf("RETR: %v", err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if string(got) != body {
				t.Fatalf("downloaded %d bytes, uploaded %d", len(got), len(body))
			}
		})
	}
	// The audit log records the client's address from the header (the row
	// is written in the background, within tens of milliseconds of the
	// 226).
	testenv.Eventually(t, 10*time.Second, func() error {
		code, raw := n.api("GET", "/api/v1/transfers?limit=100", token, nil)
		var list struct {
			Items []map[string]any `json:"items"`
		}
		if code != 200 || json.Unmarshal(raw, &list) != nil {
			return fmt.Errorf("transfers: %d %s", code, raw)
		}
		for _, it := range list.Items {
			if p, _ := it["path"].(string); strings.HasSuffix(p, "v2-127.0.0.5.txt") && it["operation"] == "upload" {
				if ra, _ := it["remote_addr"].(string); !strings.HasPrefix(ra, "127.0.0.5:") {
					t.Errorf("audit of an upload through the balancer: remote_addr %q, want the client 127.0.0.5", ra)
				}
				return nil
			}
		}
		return fmt.Errorf("no upload of /v2-127.0.0.5.txt in the audit log: %s", raw)
	})

	// SIGTERM stops the wrapped listeners like plain ones.
	if err := n.stop(); err != nil || strings.Contains(n.logs(), "level=ERROR") {
		t.Fatalf("shutdown: %v\n%s", err, n.logs())
	}
}
