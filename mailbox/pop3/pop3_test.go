package pop3_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/mailbox/pop3"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

type pop3Env struct {
	*mailtest.Env
	addr, port string
	srv        *pop3.Server
}

func startPOP3(t *testing.T, b storetest.Backend) *pop3Env {
	t.Helper()
	e := &pop3Env{Env: mailtest.New(t, b)}
	srv := &pop3.Server{Store: e.Mail, Logins: e.Logins, Guard: e.Guard, TLSConfig: e.TLS}
	e.srv = srv
	e.addr = testenv.Serve(t, srv, pop3.ErrServerClosed)
	_, e.port, _ = net.SplitHostPort(e.addr)
	for i := range 3 {
		if _, err := e.Mail.Deliver(context.Background(), "acme", mailtest.Message(fmt.Sprintf("pop %d", i+1), "body\r\n.dot line")); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *pop3Env) uids(t *testing.T) []int64 {
	t.Helper()
	f, err := e.Mail.Folder(context.Background(), e.Acme.ID, store.MailInbox)
	if err != nil {
		t.Fatal(err)
	}
	uids, err := e.DB.MailUIDs(context.Background(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	return uids
}

// poplib runs a script after a STLS login as alice (variable p).
func (e *pop3Env) poplib(t *testing.T, body string) string {
	t.Helper()
	testenv.Need(t, "python3")
	return mailtest.Python(t, `
import poplib, ssl, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=20)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p.stls(context=ctx)
p.user("alice"); p.pass_(sys.argv[2])
`+body, e.port, mailtest.Password)
}

func TestPOP3KeepAndDeleteModes(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := startPOP3(t, b)
			f, _ := e.Mail.Folder(context.Background(), e.Acme.ID, "INBOX")
			// Download and keep.
			out := e.poplib(t, `
print("stat", p.stat())
print("uidl", [l.decode() for l in p.uidl()[1]])
resp, lines, octets = p.retr(2)
print("retr", repr(b"\r\n".join(lines) + b"\r\n"), octets)
p.quit()
`)
			want := fmt.Sprintf("uidl ['1 %d.1', '2 %d.2', '3 %d.3']", f.UIDValidity, f.UIDValidity, f.UIDValidity)
			if !strings.Contains(out, want) || !strings.Contains(out, "body\\r\\n.dot line\\r\\n") {
				t.Fatalf("keep mode output:\n%s\nwant %s", out, want)
			}
			if got := e.uids(t); len(got) != 3 {
				t.Fatalf("keep mode deleted mail: %v", got)
			}
			// RSET undoes DELE.
			e.poplib(t, "p.dele(1); p.dele(2); p.rset(); p.quit()\n")
			if got := e.uids(t); len(got) != 3 {
				t.Fatalf("RSET did not undo DELE: %v", got)
			}
			// Download and delete.
			e.poplib(t, "p.retr(1); p.dele(1); p.retr(3); p.dele(3); p.quit()\n")
			if got := e.uids(t); len(got) != 1 || got[0] != 2 {
				t.Fatalf("after delete mode: %v", got)
			}
		})
	}
}

func TestPOP3DroppedSessionDeletesNothing(t *testing.T) {
	e := startPOP3(t, storetest.Backend{})
	e.poplib(t, "p.dele(1); p.dele(2); p.sock.close()\n")
	// The server notices the drop and releases the lock; a new session works.
	testenv.Eventually(t, 5*time.Second, func() error {
		out, err := mailtest.RunErr(t, "python3", "-c", `
import poplib, ssl, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=20)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p.stls(context=ctx); p.user("alice"); p.pass_(sys.argv[2]); print(p.stat()); p.quit()
`, e.port, mailtest.Password)
		if err != nil {
			return fmt.Errorf("maildrop still locked after a dropped session: %s", out)
		}
		if !strings.Contains(out, "(3, ") {
			t.Fatalf("stat after drop: %s", out)
		}
		return nil
	})
	if got := e.uids(t); len(got) != 3 {
		t.Fatalf("dropped session deleted mail: %v", got)
	}
}

func TestPOP3LockInUse(t *testing.T) {
	e := startPOP3(t, storetest.Backend{})
	first := e.login(t, "alice")
	if line := first.cmd(t, "PASS "+mailtest.Password); !strings.HasPrefix(line, "+OK") {
		t.Fatalf("first session: %q", line)
	}
	second := e.login(t, "alice")
	if line := second.cmd(t, "PASS "+mailtest.Password); !strings.HasPrefix(line, "-ERR [IN-USE]") {
		t.Fatalf("second session: %q", line)
	}
	if line := first.cmd(t, "QUIT"); !strings.HasPrefix(line, "+OK") {
		t.Fatal(line)
	}
	second.cmd(t, "USER alice")
	if line := second.cmd(t, "PASS "+mailtest.Password); !strings.HasPrefix(line, "+OK") {
		t.Fatalf("after the first session quit: %q", line)
	}
}

