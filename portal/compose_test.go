package portal_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
)

// sink is the operator's relay: a real SMTP server on loopback that keeps
// what it gets.
type sink struct {
	addr string
	mu   sync.Mutex
	msgs []sunk
}

type sunk struct {
	from string
	to   []string
	data []byte
}

type sinkSession struct {
	s    *sink
	from string
	to   []string
}

func (x *sinkSession) Mail(from string, _ *smtp.MailOptions) error { x.from = from; return nil }
func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error   { x.to = append(x.to, to); return nil }
func (x *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, sunk{from: x.from, to: x.to, data: b})
	x.s.mu.Unlock()
	return nil
}
func (x *sinkSession) Reset()        { x.from, x.to = "", nil }
func (x *sinkSession) Logout() error { return nil }

func newSink(t *testing.T) *sink {
	s := &sink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "sink.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return s
}

func (s *sink) all() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.msgs...)
}

// relayOnce runs the notifier once against the sink.
func (e *env) relayOnce(s *sink) {
	e.t.Helper()
	r, err := notify.ParseRelay("smtp://" + s.addr + "?tls=none")
	if err != nil {
		e.t.Fatal(err)
	}
	n := &notify.Notifier{Outbox: e.outbox, Relay: r, Mailbox: e.mail, MailDomain: "ferry.test"}
	if _, err := n.RunOnce(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// sendForm posts the compose form with files.
func (c *client) sendForm(token string, fields map[string]string, files map[string][]byte) resp {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("csrf", token)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	for name, b := range files {
		w, _ := mw.CreateFormFile("attachment", name)
		_, _ = w.Write(b)
	}
	mw.Close()
	return c.req(http.MethodPost, "/portal/mail/send", &buf, http.Header{"Content-Type": {mw.FormDataContentType()}})
}

// A reply written in the portal, with an attachment, reaches the outside
// recipient through the outbox and the operator's relay, a partner
// mailbox at once, and the sender's Sent folder; an address outside the
// allowed domains is refused with what is allowed.
func TestComposeReply(t *testing.T) {
	e := newEnv(t, sqlite())
	e.partner("acme", "alice", "", "")
	e.partner("globex", "gina", "", "")
	orig := e.deliver("acme", strings.Replace(strings.Replace(plainMail, "bob@acme.example", "bob@partner-co.example", 1),
		"Subject: Order 4711 confirmed", "Subject: Order 4711 confirmed\nMessage-ID: <order-4711@partner-co.example>", 1))
	s := newSink(t)
	c := e.client()
	c.mustSignIn("alice")

	page := c.get("/portal/mail/compose?reply=" + orig)
	mustContain(t, page.body, `value="&#34;Bob Buyer&#34; &lt;bob@partner-co.example&gt;"`, `value="Re: Order 4711 confirmed"`,
		`value="order-4711@partner-co.example"`, "&gt; the order &lt;b&gt;4711&lt;/b&gt; ships", "addresses at partner-co.example")
	token := csrfOf(t, page.body)

	// Outside the allowed domains: refused, nothing queued or stored.
	r := c.sendForm(token, map[string]string{"to": "x@example.com", "subject": "hi", "body": "hello"}, nil)
	if r.status != http.StatusBadRequest {
		t.Fatalf("to example.com: %d", r.status)
	}
	mustContain(t, r.body, `id="compose-error"`, "Mail to x@example.com cannot be sent from here", "addresses at partner-co.example")
	if r := c.sendForm(token, map[string]string{"to": "nobody@ferry.test", "body": "x"}, nil); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, "There is no mailbox nobody@ferry.test") {
		t.Fatalf("to an unknown partner mailbox: %d", r.status)
	}

	attachment := []byte("item;qty\nwidget;3\n")
	r = c.sendForm(token, map[string]string{"to": "Bob Buyer <bob@partner-co.example>", "cc": "globex@ferry.test",
		"subject": "Re: Order 4711 confirmed", "body": "Shipped today.\r\nRegards", "in_reply_to": "order-4711@partner-co.example"},
		map[string][]byte{"packing-list.csv": attachment})
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "folder=Sent") {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	notes, err := e.st.ListNotifications(context.Background(), store.NotificationFilter{Kind: store.NotifyKindMail})
	if err != nil || len(notes) != 1 {
		t.Fatalf("outbox: %d %v", len(notes), err)
	}
	e.relayOnce(s)
	got := s.all()
	if len(got) != 1 || got[0].from != "acme@ferry.test" || len(got[0].to) != 1 || got[0].to[0] != "bob@partner-co.example" {
		t.Fatalf("the relay got: %+v", got)
	}
	raw := string(got[0].data)
	for _, want := range []string{"From: \"Acme Ltd\" <acme@ferry.test>", "Subject: Re: Order 4711 confirmed",
		"In-Reply-To: <order-4711@partner-co.example>", "Shipped today.", `filename=packing-list.csv`, "aXRlbTtxdHkKd2lkZ2V0OzMK"} {
		if !strings.Contains(raw, want) {
			t.Errorf("the relayed mail lacks %q:\n%s", want, raw)
		}
	}
	// globex got it in its INBOX at once, acme keeps it in Sent (read).
	globex, _ := e.svc.Partner(context.Background(), "globex")
	if msgs, _ := e.mail.MessagePage(context.Background(), globex.ID, "INBOX", 0, 10); len(msgs) != 1 || msgs[0].Subject != "Re: Order 4711 confirmed" {
		t.Fatalf("globex INBOX: %+v", msgs)
	}
	sent := c.get(r.header.Get("Location"))
	mustContain(t, sent.body, "Message sent.", "Re: Order 4711 confirmed")
	if strings.Contains(sent.body, `class="unread"`) {
		t.Fatal("the Sent copy is unread")
	}
	// The notifications API shows the mail as sent (kind mail).
	notes, _ = e.st.ListNotifications(context.Background(), store.NotificationFilter{Kind: store.NotifyKindMail})
	if notes[0].Status != store.NotifySent || notes[0].RelayedAt == nil {
		t.Fatalf("notification: %+v", notes[0])
	}
	// The attachment round-trips through the Sent copy.
	id := regexp.MustCompile(`href="/portal/mail/message/([^"]+)"`).FindStringSubmatch(sent.body)
	msg := c.get("/portal/mail/message/" + id[1])
	m := regexp.MustCompile(`href="(/portal/mail/message/[^"]+/part/\d+)" download>packing-list.csv`).FindStringSubmatch(msg.body)
	if m == nil {
		t.Fatalf("no attachment in the Sent copy:\n%s", msg.body)
	}
	if a := c.get(m[1]); a.body != string(attachment) {
		t.Fatalf("attachment: %q", a.body)
	}
}
