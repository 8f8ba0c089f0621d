package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/store/storetest"
)

// Sends one message through SMTP (no login: Ferry is the partner's MX).
const smtpSend = `
import os, smtplib
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "sender@example.com"
m["To"] = os.environ["RCPT"]
m["Subject"] = os.environ["SUBJECT"]
m.set_content("sent through node A\n")
host, port = os.environ["ADDR"].rsplit(":", 1)
with smtplib.SMTP(host, int(port), timeout=20) as s:
    s.send_message(m)
print("sent")
`

// Reads INBOX over IMAP (STARTTLS, then LOGIN) and prints each message's
// Subject.
const imapRead = `
import os, ssl, imaplib, email
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
host, port = os.environ["ADDR"].rsplit(":", 1)
c = imaplib.IMAP4(host, int(port), timeout=20)
c.starttls(ssl_context=ctx)
c.login(os.environ["USER"], os.environ["PASS"])
c.select("INBOX", readonly=True)
typ, data = c.uid("SEARCH", None, "ALL")
for uid in data[0].split():
    typ, msg = c.uid("FETCH", uid, "(BODY.PEEK[])")
    print("subject:", email.message_from_bytes(msg[0][1])["Subject"])
    for name in filter(None, os.environ.get("FIND", "").split(",")):
        if name.encode() in msg[0][1]:
            print("found:", uid.decode(), name)
c.logout()
`

// Reads the mailbox over POP3 (STLS, then USER/PASS), printing each
// message's Subject and its UIDL.
const pop3Read = `
import os, ssl, poplib, email
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
host, port = os.environ["ADDR"].rsplit(":", 1)
c = poplib.POP3(host, int(port), timeout=20)
c.stls(context=ctx)
c.user(os.environ["USER"]); c.pass_(os.environ["PASS"])
count, _ = c.stat()
for i in range(1, count + 1):
    resp, lines, _ = c.retr(i)
    print("subject:", email.message_from_bytes(b"\r\n".join(lines))["Subject"])
print("uidl:", c.uidl()[1])
c.quit()
`

