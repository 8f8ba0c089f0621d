package pop3

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
)

// ---- In-memory backend -------------------------------------------------

type memMessage struct {
	uid  string
	body string
}

type memBox struct {
	password string
	messages []memMessage

	locked    bool
	lockErr   error // returned by Lock when set
	commitErr error // returned by Commit when set
	openErr   error // returned by Open when set
	snapshot  func([]MessageInfo) []MessageInfo

	logins  int
	locks   int
	commits [][]int
	closes  int
	lastTLS bool
}

// memBackend is an in-memory Backend for tests. All fields are guarded by mu.
type memBackend struct {
	mu       sync.Mutex
	boxes    map[string]*memBox
	loginErr error         // returned by Login when set
	panicOn  string        // user name whose Login panics
	blockCtx chan struct{} // when set, Login blocks until ctx is done and then closes it
	blocked  int           // Login calls that blocked on blockCtx
}

const (
	msg1 = "Subject: one\r\nFrom: a@example.com\r\n\r\nHello\r\nWorld\r\n"
	// msg2 has bare LFs, lines starting with dots and no final newline.
	msg2 = "Subject: dots\n\n.leading dot\n..two dots\n.\nmiddle . dot\r\nno newline at end"
	msg3 = "Subject: three\r\nX-H: y\r\n\r\nline1\r\nline2\r\nline3\r\n"
)

// msg2Wire is msg2 as it must appear on the wire after "+OK".
const msg2Wire = "Subject: dots\r\n\r\n..leading dot\r\n...two dots\r\n..\r\nmiddle . dot\r\nno newline at end\r\n.\r\n"

func newMemBackend() *memBackend {
	return &memBackend{boxes: map[string]*memBox{
		"alice": {password: "secret", messages: []memMessage{
			{"uid-1", msg1}, {"uid-2", msg2}, {"uid-3", msg3},
		}},
		"bob": {password: "hunter2"},
	}}
}

func (b *memBackend) box(user string) *memBox {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.boxes[user]
}

// with runs f with the backend locked.
func (b *memBackend) with(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f()
}

func (b *memBackend) Login(ctx context.Context, conn ConnInfo, username, password string) (Session, error) {
	b.mu.Lock()
	block := b.blockCtx
	if block != nil {
		b.blocked++
	}
	b.mu.Unlock()
	if block != nil {
		<-ctx.Done()
		close(block)
		return nil, fmt.Errorf("login aborted: %w", ctx.Err())
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if username == b.panicOn && username != "" {
		panic("test backend panic")
	}
	if b.loginErr != nil {
		return nil, b.loginErr
	}
	box, ok := b.boxes[username]
	if !ok || box.password != password {
		return nil, ErrAuthFailed
	}
	box.logins++
	box.lastTLS = conn.TLS
	return &memSession{b: b, box: box}, nil
}

type memSession struct {
	b        *memBackend
	box      *memBox
	snapshot []memMessage
	locked   bool
	closed   bool
}

func (s *memSession) Lock(ctx context.Context) ([]MessageInfo, error) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.box.lockErr != nil {
		return nil, s.box.lockErr
	}
	if s.box.locked {
		return nil, ErrInUse
	}
	s.box.locked = true
	s.box.locks++
	s.locked = true
	s.snapshot = slices.Clone(s.box.messages)
	infos := make([]MessageInfo, len(s.snapshot))
	for i, m := range s.snapshot {
		infos[i] = MessageInfo{Size: int64(len(m.body)), UID: m.uid}
	}
	if s.box.snapshot != nil {
		infos = s.box.snapshot(infos)
	}
	return infos, nil
}

func (s *memSession) Open(ctx context.Context, index int) (io.ReadCloser, error) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.box.openErr != nil {
		return nil, s.box.openErr
	}
	return io.NopCloser(strings.NewReader(s.snapshot[index].body)), nil
}

func (s *memSession) Commit(ctx context.Context, deleted []int) error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.box.commits = append(s.box.commits, slices.Clone(deleted))
	if s.box.commitErr != nil {
		return s.box.commitErr
	}
	gone := make(map[string]bool)
	for _, i := range deleted {
		gone[s.snapshot[i].uid] = true
	}
	s.box.messages = slices.DeleteFunc(s.box.messages, func(m memMessage) bool { return gone[m.uid] })
	return nil
}

