package ftpd_test

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/internal/tlsutil"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store/storetest"
)

const pw = "correct horse battery"

// env is one running Ferry FTP service with partner "acme" and its accounts:
// alice (all permissions), dana (download and list only), tina (TLS
// required), and partner "other" with bob, whose files alice must never see.
type env struct {
	t        *testing.T
	svc      *partners.Service
	srv      *ftpd.Server
	addr     string // host:port of the plain/explicit FTPS listener
	files    string // files dir
	tlsConf  *tls.Config
	implicit string // host:port of the implicit FTPS listener
	guard    *bans.Guard
	clock    *testClock // the guard's clock: tests move it instead of sleeping
	// configure, if set, adjusts each server before it starts.
	configure func(*ftpd.Server)
	listen    string // the control listeners' address; empty: 127.0.0.1:0
}

type envOpts struct {
	passive   [2]int
	backend   storetest.Backend
	configure func(*ftpd.Server)
	maxFails  int // failed logins that ban an address; 0: no bans
	// listen is the control listeners' address; empty: 127.0.0.1:0. On
	// all interfaces (0.0.0.0:0) the servers share kept passive ports;
	// on one address each transfer listens there on a port of its own.
	listen string
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if o.backend.Name == "" {
		o.backend = storetest.Backends()[0]
	}
	st := storetest.Open(t, o.backend)
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	svc := &partners.Service{Store: st, FilesDir: files, Hash: password.Params{Memory: 1024, Time: 1, Threads: 1}}
	ctx := context.Background()
	for _, p := range []string{"acme", "other"} {
		if _, err := svc.CreatePartner(ctx, partners.PartnerInput{Slug: p, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []partners.AccountInput{
		{Partner: "acme", Username: "alice", Password: pw},
		{Partner: "acme", Username: "dana", Password: pw, Permissions: "list,download"},
		{Partner: "acme", Username: "tina", Password: pw, TLSRequired: true},
		{Partner: "acme", Username: "ivan", Password: pw, HomeDir: "/inbox"},
		{Partner: "other", Username: "bob", Password: pw},
	} {
		if _, _, err := svc.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	tlsConf, _, err := tlsutil.Load("", "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Now()}
	e := &env{t: t, svc: svc, files: files, tlsConf: tlsConf, configure: o.configure, clock: clock, listen: o.listen,
		guard: &bans.Guard{Store: st, MaxFailures: o.maxFails, Window: time.Minute, BanTime: 2 * time.Second, Now: clock.Now}}
	e.srv = e.start(false, o.passive, &e.addr)
	implicit := e.start(true, o.passive, &e.implicit)
	_ = implicit
	return e
}

// testClock is a clock that moves only when a test advances it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (e *env) start(implicit bool, passive [2]int, addr *string) *ftpd.Server {
	t := e.t
	srv := &ftpd.Server{
		Auth: e.svc, FilesDir: e.files, TLSConfig: e.tlsConf, Implicit: implicit,
		PassivePorts: passive, Banner: "Ferry test", IdleTimeout: time.Minute,
		Store: e.svc.Store, Guard: e.guard,
		DeflateLevel: 6, // MODE Z on, as FERRY_FTP_DEFLATE_LEVEL's default
	}
	if e.configure != nil {
		e.configure(srv)
	}
	ln, err := net.Listen("tcp", cmp.Or(e.listen, "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	*addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ftpd.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv
}

func (e *env) port() string { _, p, _ := net.SplitHostPort(e.addr); return p }

// dial logs in with the Go client in passive mode (EPSV unless disabled).
func (e *env) dial(user string, opts ...ftp.DialOption) *ftp.ServerConn {
	e.t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithTimeout(10 * time.Second)}, opts...)
	c, err := ftp.Dial(e.addr, opts...)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	if err := c.Login(user, pw); err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	e.t.Cleanup(func() { _ = c.Quit() })
	return c
}

// partnerFile is the path on disk of a file in a partner's tree.
func (e *env) partnerFile(partner, name string) string {
	return filepath.Join(e.files, partner, filepath.FromSlash(name))
}

// ctl is a raw control connection for checking exact replies.
type ctl struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func (e *env) raw(addr string) *ctl {
	e.t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &ctl{t: e.t, conn: conn, tp: textproto.NewConn(conn)}
	e.t.Cleanup(func() { c.tp.Close() })
	c.expect(220)
	return c
}

func (c *ctl) setDeadline() { _ = c.conn.SetDeadline(time.Now().Add(10 * time.Second)) }

// cmd sends a command and returns the reply code and message.
func (c *ctl) cmd(format string, args ...any) (int, string) {
	c.t.Helper()
	c.setDeadline()
	if err := c.tp.PrintfLine(format, args...); err != nil {
		c.t.Fatalf("send %q: %v", fmt.Sprintf(format, args...), err)
	}
	return c.read()
}

func (c *ctl) read() (int, string) {
	c.t.Helper()
	c.setDeadline()
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil && code == 0 {
		c.t.Fatalf("read reply: %v", err)
	}
	return code, msg
}

func (c *ctl) expect(want int) string {
	c.t.Helper()
	code, msg := c.read()
	if code != want {
		c.t.Fatalf("got %d %s, want %d", code, msg, want)
	}
	return msg
}

func (c *ctl) must(want int, format string, args ...any) string {
	c.t.Helper()
	code, msg := c.cmd(format, args...)
	if code != want {
		c.t.Fatalf("%s: got %d %s, want %d", fmt.Sprintf(format, args...), code, msg, want)
	}
	return msg
}

// waitClosed reads until the server closes the connection.
func (c *ctl) waitClosed() {
	c.t.Helper()
	c.setDeadline()
	if _, err := io.Copy(io.Discard, c.conn); err != nil {
		c.t.Fatalf("waiting for the server to close: %v", err)
	}
}

func (c *ctl) login(user string) {
	c.t.Helper()
	c.must(331, "USER %s", user)
	c.must(230, "PASS %s", pw)
}

// startTLS upgrades the control connection (AUTH TLS).
func (c *ctl) startTLS() {
	c.t.Helper()
	c.must(234, "AUTH TLS")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // self-signed test cert
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn = tc
	c.tp = textproto.NewConn(tc)
}

// pasv opens a passive data connection with EPSV.
func (c *ctl) pasv() net.Conn {
	c.t.Helper()
	msg := c.must(229, "EPSV")
	i := strings.Index(msg, "(|||")
	if i < 0 {
		c.t.Fatalf("bad EPSV reply %q", msg)
	}
	port := strings.TrimSuffix(msg[i+4:], "|)")
	host, _, _ := net.SplitHostPort(c.conn.RemoteAddr().String())
	d, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return d
}

// retr downloads name over a passive connection in the current TYPE.
func (c *ctl) retr(name string) []byte {
	c.t.Helper()
	d := c.pasv()
	defer d.Close()
	c.must(150, "RETR %s", name)
	data, err := io.ReadAll(d)
	if err != nil {
		c.t.Fatal(err)
	}
	c.expect(226)
	return data
}

// list runs a listing command (LIST, NLST, MLSD with its argument) over a
// passive connection and returns what came on the data connection.
func (c *ctl) list(cmd string) []byte {
	c.t.Helper()
	return c.listOn(c.pasv(), cmd)
}

// listOn runs a listing command over d, a passive connection opened for
// it, and closes d.
func (c *ctl) listOn(d net.Conn, cmd string) []byte {
	c.t.Helper()
	defer d.Close()
	c.must(150, "%s", cmd)
	data, err := io.ReadAll(d)
	if err != nil {
		c.t.Fatal(err)
	}
	c.expect(226)
	return data
}

// stor uploads data to name over a passive connection in the current TYPE.
func (c *ctl) stor(name string, data []byte) {
	c.t.Helper()
	d := c.pasv()
	c.must(150, "STOR %s", name)
	if _, err := d.Write(data); err != nil {
		c.t.Fatal(err)
	}
	d.Close()
	c.expect(226)
}

func need(t *testing.T, bin string) string { return testenv.Need(t, bin) }

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func splitPort(addr string) (string, string) {
	h, p, _ := net.SplitHostPort(addr)
	return h, p
}

func runErr(dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// activeReceiver listens on 127.0.0.1 for an active-mode data connection
// (PORT/EPRT) and returns its port, and a channel that gets what the one
// connection it accepts carried (nil when none came before the test ended).
func activeReceiver(t *testing.T) (int, <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		data, _ := io.ReadAll(conn)
		conn.Close()
		got <- data
	}()
	return ln.Addr().(*net.TCPAddr).Port, got
}