// Two Ferry processes on one PostgreSQL database and one data folder, the
// layout of a multi-node deployment: they start at the same moment on an
// empty database (migrations take an advisory lock), a file uploaded
// through node A is downloaded through node B, mail delivered through A's
// SMTP is read through B's IMAP and POP3, and a partner disabled through B's
// admin API can no longer log in on A.
//
// Both nodes' notifiers work the one outbox: every upload, whichever node
// took it, is announced exactly once to the partner's contact (through one
// test SMTP relay both nodes use) and once in the partner's mailbox.
func TestTwoNodes(t *testing.T) {
	testenv.Need(t, "python3")
	bin := buildFerry(t)
	url := storetest.NewPostgresDB(t)
	shared := filepath.Join(t.TempDir(), "shared") // the shared volume
	const token = "two-node-admin-token-0123456789ab"
	relay := newCountingRelay(t)
	common := []string{"FERRY_DATABASE_URL=" + url, "FERRY_DATA_DIR=" + shared, "FERRY_ADMIN_TOKEN=" + token,
		"FERRY_MAIL_DOMAIN=ferry.test", "FERRY_SMTP_RELAY=smtp://" + relay.addr + "?tls=none", "FERRY_NOTIFY_DIGEST=0s"}
	// Each node runs from its own working folder: nothing may depend on it.
	a := newNode(t, "A", bin, t.TempDir(), common...)
	b := newNode(t, "B", bin, t.TempDir(), common...)

	var wg sync.WaitGroup
	for _, n := range []*node{a, b} {
		n.start()
	}
	for _, n := range []*node{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); n.waitHealthy() }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	f := &ferryCmd{t: t, bin: bin, dir: t.TempDir(), env: common}
	f.ok("", "partner", "create", "acme", "--contact", "ops@acme.example")
	f.ok("s3cret-password\n", "account", "create", "--partner", "acme", "alice", "--password-stdin")

	login := func(n *node) (*ftp.ServerConn, error) {
		t.Helper()
		c, err := ftp.Dial(n.ftp, ftp.DialWithTimeout(10*time.Second))
		if err != nil {
			t.Fatalf("dial node %s: %v", n.name, err)
		}
		if err := c.Login("alice", "s3cret-password"); err != nil {
			_ = c.Quit()
			return nil, err
		}
		t.Cleanup(func() { _ = c.Quit() })
		return c, nil
	}

	t.Run("upload on A, download on B", func(t *testing.T) {
		ca, err := login(a)
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 1<<20)
		_, _ = rand.Read(data)
		if err := ca.Stor("report.bin", bytes.NewReader(data)); err != nil {
			t.Fatalf("STOR on A: %v", err)
		}
		cb, err := login(b)
		if err != nil {
			t.Fatal(err)
		}
		if size, err := cb.FileSize("report.bin"); err != nil || size != int64(len(data)) {
			t.Fatalf("SIZE on B: %d %v", size, err)
		}
		rc, err := cb.Retr("report.bin")
		if err != nil {
			t.Fatalf("RETR on B: %v", err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("B returned %d bytes (%v), A stored %d", len(got), err, len(data))
		}
		// The transfer log is shared: B's API shows A's upload and B's
		// download (whose row is written in the background, within moments).
		testenv.Eventually(t, 5*time.Second, func() error {
			code, raw := b.api("GET", "/api/v1/transfers?partner=acme", token, nil)
			if code != 200 || !bytes.Contains(raw, []byte(`"operation":"upload"`)) || !bytes.Contains(raw, []byte(`"operation":"download"`)) {
				return fmt.Errorf("transfers on B: %d %s", code, raw)
			}
			return nil
		})
	})

	t.Run("each upload notified exactly once", func(t *testing.T) {
		ca, err := login(a)
		if err != nil {
			t.Fatal(err)
		}
		cb, err := login(b)
		if err != nil {
			t.Fatal(err)
		}
		files := []string{"report.bin"}
		for i := range 6 {
			name := fmt.Sprintf("batch-%d.csv", i)
			c := ca
			if i%2 == 1 {
				c = cb
			}
			if err := c.Stor(name, strings.NewReader("id,amount\n1,2\n")); err != nil {
				t.Fatalf("STOR %s: %v", name, err)
			}
			files = append(files, name)
		}
		// Wait for every alert, then for several more polls of both
		// notifiers (each polls every second): a second copy would come.
		// This wait proves an absence, so it has no signal to wait on.
		testenv.Eventually(t, 30*time.Second, func() error {
			if !relay.holdsAll("ops@acme.example", files) {
				return fmt.Errorf("not every upload of %v announced through the relay", files)
			}
			return nil
		})
		time.Sleep(4 * time.Second)
		// A burst folds into fewer mails; every upload is in exactly one.
		bodies := relay.bodies("ops@acme.example")
		inbox := python(t, imapRead, "ADDR="+b.imap, "USER=alice", "PASS=s3cret-password", "FIND="+strings.Join(files, ","))
		for _, f := range files {
			n := 0
			for _, body := range bodies {
				if strings.Contains(body, f) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s: in %d mails through the relay, want 1 (%d mails)", f, n, len(bodies))
			}
			if n := countFound(inbox, f); n != 1 {
				t.Errorf("%s: in %d messages of the partner mailbox, want 1:\n%s", f, n, inbox)
			}
		}
		if relay.count() != len(bodies) {
			t.Errorf("the relay received %d messages, %d of them for the partner's contact", relay.count(), len(bodies))
		}
	})

	t.Run("mail through A, read on B", func(t *testing.T) {
		var r [4]byte
		_, _ = rand.Read(r[:])
		subject := "two-node " + hex.EncodeToString(r[:])
		if out := python(t, smtpSend, "ADDR="+a.smtp, "RCPT=acme@ferry.test", "SUBJECT="+subject); out != "sent" {
			t.Fatalf("smtp: %s", out)
		}
		auth := []string{"USER=alice", "PASS=s3cret-password"}
		if out := python(t, imapRead, append(auth, "ADDR="+b.imap)...); !strings.Contains(out, "subject: "+subject) {
			t.Fatalf("IMAP on B does not show the message delivered on A:\n%s", out)
		}
		out := python(t, pop3Read, append(auth, "ADDR="+b.pop3)...)
		if !strings.Contains(out, "subject: "+subject) {
			t.Fatalf("POP3 on B does not show the message delivered on A:\n%s", out)
		}
		// UIDLs are the same whichever node answers.
		uidl := func(out string) string {
			_, u, _ := strings.Cut(out, "uidl: ")
			return u
		}
		if outA := python(t, pop3Read, append(auth, "ADDR="+a.pop3)...); uidl(outA) != uidl(out) || uidl(out) == "" {
			t.Fatalf("UIDL differs between nodes:\nA: %s\nB: %s", outA, out)
		}
	})

	t.Run("partner disabled on B cannot log in on A", func(t *testing.T) {
		if _, err := login(a); err != nil {
			t.Fatalf("login on A before: %v", err)
		}
		code, raw := b.api("PATCH", "/api/v1/partners/acme", token, map[string]any{"enabled": false})
		if code != 200 || !bytes.Contains(raw, []byte(`"enabled":false`)) {
			t.Fatalf("disable on B: %d %s", code, raw)
		}
		if _, err := login(a); err == nil || !strings.Contains(err.Error(), "530") {
			t.Fatalf("login on A after the partner was disabled on B: %v", err)
		}
		code, _ = b.api("PATCH", "/api/v1/partners/acme", token, map[string]any{"enabled": true})
		if code != 200 {
			t.Fatalf("enable on B: %d", code)
		}
		if _, err := login(a); err != nil {
			t.Fatalf("login on A after the partner was enabled again on B: %v", err)
		}
	})
}

// countingRelay is the SMTP relay both nodes send alerts through: a go-smtp
// server on loopback that keeps every message.
type countingRelay struct {
	addr string
	mu   sync.Mutex
	msgs []relayed
}

type relayed struct {
	to   []string
	data []byte
}

func newCountingRelay(t *testing.T) *countingRelay {
	t.Helper()
	r := &countingRelay{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }))
	srv.Domain = "relay.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return r
}

func (r *countingRelay) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// holdsAll reports whether every name appears in some message to rcpt.
func (r *countingRelay) holdsAll(rcpt string, names []string) bool {
	bodies := r.bodies(rcpt)
	for _, n := range names {
		if !slices.ContainsFunc(bodies, func(b string) bool { return strings.Contains(b, n) }) {
			return false
		}
	}
	return true
}

// countFound counts imapRead's "found: <uid> <name>" lines for name.
func countFound(out, name string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "found:" && f[2] == name {
			n++
		}
	}
	return n
}

// bodies lists every message sent to rcpt, whole.
func (r *countingRelay) bodies(rcpt string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		for _, to := range m.to {
			if strings.EqualFold(to, rcpt) {
				out = append(out, string(m.data))
			}
		}
	}
	return out
}

type relaySession struct {
	r  *countingRelay
	to []string
}

func (s *relaySession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *relaySession) Data(rd io.Reader) error {
	data, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, relayed{to: s.to, data: data})
	s.r.mu.Unlock()
	return nil
}
func (s *relaySession) Reset()        { s.to = nil }
func (s *relaySession) Logout() error { return nil }