func (s *memSession) Close() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.closed {
		panic("Session.Close called twice")
	}
	s.closed = true
	s.box.closes++
	if s.locked {
		s.box.locked = false
	}
	return nil
}

// ---- Test server -------------------------------------------------------

// syncBuffer is a concurrency-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testServer struct {
	srv      *Server
	addr     string
	backend  *memBackend
	logs     *syncBuffer
	serveErr chan error
}

// startServer serves a fresh memBackend on 127.0.0.1:0. configure may
// adjust the Server before Serve is called.
func startServer(t testing.TB, configure func(*Server)) *testServer {
	t.Helper()
	return startServerOn(t, nil, configure)
}

func startServerOn(t testing.TB, wrap func(net.Listener) net.Listener, configure func(*Server)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	ts := &testServer{
		backend:  newMemBackend(),
		logs:     logs,
		serveErr: make(chan error, 1),
	}
	ts.srv = &Server{
		Backend:  ts.backend,
		Greeting: "ferry test POP3 ready",
		ErrorLog: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if configure != nil {
		configure(ts.srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	if wrap != nil {
		ln = wrap(ln)
	}
	go func() { ts.serveErr <- ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := ts.srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-ts.serveErr:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// ---- Raw protocol client -----------------------------------------------

type client struct {
	t  testing.TB
	nc net.Conn
	tp *textproto.Conn
}

// dial connects and reads the greeting, which it returns.
func dial(t testing.TB, addr string) (*client, string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := &client{t: t, nc: nc, tp: textproto.NewConn(nc)}
	return c, c.line()
}

// send writes one command line terminated by CRLF.
func (c *client) send(line string) {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// raw reads one line including its terminator, which must be CRLF.
func (c *client) raw() string {
	c.t.Helper()
	s, err := c.tp.R.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading response: %v (got %q)", err, s)
	}
	if !strings.HasSuffix(s, "\r\n") {
		c.t.Fatalf("response line %q not terminated by CRLF", s)
	}
	return s
}

// line reads one response line without CRLF.
func (c *client) line() string {
	c.t.Helper()
	return strings.TrimSuffix(c.raw(), "\r\n")
}

// cmd sends a command and returns the first response line.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line)
	return c.line()
}

// expect sends a command and checks the first response line.
func (c *client) expect(line, want string) {
	c.t.Helper()
	if got := c.cmd(line); got != want {
		c.t.Fatalf("%s: got %q, want %q", line, got, want)
	}
}

// expectPrefix sends a command and checks the first response line's prefix.
func (c *client) expectPrefix(line, prefix string) string {
	c.t.Helper()
	got := c.cmd(line)
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("%s: got %q, want prefix %q", line, got, prefix)
	}
	return got
}

// body reads the rest of a multi-line response, raw (still dot-stuffed,
// with CRLFs), including the terminating ".\r\n".
func (c *client) body() string {
	c.t.Helper()
	var sb strings.Builder
	for {
		l := c.raw()
		sb.WriteString(l)
		if l == ".\r\n" {
			return sb.String()
		}
	}
}

// lines reads the rest of a multi-line response as lines, without the
// terminating ".".
func (c *client) lines() []string {
	c.t.Helper()
	s := strings.TrimSuffix(c.body(), ".\r\n")
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n")
}

// login authenticates with USER/PASS and expects success.
func (c *client) login(user, pass string) {
	c.t.Helper()
	c.expect("USER "+user, "+OK send PASS")
	c.expectPrefix("PASS "+pass, "+OK maildrop has ")
}

// expectEOF checks that the server closes the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := c.tp.R.ReadString('\n')
	if err == nil || s != "" {
		c.t.Fatalf("expected connection close, got %q, %v", s, err)
	}
}

// startTLS upgrades the client connection after a successful STLS.
func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	tc := tls.Client(c.nc, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.nc = tc
	c.tp = textproto.NewConn(tc)
}

// waitFor polls cond, evaluated with the backend locked, for up to 10s.
func waitFor(t testing.TB, b *memBackend, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		var ok bool
		b.with(func() { ok = cond() })
		if !ok {
			return errors.New(what)
		}
		return nil
	})
}

// ---- TLS ---------------------------------------------------------------

// testCert returns a server config with a fresh self-signed certificate
// for 127.0.0.1 and a client config that trusts it.
func testCert(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ferry pop3 test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	return server, client
}
