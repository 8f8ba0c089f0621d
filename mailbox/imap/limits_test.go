package imap_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox/imap"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/store/storetest"
)

// startWith runs an IMAP server configured by configure.
func startWith(t *testing.T, configure func(*imap.Server)) *env {
	t.Helper()
	e := &env{Env: mailtest.New(t, storetest.Backend{})}
	srv := &imap.Server{Store: e.Mail, Logins: e.Logins, TLSConfig: e.TLS}
	configure(srv)
	e.addr = testenv.Serve(t, srv, imap.ErrServerClosed)
	_, e.port, _ = net.SplitHostPort(e.addr)
	return e
}

// imaplibConnect connects with Python's imaplib and prints what it got.
func (e *env) imaplibConnect(t *testing.T) string {
	t.Helper()
	testenv.Need(t, "python3")
	out, _ := mailtest.RunErr(t, "python3", "-c", `
import imaplib, sys
try:
    M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]), timeout=10)
    print("welcome", M.welcome)
except Exception as e:
    print("refused", type(e).__name__, e)
`, e.port)
	return out
}

// Before this, nothing capped IMAP connections.
func TestIMAPConnectionLimits(t *testing.T) {
	t.Run("per address", func(t *testing.T) {
		e := startWith(t, func(s *imap.Server) { s.MaxConnsPerAddr = 2 })
		e.dial(t)
		e.dial(t)
		if out := e.imaplibConnect(t); !strings.Contains(out, "refused") || !strings.Contains(out, "Too many connections from your address") {
			t.Fatalf("third connection from one address: %s", out)
		}
	})
	t.Run("global", func(t *testing.T) {
		e := startWith(t, func(s *imap.Server) { s.MaxConns = 2 })
		first := e.dial(t)
		e.dial(t)
		if out := e.imaplibConnect(t); !strings.Contains(out, "refused") || !strings.Contains(out, "Too many connections, try again later") {
			t.Fatalf("third connection: %s", out)
		}
		first.c.Close()
		testenv.Eventually(t, 10*time.Second, func() error {
			if out := e.imaplibConnect(t); !strings.Contains(out, "welcome") {
				return errors.New(out)
			}
			return nil
		})
	})
}

// An unauthenticated IMAP connection that keeps sending NOOP used to stay
// open for ever; now it gets "* BYE" at LoginTimeout. A login in time
// lifts the bound.
func TestIMAPLoginTimeout(t *testing.T) {
	testenv.Need(t, "python3")
	const timeout = time.Second
	e := startWith(t, func(s *imap.Server) { s.LoginTimeout = timeout })
	out := mailtest.Python(t, `
import imaplib, ssl, sys, time
start = time.monotonic()
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]), timeout=20)
try:
    while time.monotonic() - start < 10:
        M.noop()
        time.sleep(0.1)
    print("still open")
except M.abort as e:
    print("closed after %.1f: %s" % (time.monotonic() - start, e))

ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
start = time.monotonic()
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]), timeout=20)
M.starttls(ssl_context=ctx)
M.login("alice", sys.argv[2])
while time.monotonic() - start < 2.5:
    M.noop()
    time.sleep(0.1)
print("logged in, open after %.1f" % (time.monotonic() - start))
`, e.port, mailtest.Password)
	var after float64
	if _, err := fmt.Sscanf(out, "closed after %f: ", &after); err != nil || !strings.Contains(out, "Login timeout") {
		t.Fatalf("unauthenticated trickle: %s", out)
	}
	if after < timeout.Seconds()-0.2 || after > timeout.Seconds()+3 {
		t.Fatalf("closed after %.1fs, want about %v: %s", after, timeout, out)
	}
	if !strings.Contains(out, "logged in, open after") {
		t.Fatalf("logged-in session: %s", out)
	}
}
