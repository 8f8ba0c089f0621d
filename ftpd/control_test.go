package ftpd_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/ftpd"
)

// The commands Ferry's control layer answers in front of the engine, and
// the parameters it refuses, with the session going on after each.
func TestControlLayerCommands(t *testing.T) {
	e := newEnv(t, envOpts{})
	mustWrite(t, e.partnerFile("acme", "h.txt"), []byte("hello\n"))
	c := e.raw(e.addr)
	// Before login: HELP and ACCT are answered, STRU is refused like the
	// engine's other commands.
	if msg := c.must(214, "HELP"); !strings.Contains(msg, "RETR") || !strings.Contains(msg, "STRU") {
		t.Errorf("HELP before login: %q", msg)
	}
	c.must(202, "ACCT anything")
	c.must(530, "STRU F")
	c.login("alice")
	for _, tc := range []struct {
		cmd  string
		code int
	}{
		{"STRU F", 200}, {"stru f", 200}, {"STRU R", 200}, {"STRU P", 504}, {"STRU 1", 501}, {"STRU", 501},
		{"ACCT acme", 202}, {"HELP RETR", 214}, {"HELP stru", 214}, {"HELP XYZZY", 502},
		{"TYPE X", 501}, {"TYPE", 501}, {"TYPE A T", 504}, {"TYPE E", 200}, {"TYPE L 7", 504},
		{"MODE", 501}, {"MODE B", 200}, {"MODE C", 200}, {"MODE Q", 501}, {"MODE Z", 200},
		{"OPTS MODE Z LEVEL 9", 200}, {"OPTS MODE Z LEVEL 10", 501},
		{"STRU F", 200}, {"MODE S", 200},
		{"PBSZ 0", 503}, {"PROT P", 503}, // no TLS on this connection
		{"AUTH KERBEROS_V4", 504}, {"AUTH", 501},
		{"NOOP", 200},
	} {
		if code, msg := c.cmd("%s", tc.cmd); code != tc.code {
			t.Errorf("%s: got %d %s, want %d", tc.cmd, code, msg, tc.code)
		}
	}
	if msg := c.must(214, "SITE HELP"); !strings.Contains(msg, "CHMOD") {
		t.Errorf("SITE HELP: %q", msg)
	}
	msg := c.must(214, "HELP")
	for _, verb := range []string{"ABOR", "ACCT", "HELP", "STRU", "MLSD", "EPSV", "XSHA256"} {
		if !strings.Contains(msg, verb) {
			t.Errorf("HELP lacks %s: %q", verb, msg)
		}
	}

	// FEAT lists HASH with its keyword (draft-bryan-ftpext-hash), the
	// selected algorithm marked, and no bare algorithm line.
	c.must(200, "OPTS HASH SHA-1")
	feat := c.must(211, "FEAT")
	if !strings.Contains(feat, "\n HASH SHA-256;SHA-512;SHA-1*;MD5;CRC32\n") {
		t.Errorf("FEAT without the HASH line in draft form: %q", feat)
	}
	for l := range strings.SplitSeq(feat, "\n") {
		if strings.Contains(l, ";") && !strings.HasPrefix(l, " HASH ") {
			t.Errorf("FEAT line %q", l)
		}
	}
	c.must(200, "OPTS HASH SHA-256")
	if feat := c.must(211, "FEAT"); !strings.Contains(feat, " HASH SHA-256*;") {
		t.Errorf("FEAT after OPTS HASH SHA-256: %q", feat)
	}

	// STAT reports the representation the session is in.
	c.must(200, "TYPE I")
	stat := c.must(211, "STAT")
	if !strings.Contains(stat, "TYPE: Image; STRUcture: File; MODE: Stream") || !strings.Contains(stat, "Logged in as alice") {
		t.Errorf("STAT: %q", stat)
	}
	c.must(200, "TYPE A")
	if stat := c.must(211, "STAT"); !strings.Contains(stat, "TYPE: ASCII Non-print;") {
		t.Errorf("STAT after TYPE A: %q", stat)
	}
	if got := c.retr("h.txt"); string(got) != "hello\r\n" {
		t.Errorf("TYPE A download after the layer's replies: %q", got)
	}
	c.must(221, "QUIT")
}

