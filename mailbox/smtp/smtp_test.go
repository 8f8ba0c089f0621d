package smtp_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/mailbox/smtp"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

type env struct {
	*mailtest.Env
	srv  *smtp.Server
	addr string
	port string
}

func start(t testing.TB, backend storetest.Backend, configure func(*smtp.Server)) *env {
	t.Helper()
	e := &env{Env: mailtest.New(t, backend)}
	e.srv = &smtp.Server{Store: e.Mail, Logins: e.Logins, Guard: e.Guard, Domains: []string{mailtest.Domain},
		TLSConfig: e.TLS, MaxMessageBytes: 64 << 10, MaxRecipients: 3, MaxLineLength: 1000}
	if configure != nil {
		configure(e.srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	_, e.port, _ = net.SplitHostPort(e.addr)
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return e
}

// inbox returns the messages in a partner's INBOX with their bytes.
func (e *env) inbox(t *testing.T, partnerID string) (msgs []store.MailMessage, bodies []string) {
	t.Helper()
	ctx := context.Background()
	f, err := e.Mail.Folder(ctx, partnerID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err = e.DB.MailMessages(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		r, err := e.Mail.Open(&msgs[i])
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		bodies = append(bodies, string(b))
	}
	return msgs, bodies
}

// dial opens a raw SMTP conversation and reads the greeting.
func (e *env) dial(t *testing.T) *textproto.Conn {
	t.Helper()
	c, err := textproto.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	return c
}

// cmd sends a line and returns the reply code and text.
func cmd(t *testing.T, c *textproto.Conn, line string) (int, string) {
	t.Helper()
	if err := c.PrintfLine("%s", line); err != nil {
		t.Fatal(err)
	}
	code, msg, err := c.ReadResponse(0)
	if err != nil && code == 0 {
		t.Fatalf("%s: %v", line, err)
	}
	return code, msg
}

func TestSwaksDelivers(t *testing.T) {
	testenv.Need(t, "swaks")
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, b, nil)
			body := "Line one\r\n.leading dot\r\nünïcode 8bit\r\n"
			out := mailtest.Run(t, "swaks", "--server", "127.0.0.1", "--port", e.port, "--from", "partner@example.org",
				"--to", "acme@"+mailtest.Domain, "--header", "Subject: hello from swaks", "--body", body)
			if !strings.Contains(out, "<-  250 2.0.0 OK") {
				t.Fatalf("swaks:\n%s", out)
			}
			msgs, bodies := e.inbox(t, e.Acme.ID)
			if len(msgs) != 1 {
				t.Fatalf("%d messages", len(msgs))
			}
			got := bodies[0]
			if !strings.HasPrefix(got, "Return-Path: <partner@example.org>\r\nReceived: from ") {
				t.Fatalf("trace missing:\n%s", got)
			}
			if !strings.Contains(got, "\r\n\r\nLine one\r\n.leading dot\r\nünïcode 8bit\r\n") {
				t.Fatalf("body not stored as sent (dot-unstuffed, CRLF, 8-bit):\n%q", got)
			}
			if msgs[0].Subject != "hello from swaks" || msgs[0].Size != int64(len(got)) || msgs[0].UID != 1 {
				t.Fatalf("metadata %+v", msgs[0])
			}
		})
	}
}

func TestRecipientsAndRelay(t *testing.T) {
	e := start(t, storetest.Backend{}, nil)
	c := e.dial(t)
	if code, _ := cmd(t, c, "EHLO client.example.org"); code != 250 {
		t.Fatal(code)
	}
	cmd(t, c, "MAIL FROM:<x@example.org>")
	for _, tc := range []struct {
		to   string
		want int
	}{
		{"nobody@" + mailtest.Domain, 550},
		{"victim@example.com", 554}, // never an open relay
		{"acme@" + mailtest.Domain + "@evil.example", 554},
		{"no-at-sign", 501},
		{"acme@" + mailtest.Domain, 250},
		{"other@" + mailtest.Domain, 250},
		{"ACME@MAIL.TEST", 250}, // case-insensitive, the same mailbox once
	} {
		if code, msg := cmd(t, c, "RCPT TO:<"+tc.to+">"); code != tc.want {
			t.Errorf("RCPT %s: %d %s, want %d", tc.to, code, msg, tc.want)
		}
	}
	if code, _ := cmd(t, c, "DATA"); code != 354 {
		t.Fatal(code)
	}
	w := c.DotWriter()
	w.Write(mailtest.Message("two partners", "body"))
	w.Close()
	if code, msg, _ := c.ReadResponse(0); code != 250 {
		t.Fatalf("DATA end: %d %s", code, msg)
	}
	a, ab := e.inbox(t, e.Acme.ID)
	o, ob := e.inbox(t, e.Other.ID)
	if len(a) != 1 || len(o) != 1 || a[0].BlobKey != o[0].BlobKey || ab[0] != ob[0] {
		t.Fatalf("acme %d, other %d messages; one shared blob expected", len(a), len(o))
	}

	// Recipient limit: 3 per message.
	cmd(t, c, "MAIL FROM:<x@example.org>")
	for i := range 4 {
		code, _ := cmd(t, c, "RCPT TO:<acme@"+mailtest.Domain+">")
		if want := map[bool]int{true: 250, false: 452}[i < 3]; code != want {
			t.Errorf("recipient %d: %d, want %d", i+1, code, want)
		}
	}
}

