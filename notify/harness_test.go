package notify_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/internal/tlsutil"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

const pw = "correct horse battery"

// received is one message the test relay accepted.
type received struct {
	From string
	To   []string
	Data []byte
	User string // AUTH identity, if any
}

// relay is a real SMTP server on loopback, built on go-smtp, that keeps what
// it receives and fails on demand.
type relay struct {
	t    testing.TB
	addr string

	mu         sync.Mutex
	msgs       []received
	dataErr    *smtp.SMTPError            // answer to every DATA
	rcptErr    map[string]*smtp.SMTPError // answer to RCPT for an address
	onData     func()                     // runs after a message is read, before the reply
	users      map[string]string          // AUTH PLAIN users; nil: AUTH not offered
	tlsConfig  *tls.Config
	implicit   bool
	srv        *smtp.Server
	ln         net.Listener
	arrived    chan struct{}
	serverDone chan struct{}
}

type relayOpts struct {
	users    map[string]string
	tls      *tls.Config
	implicit bool
}

func newRelay(t testing.TB, o relayOpts) *relay {
	r := &relay{t: t, users: o.users, tlsConfig: o.tls, implicit: o.implicit, arrived: make(chan struct{}, 10000)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.stop)
	return r
}

func (r *relay) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &relaySession{r: r}, nil
	}))
	srv.Domain = "relay.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLSConfig = r.tlsConfig
	srv.AllowInsecureAuth = r.tlsConfig == nil
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if r.implicit {
		ln = tls.NewListener(ln, r.tlsConfig)
	}
	done := make(chan struct{})
	r.mu.Lock()
	r.srv, r.serverDone, r.ln = srv, done, ln
	r.mu.Unlock()
	go func() { defer close(done); _ = srv.Serve(ln) }()
}

// stop closes the listener and every connection: the relay is down.
func (r *relay) stop() {
	r.mu.Lock()
	srv, done, ln := r.srv, r.serverDone, r.ln
	r.srv = nil
	r.mu.Unlock()
	if srv == nil {
		return
	}
	// Close the listener too: Close alone misses one Serve has not yet
	// registered.
	ln.Close()
	srv.Close()
	<-done
}

// start brings a stopped relay back on the same address.
func (r *relay) start() {
	var ln net.Listener
	testenv.Eventually(r.t, 5*time.Second, func() (err error) {
		if ln, err = net.Listen("tcp", r.addr); err != nil {
			return fmt.Errorf("relay: listen again on %s: %w", r.addr, err)
		}
		return nil
	})
	r.serve(ln)
}

func (r *relay) messages() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.msgs...)
}

// wait blocks until n messages have arrived in all.
func (r *relay) wait(n int, within time.Duration) []received {
	r.t.Helper()
	deadline := time.After(within)
	for {
		if m := r.messages(); len(m) >= n {
			return m
		}
		select {
		case <-r.arrived:
		case <-deadline:
			r.t.Fatalf("relay: %d messages arrived, want %d", len(r.messages()), n)
		}
	}
}

type relaySession struct {
	r    *relay
	from string
	to   []string
	user string
}

func (s *relaySession) AuthMechanisms() []string {
	if s.r.users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *relaySession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if want, ok := s.r.users[username]; !ok || want != password {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	if s.r.users != nil && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	err := s.r.rcptErr[to]
	s.r.mu.Unlock()
	if err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *relaySession) Data(rd io.Reader) error {
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	derr, hook := s.r.dataErr, s.r.onData
	s.r.mu.Unlock()
	if derr != nil {
		return derr
	}
	if hook != nil {
		hook()
	}
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, received{From: s.from, To: append([]string(nil), s.to...), Data: b, User: s.user})
	s.r.mu.Unlock()
	s.r.arrived <- struct{}{}
	return nil
}

func (s *relaySession) Reset()        { s.from, s.to = "", nil }
func (s *relaySession) Logout() error { return nil }

var _ smtp.AuthSession = (*relaySession)(nil)

// env is a Ferry database with partner "acme" (two contacts, account alice)
// and "other", a mailbox store, an outbox and a test relay.
type env struct {
	t       testing.TB
	backend storetest.Backend
	url     string // database URL ("" for SQLite, with sqlitePath)
	sqlite  string
	db      *store.Store
	svc     *partners.Service
	mail    *mailbox.Store
	outbox  *notify.Outbox
	relay   *relay
	acme    *store.Partner
	files   string
}