// A line over the limit, up to a 1 MiB one, gets 500 and the session goes
// on; a line at the limit reaches the engine.
func TestControlLongLines(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.raw(e.addr)
	c.login("alice")
	for _, n := range []int{4095, 5000, 1 << 20} {
		line := "NOOP " + strings.Repeat("x", n)
		if code, msg := c.cmd("%s", line); code != 500 || !strings.Contains(msg, "too long") {
			t.Errorf("%d-byte line: %d %s, want 500", len(line), code, msg)
		}
		c.must(257, "PWD")
	}
	// 4094 bytes and CRLF: the longest line handed on.
	c.must(200, "NOOP %s", strings.Repeat("x", 4094-len("NOOP ")))
	c.must(221, "QUIT")
}

// Commands sent in one write get their replies in the order sent, whether
// the engine or the layer answers them, also behind a transfer.
func TestControlPipelinedReplies(t *testing.T) {
	e := newEnv(t, envOpts{})
	data := randomBytes(t, 8<<20)
	mustWrite(t, e.partnerFile("acme", "big.bin"), data)
	c := e.raw(e.addr)
	c.login("alice")
	send := func(lines ...string) {
		t.Helper()
		c.setDeadline()
		if _, err := io.WriteString(c.conn, strings.Join(lines, "\r\n")+"\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	send("NOOP", "STRU F", "PWD", "HELP", "TYPE I", "ACCT x", "SYST", "STRU R", "FEAT", "HELP PWD", "MODE S", "STRU F", "STAT")
	for _, want := range []int{200, 200, 257, 214, 200, 202, 215, 200, 211, 214, 200, 200, 211} {
		c.expect(want)
	}

	// The layer's STRU and HELP wait for the transfer sent before them.
	for range 3 {
		d := c.pasv()
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(d)
			d.Close()
			got <- b
		}()
		send("RETR big.bin", "STRU F", "HELP NOOP", "NOOP")
		c.expect(150)
		c.expect(226)
		c.expect(200)
		c.expect(214)
		c.expect(200)
		if b := <-got; !bytes.Equal(b, data) {
			t.Fatalf("download of %d bytes differs", len(b))
		}
	}

	// An aborted transfer, then a command the layer answers.
	d := c.pasv()
	defer d.Close()
	send("RETR big.bin")
	c.expect(150)
	send("ABOR", "STRU F", "PWD")
	if code, _ := c.read(); code != 426 && code != 226 {
		t.Fatalf("transfer after ABOR: %d", code)
	}
	for code, _ := c.read(); code != 200; code, _ = c.read() {
		if code != 226 { // ABOR's own reply
			t.Fatalf("after ABOR: %d", code)
		}
	}
	c.expect(257)
	c.must(221, "QUIT")
}

// PORT and EPRT to a privileged port or to another address than the
// client's are refused with 501 before any connection is made.
func TestControlPortPolicy(t *testing.T) {
	e := newEnv(t, envOpts{})
	mustWrite(t, e.partnerFile("acme", "a.txt"), []byte("active data"))
	c := e.raw(e.addr)
	c.must(530, "PORT 127,0,0,1,0,21") // before login, as every other command
	c.login("alice")
	// A listener on a privileged port, where this test may bind one.
	var priv net.Listener
	for p := 1000; p < 1024 && priv == nil; p++ {
		priv, _ = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	}
	port := 21
	accepted := make(chan struct{}, 1)
	if priv != nil {
		defer priv.Close()
		port = priv.Addr().(*net.TCPAddr).Port
		go func() {
			if conn, err := priv.Accept(); err == nil {
				conn.Close()
				accepted <- struct{}{}
			}
		}()
	}
	for _, cmd := range []string{
		fmt.Sprintf("PORT 127,0,0,1,%d,%d", port/256, port%256),
		fmt.Sprintf("EPRT |1|127.0.0.1|%d|", port),
		"PORT 127,0,0,1,0,21", "EPRT |1|127.0.0.1|21|",
		"PORT 10,1,2,3,200,0", "EPRT |1|10.1.2.3|51200|", "EPRT |2|::1|51200|",
	} {
		if code, msg := c.cmd("%s", cmd); code != 501 {
			t.Errorf("%s: %d %s, want 501", cmd, code, msg)
		}
		// No data connection was set up: the engine never saw the PORT.
		if code, msg := c.cmd("RETR a.txt"); code/100 == 1 || code/100 == 2 {
			t.Fatalf("RETR after a refused %s: %d %s", cmd, code, msg)
		}
	}
	select {
	case <-accepted:
		t.Fatal("the server connected to a privileged port")
	default:
	}
	// The client's own address and an unprivileged port pass.
	p, got := activeReceiver(t)
	c.must(200, "EPRT |1|127.0.0.1|%d|", p)
	c.must(150, "RETR a.txt")
	c.expect(226)
	if b := <-got; string(b) != "active data" {
		t.Fatalf("active download: %q", b)
	}
}

// Explicit FTPS terminated by the control layer: RFC 4217's order of AUTH,
// PBSZ and PROT, the account's TLS policy, the session listed as TLS, and
// data connections that resume the control connection's TLS session.
func TestControlTLS(t *testing.T) {
	e := newEnv(t, envOpts{})
	data := randomBytes(t, 1<<20)
	mustWrite(t, e.partnerFile("acme", "s.bin"), data)

	// Plain text sent after AUTH TLS, before the handshake, is dropped,
	// not run as a command over TLS.
	c := e.raw(e.addr)
	c.setDeadline()
	if _, err := io.WriteString(c.conn, "AUTH TLS\r\nUSER alice\r\n"); err != nil {
		t.Fatal(err)
	}
	c.expect(234)
	cache := tls.NewLRUClientSessionCache(4)
	conf := &tls.Config{InsecureSkipVerify: true, ServerName: "ferry.test", ClientSessionCache: cache} //nolint:gosec // self-signed test certificate
	tc := tls.Client(c.conn, conf)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.tp = tc, textproto.NewConn(tc)
	c.must(200, "NOOP") // not the 331 of the USER sent in clear
	c.must(503, "AUTH TLS")
	c.must(503, "PROT P") // before PBSZ
	c.must(501, "PBSZ x")
	c.must(200, "PBSZ 0")
	c.must(536, "PROT E")
	c.must(536, "PROT S")
	c.must(504, "PROT Q")
	c.login("tina")
	c.must(534, "PROT C") // tina requires TLS on data connections too
	c.must(200, "PROT P")
	c.must(200, "TYPE I")
	if stat := c.must(211, "STAT"); !strings.Contains(stat, "Control connection: TLS; data connections: TLS (PROT P)") {
		t.Errorf("STAT: %q", stat)
	}
	found := false
	for _, s := range e.srv.Sessions() {
		if s.Username == "tina" {
			found = true
			if !s.TLS {
				t.Errorf("session over AUTH TLS listed without TLS: %+v", s)
			}
		}
	}
	if !found {
		t.Fatalf("tina's session not listed: %+v", e.srv.Sessions())
	}
	for i := range 3 {
		d := c.pasv()
		dc := tls.Client(d, conf)
		c.must(150, "RETR s.bin")
		got, err := io.ReadAll(dc)
		if err != nil {
			t.Fatal(err)
		}
		if !dc.ConnectionState().DidResume {
			t.Errorf("data connection %d did not resume the control connection's TLS session", i)
		}
		dc.Close()
		c.expect(226)
		if !bytes.Equal(got, data) {
			t.Fatal("FTPS download differs")
		}
	}
	c.must(221, "QUIT")

	// On a plain connection a TLS-only account is refused at USER, before
	// its password travels in clear.
	p := e.raw(e.addr)
	if code, msg := p.cmd("USER tina"); code != 530 || !strings.Contains(msg, "requires TLS") {
		t.Fatalf("plain USER tina: %d %s", code, msg)
	}

	// Implicit FTPS: TLS from the first byte; PROT C has no meaning there.
	ic, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.implicit, conf)
	if err != nil {
		t.Fatal(err)
	}
	it := &ctl{t: t, conn: ic, tp: textproto.NewConn(ic)}
	defer it.tp.Close()
	it.expect(220)
	it.must(200, "PBSZ 0")
	it.must(536, "PROT C")
	it.must(200, "PROT P")
	it.login("tina")
	it.must(200, "TYPE I")
	d := it.pasv()
	dc := tls.Client(d, conf)
	it.must(150, "RETR s.bin")
	if got, err := io.ReadAll(dc); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("implicit FTPS download: %v", err)
	}
	if !dc.ConnectionState().DidResume {
		t.Error("implicit FTPS data connection did not resume the control session")
	}
	dc.Close()
	it.expect(226)
}