func TestSmtplibAndLimits(t *testing.T) {
	testenv.Need(t, "python3")
	e := start(t, storetest.Backend{}, nil)
	out := mailtest.Python(t, `
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.ehlo("py.example.org")
print("size", s.esmtp_features.get("size"), "8bit", s.has_extn("8bitmime"), "utf8", s.has_extn("smtputf8"), "starttls", s.has_extn("starttls"), "auth", s.has_extn("auth"))
print("sent", s.sendmail("a@example.org", ["acme@mail.test"], b"Subject: py\r\n\r\nhi\r\n"))
try:
    s.sendmail("a@example.org", ["victim@elsewhere.example"], b"Subject: relay\r\n\r\nx\r\n")
except smtplib.SMTPRecipientsRefused as e:
    print("relay", e.recipients["victim@elsewhere.example"][0])
try:
    s.sendmail("a@example.org", ["acme@mail.test"], b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 2000)
except smtplib.SMTPSenderRefused as e:
    print("big", e.smtp_code)
except smtplib.SMTPDataError as e:
    print("big", e.smtp_code)
print("utf8", s.sendmail("a@example.org", ["acme@mail.test"], "Subject: ünï\r\n\r\nünï\r\n".encode(), mail_options=["SMTPUTF8"]))
s.quit()
`, e.port)
	for _, want := range []string{"size 65536 8bit True utf8 True starttls True auth False", "sent {}", "relay 554", "big 552", "utf8 {}"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if msgs, _ := e.inbox(t, e.Acme.ID); len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
}

func TestOversizedLinesAndGarbage(t *testing.T) {
	e := start(t, storetest.Backend{}, nil)
	c := e.dial(t)
	if code, _ := cmd(t, c, "HELO x"); code != 250 {
		t.Fatal(code)
	}
	if code, _ := cmd(t, c, "\x01\x02garbage \xff\xfe"); code/100 != 5 {
		t.Fatalf("garbage: %d", code)
	}
	if code, _ := cmd(t, c, "DATA"); code/100 != 5 {
		t.Fatalf("DATA out of order: %d", code)
	}
	if code, _ := cmd(t, c, "MAIL FROM:<a@b> SIZE=99999999"); code != 552 {
		t.Fatalf("SIZE too big: %d", code)
	}
	// Longer than the 1000 octets allowed, short enough to be read whole
	// (a close with unread input would reset the connection).
	code, msg := cmd(t, c, strings.Repeat("A", 1500))
	if code != 500 || !strings.Contains(msg, "line") {
		t.Fatalf("long line: %d %s", code, msg)
	}
	// The server closes the session after a too long line.
	c.R.ReadString('\n')
	if _, err := c.R.ReadString('\n'); err == nil {
		t.Fatal("connection still open after too long line")
	}
}

func TestStartTLSAndAuth(t *testing.T) {
	testenv.Need(t, "swaks")
	e := start(t, storetest.Backend{}, nil)
	// AUTH is not offered before STARTTLS.
	c := e.dial(t)
	_, msg := cmd(t, c, "EHLO x")
	if strings.Contains(msg, "AUTH") || !strings.Contains(msg, "STARTTLS") {
		t.Fatalf("EHLO before TLS: %s", msg)
	}
	if code, _ := cmd(t, c, "AUTH PLAIN AGFsaWNlAGNvcnJlY3QgaG9yc2UgYmF0dGVyeQ=="); code/100 != 5 {
		t.Fatalf("AUTH without TLS: %d", code)
	}

	out := mailtest.Run(t, "swaks", "--server", "127.0.0.1", "--port", e.port, "--tls", "--auth", "PLAIN",
		"--auth-user", "alice", "--auth-password", mailtest.Password, "--from", "alice@example.org",
		"--to", "other@"+mailtest.Domain, "--header", "Subject: submitted")
	if !strings.Contains(out, "235 ") || !strings.Contains(out, "<~  250 ") {
		t.Fatalf("swaks with auth:\n%s", out)
	}
	_, bodies := e.inbox(t, e.Other.ID)
	if len(bodies) != 1 || !strings.Contains(bodies[0], "with ESMTPSA") {
		t.Fatalf("authenticated submission not traced: %q", bodies)
	}
	// Authenticated or not, a foreign domain is refused.
	out, _ = mailtest.RunErr(t, "swaks", "--server", "127.0.0.1", "--port", e.port, "--tls", "--auth", "PLAIN",
		"--auth-user", "alice", "--auth-password", mailtest.Password, "--to", "x@example.com")
	if !strings.Contains(out, "550 5.7.1") {
		t.Fatalf("relay after auth:\n%s", out)
	}
	for _, user := range []string{"alice:wrong", "dana:" + mailtest.Password} {
		name, pass, _ := strings.Cut(user, ":")
		out, _ = mailtest.RunErr(t, "swaks", "--server", "127.0.0.1", "--port", e.port, "--tls", "--auth", "PLAIN",
			"--auth-user", name, "--auth-password", pass, "--to", "acme@"+mailtest.Domain)
		if !strings.Contains(out, "* 535 ") {
			t.Fatalf("%s: want 535:\n%s", name, out)
		}
	}
	if f := e.Guard.FailureList(); len(f) != 2 || f[0] != "smtp alice" || f[1] != "smtp dana" {
		t.Fatalf("failures recorded: %v", f)
	}
}

func TestBannedAddressGets421(t *testing.T) {
	e := start(t, storetest.Backend{}, nil)
	e.Guard.Ban("127.0.0.1")
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(nc).ReadString('\n')
	if !strings.HasPrefix(line, "421 ") {
		t.Fatalf("banned greeting %q", line)
	}
}

// A delivery that cannot be stored is answered 451 and leaves no rows.
func TestFailedDeliveryIs451WithoutRows(t *testing.T) {
	e := start(t, storetest.Backend{}, func(s *smtp.Server) {
		// Make the blob folder impossible to create.
		blocker := filepath.Join(t.TempDir(), "blocker")
		if err := os.WriteFile(blocker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		s.Store.Dir = filepath.Join(blocker, "mail")
	})
	c := e.dial(t)
	cmd(t, c, "EHLO x")
	cmd(t, c, "MAIL FROM:<a@example.org>")
	cmd(t, c, "RCPT TO:<acme@"+mailtest.Domain+">")
	cmd(t, c, "DATA")
	w := c.DotWriter()
	io.Copy(w, bytes.NewReader(mailtest.Message("lost", "x")))
	w.Close()
	if code, msg, _ := c.ReadResponse(0); code != 451 {
		t.Fatalf("got %d %s, want 451", code, msg)
	}
	if msgs, _ := e.inbox(t, e.Acme.ID); len(msgs) != 0 {
		t.Fatalf("%d rows after a failed delivery", len(msgs))
	}
}

// Idle clients, before and after EHLO, do not hold up a shutdown.
func TestShutdownClosesIdleConnections(t *testing.T) {
	e := start(t, storetest.Backends()[0], nil)
	e.dial(t)      // connected, no EHLO
	c := e.dial(t) // EHLO done, idle
	if code, _ := cmd(t, c, "EHLO client.example"); code != 250 {
		t.Fatalf("EHLO: %d", code)
	}
	// Before the fix the idle connections held Shutdown until ctx ended
	// and it returned context.DeadlineExceeded.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with idle connections: %v", err)
	}
}

// A line over the limit inside DATA can never pass: the reply must be
// permanent (RFC 5321 4.5.3.1 gives "500 Line too long"), or the sender
// retries the message for days. It was 451.
func TestOverlongDataLineIsPermanent(t *testing.T) {
	e := start(t, storetest.Backend{}, nil)
	c := e.dial(t)
	cmd(t, c, "EHLO x")
	cmd(t, c, "MAIL FROM:<a@example.org>")
	if code, _ := cmd(t, c, "RCPT TO:<acme@"+mailtest.Domain+">"); code != 250 {
		t.Fatalf("RCPT: %d", code)
	}
	if code, _ := cmd(t, c, "DATA"); code != 354 {
		t.Fatalf("DATA: %d", code)
	}
	// Read whole by the server (a close with unread input would reset the
	// connection before the reply is read).
	msg := "Subject: long\r\n\r\n" + strings.Repeat("x", 1500) + "\r\n.\r\n"
	if _, err := c.W.WriteString(msg); err != nil {
		t.Fatal(err)
	}
	c.W.Flush()
	code, text, err := c.ReadResponse(0)
	if code != 500 || !strings.HasPrefix(text, "5.5.2 ") {
		t.Fatalf("over-long DATA line: %d %q (%v), want 500 5.5.2", code, text, err)
	}
	if msgs, _ := e.inbox(t, e.Acme.ID); len(msgs) != 0 {
		t.Fatalf("%d messages stored", len(msgs))
	}
}