func TestPOP3Curl(t *testing.T) {
	testenv.Need(t, "curl")
	e := startPOP3(t, storetest.Backend{})
	base := "pop3://127.0.0.1:" + e.port + "/"
	args := []string{"-sS", "--ssl-reqd", "-k", "--user", "alice:" + mailtest.Password}
	list := mailtest.Run(t, "curl", append(args, base)...)
	if !strings.Contains(list, "1 ") || !strings.Contains(list, "3 ") {
		t.Fatalf("curl LIST: %q", list)
	}
	got := mailtest.Run(t, "curl", append(args, base+"2")...)
	if want := string(mailtest.Message("pop 2", "body\r\n.dot line")); got != want {
		t.Fatalf("curl RETR 2:\n%q\nwant\n%q", got, want)
	}
	// Without TLS, curl cannot log in.
	if out, err := mailtest.RunErr(t, "curl", "-sS", "--user", "alice:"+mailtest.Password, base); err == nil {
		t.Fatalf("plain-text login accepted: %s", out)
	}
}

func TestPOP3RefusalsAndGarbage(t *testing.T) {
	e := startPOP3(t, storetest.Backend{})
	p := e.dialRaw(t)
	if line := p.cmd(t, "USER alice"); !strings.HasPrefix(line, "-ERR") {
		t.Fatalf("USER before STLS: %q", line)
	}
	for _, bad := range []string{"\x00\x01\xff garbage", "RETR 1", strings.Repeat("X", 5000)} {
		if line := p.cmd(t, bad); !strings.HasPrefix(line, "-ERR") {
			t.Fatalf("%.20q: %q", bad, line)
		}
	}
	if line := p.cmd(t, "NOOP"); !strings.HasPrefix(line, "-ERR") {
		t.Fatalf("NOOP before login: %q", line)
	}
	d := e.login(t, "dana") // no mail permission
	if line := d.cmd(t, "PASS "+mailtest.Password); !strings.HasPrefix(line, "-ERR [AUTH]") {
		t.Fatalf("dana: %q", line)
	}
	w := e.login(t, "alice")
	if line := w.cmd(t, "PASS wrong"); !strings.HasPrefix(line, "-ERR [AUTH]") {
		t.Fatalf("wrong password: %q", line)
	}
	if f := e.Guard.FailureList(); len(f) != 2 || f[0] != "pop3 dana" || f[1] != "pop3 alice" {
		t.Fatalf("failures %v", f)
	}
	e.Guard.Ban("127.0.0.1")
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if line, _ := bufio.NewReader(c).ReadString('\n'); !strings.HasPrefix(line, "-ERR") {
		t.Fatalf("banned: %q", line)
	}
}

// popConn is a raw POP3 conversation after STLS and USER.
type popConn struct {
	c  net.Conn
	br *bufio.Reader
}

func (p *popConn) cmd(t *testing.T, line string) string {
	t.Helper()
	p.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := p.c.Write([]byte(line + "\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := p.br.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return strings.TrimRight(resp, "\r\n")
}

func (e *pop3Env) dialRaw(t *testing.T) *popConn {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &popConn{c: c, br: bufio.NewReader(c)}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if g, _ := p.br.ReadString('\n'); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("greeting %q", g)
	}
	return p
}

// login dials, upgrades with STLS and sends USER.
func (e *pop3Env) login(t *testing.T, user string) *popConn {
	t.Helper()
	p := e.dialRaw(t)
	if line := p.cmd(t, "STLS"); !strings.HasPrefix(line, "+OK") {
		t.Fatal(line)
	}
	tc := tls.Client(p.c, &tls.Config{InsecureSkipVerify: true})
	p.c, p.br = tc, bufio.NewReader(tc)
	if line := p.cmd(t, "USER "+user); !strings.HasPrefix(line, "+OK") {
		t.Fatal(line)
	}
	return p
}

// A panic in a POP3 command handler is answered "-ERR [SYS/TEMP]" before
// the connection closes; it used to close without a reply. The panic is a
// real one: a mailbox store without a database.
func TestPOP3HandlerPanicGetsReply(t *testing.T) {
	env := mailtest.New(t, storetest.Backend{})
	srv := &pop3.Server{Store: &mailbox.Store{Dir: env.Mail.Dir}, Logins: env.Logins, AllowInsecureAuth: true}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	br.ReadString('\n')
	fmt.Fprintf(nc, "USER alice\r\nPASS %s\r\n", mailtest.Password)
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("USER: %q", l)
	}
	l, err := br.ReadString('\n')
	if !strings.HasPrefix(l, "-ERR [SYS/TEMP]") {
		t.Fatalf("PASS with a panicking backend: %q (%v)", l, err)
	}
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("connection still open after the panic")
	}
}