// Python's ftplib over explicit FTPS: each data connection resumes the
// control connection's TLS session when the client offers it (as FileZilla
// and lftp do; ftplib itself does not, so the script passes it), and the
// layer's replies reach it in order.
func TestControlFtplibTLSReuse(t *testing.T) {
	py := need(t, "python3")
	e := newEnv(t, envOpts{})
	dir := t.TempDir()
	mustWrite(t, e.partnerFile("acme", "r.txt"), []byte("reuse me\n"))
	script := filepath.Join(dir, "reuse.py")
	_, port := splitPort(e.addr)
	if err := os.WriteFile(script, []byte(`import ftplib, io, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
reused = []
class F(ftplib.FTP_TLS):
    # ftplib does not offer the control session on data connections; offer
    # it as FileZilla and lftp do, and note whether the server resumed it.
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        reused.append(conn.session_reused)
        return conn, size
f = F(context=ctx, timeout=20)
f.connect("127.0.0.1", int(sys.argv[1]))
f.auth()
f.login("tina", sys.argv[2])
f.prot_p()
assert f.sendcmd("STRU F").startswith("200"), "STRU F"
assert f.sendcmd("HELP RETR").startswith("214"), "HELP"
for i in range(3):
    buf = io.BytesIO()
    f.retrbinary("RETR r.txt", buf.write)
    assert buf.getvalue() == b"reuse me\n", buf.getvalue()
    f.storbinary("STOR up%d.txt" % i, io.BytesIO(b"up %d\n" % i))
names = f.nlst()
assert "up2.txt" in names, names
f.quit()
print("reused", reused)
assert reused and all(reused), reused
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := run(t, dir, py, script, port, pw)
	if !strings.Contains(out, "reused [True, True, True, True, True, True, True]") {
		t.Fatalf("ftplib: %s", out)
	}
}

// A reply stream check through a raw reader: the engine's replies after a
// layer reply keep their multi-line form.
func TestControlFeatIsOneReply(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.raw(e.addr)
	c.setDeadline()
	if _, err := io.WriteString(c.conn, "FEAT\r\nHELP\r\nNOOP\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c.conn)
	var lines []string
	for len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "200 ") {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", lines, err)
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
	}
	var finals []string
	for _, l := range lines {
		if len(l) >= 4 && l[3] == ' ' && l[0] >= '1' && l[0] <= '5' {
			finals = append(finals, l[:3])
		}
	}
	if strings.Join(finals, ",") != "211,214,200" {
		t.Errorf("final reply lines %v in %q", finals, lines)
	}
}

// Commands the layer answers count as activity as the engine's do, but
// cannot keep an unauthenticated connection past the login deadline; an
// idle session still gets the engine's 421 after them.
func TestControlTimeouts(t *testing.T) {
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) {
		s.LoginTimeout = time.Second
		s.IdleTimeout = 2 * time.Second
	}})
	c := e.raw(e.addr)
	start := time.Now()
	for {
		code, _ := c.cmd("HELP")
		if code == 421 {
			break
		}
		if code != 214 || time.Since(start) > 6*time.Second {
			t.Fatalf("HELP trickle before login: %d after %v", code, time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("closed after %v, want about the login timeout (1s)", d)
	}

	c = e.raw(e.addr)
	c.login("alice")
	for range 3 {
		time.Sleep(time.Second) // less than the idle timeout between commands
		c.must(200, "STRU F")
	}
	start = time.Now()
	if code, msg := c.read(); code != 421 || !strings.Contains(msg, "timeout") {
		t.Fatalf("idle session: %d %s", code, msg)
	}
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Errorf("idle 421 after %v, want about the idle timeout (2s)", d)
	}
}