func newEnv(t testing.TB, b storetest.Backend) *env {
	t.Helper()
	e := &env{t: t, backend: b}
	e.url, e.sqlite = b.Open(t)
	e.db = e.open()
	dir := t.TempDir()
	e.files = filepath.Join(dir, "files")
	e.svc = &partners.Service{Store: e.db, FilesDir: e.files, Hash: password.Params{Memory: 1024, Time: 1, Threads: 1}}
	ctx := context.Background()
	var err error
	e.acme, err = e.svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Name: "ACME Corp",
		Contacts: []string{"ops@acme.example", "boss@acme.example"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreatePartner(ctx, partners.PartnerInput{Slug: "other", Enabled: true,
		Contacts: []string{"it@other.example"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.CreateAccount(ctx, partners.AccountInput{Partner: "acme", Username: "alice", Password: pw}); err != nil {
		t.Fatal(err)
	}
	e.mail = &mailbox.Store{DB: e.db, Dir: filepath.Join(dir, "mail")}
	e.outbox = &notify.Outbox{Store: e.db, Domain: "mail.test"}
	e.relay = newRelay(t, relayOpts{})
	return e
}

// open returns another handle on the same database: another Ferry node.
func (e *env) open() *store.Store {
	e.t.Helper()
	s, err := store.Open(context.Background(), e.url, store.Options{SQLitePath: e.sqlite, Migrate: true})
	if err != nil {
		e.t.Fatalf("open %s: %v", e.backend.Name, err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("NOTIFY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// notifier returns a Notifier on the env's relay and mailbox store.
func (e *env) notifier() *notify.Notifier {
	r, err := notify.ParseRelay("smtp://" + e.relay.addr + "?tls=none")
	if err != nil {
		e.t.Fatal(err)
	}
	return &notify.Notifier{Outbox: e.outbox, Relay: r, Mailbox: e.mail, MailDomain: "mail.test",
		From: "Ferry Alerts <alerts@ferry.test>", Operators: []string{"operator@ferry.test"},
		PollInterval: 20 * time.Millisecond, BackoffBase: time.Second, Logger: testLogger(e.t)}
}

// each runs fn on SQLite and PostgreSQL.
func each(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, newEnv(t, b)) })
	}
}

// runOnce runs one round and fails the test on an error.
func runOnce(t testing.TB, n *notify.Notifier) int {
	t.Helper()
	k, err := n.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return k
}

// startFTP serves FTP for the env with the outbox as upload hook and
// returns a logged-in client of alice.
func (e *env) startFTP() *ftp.ServerConn {
	t := e.t
	tlsConf, _, err := tlsutil.Load("", "", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := &ftpd.Server{Auth: e.svc, FilesDir: e.files, TLSConfig: tlsConf, IdleTimeout: time.Minute,
		Store: e.db, OnUpload: e.outbox.OnUpload, OnFile: e.outbox.OnFiles}
	addr := testenv.Serve(t, srv, ftpd.ErrServerClosed)
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice", pw); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	return c
}

// uploadsFinished waits until the FTP uploads are marked done: the FTP
// server's audit writer does it, and queues their alerts and webhook
// deliveries in the same transaction, in its next batch after the 226.
func (e *env) uploadsFinished() {
	e.t.Helper()
	storetest.WaitUploadsFinished(e.t, e.db)
}

// parsed is a received message, read back with go-message.
type parsed struct {
	Header mail.Header
	Text   string
	HTML   string
	Raw    []byte
}

func parse(t testing.TB, raw []byte) *parsed {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, raw)
	}
	p := &parsed{Header: mail.Header{Header: e.Header}, Raw: raw}
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatalf("message is not multipart:\n%s", raw)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part.Body)
		ct, _, _ := part.Header.ContentType()
		switch ct {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		}
	}
	return p
}

// headerLines returns the names of the message's top-level header fields.
func headerLines(raw []byte) []string {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		names = append(names, name)
	}
	return names
}

// inbox returns the messages in a partner's INBOX.
func (e *env) inbox(partnerID string) []store.MailMessage {
	e.t.Helper()
	f, err := e.db.MailFolder(context.Background(), partnerID, store.MailInbox)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	msgs, err := e.db.MailMessages(context.Background(), f.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

func (e *env) rows(f store.NotificationFilter) []store.Notification {
	e.t.Helper()
	rows, err := e.db.ListNotifications(context.Background(), f)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

// storeBackend returns the backend named name.
func storeBackend(t testing.TB, name string) storetest.Backend {
	for _, b := range storetest.Backends() {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("no backend %q", name)
	return storetest.Backend{}
}
