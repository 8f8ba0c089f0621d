package pop3_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/mailbox/pop3"
	"github.com/ferryhq/ferry/store/storetest"
)

// startPOP3With runs a POP3 server (STLS required for logins) set up by
// configure and returns its port.
func startPOP3With(t *testing.T, configure func(*pop3.Server)) string {
	t.Helper()
	env := mailtest.New(t, storetest.Backend{})
	srv := &pop3.Server{Store: env.Mail, Logins: env.Logins, TLSConfig: env.TLS}
	configure(srv)
	_, port, _ := net.SplitHostPort(testenv.Serve(t, srv, pop3.ErrServerClosed))
	return port
}

// poplibHold opens n connections with poplib, then one more, and prints
// what the last one got; the first n stay open until the script ends.
const poplibHold = `
import poplib, sys
held = [poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=10) for _ in range(int(sys.argv[2]))]
try:
    p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=10)
    print("welcome", p.getwelcome())
except Exception as e:
    print("refused", type(e).__name__, e)
if len(sys.argv) > 3:
    held[0].quit()
    p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=10)
    print("after a quit", p.getwelcome())
`

// Before this, nothing capped POP3 connections.
func TestPOP3ConnectionLimits(t *testing.T) {
	testenv.Need(t, "python3")
	port := startPOP3With(t, func(s *pop3.Server) { s.MaxConnsPerAddr = 3 })
	out := mailtest.Python(t, poplibHold, port, "3")
	if !strings.Contains(out, "refused error_proto b'-ERR [SYS/TEMP] Too many connections from your address'") {
		t.Fatalf("fourth connection from one address: %s", out)
	}
	port = startPOP3With(t, func(s *pop3.Server) { s.MaxConns = 2 })
	out = mailtest.Python(t, poplibHold, port, "2", "quit")
	if !strings.Contains(out, "refused error_proto b'-ERR [SYS/TEMP] Too many connections, try again later'") ||
		!strings.Contains(out, "after a quit b'+OK") {
		t.Fatalf("global limit: %s", out)
	}
}

// An unauthenticated POP3 connection that keeps sending CAPA used to stay
// open: every command renewed the 10-minute autologout timer. Now it is
// closed at LoginTimeout; a login in time lifts the bound.
func TestPOP3LoginTimeout(t *testing.T) {
	testenv.Need(t, "python3")
	const timeout = time.Second
	port := startPOP3With(t, func(s *pop3.Server) { s.LoginTimeout = timeout })
	out := mailtest.Python(t, `
import poplib, ssl, sys, time
start = time.monotonic()
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=20)
try:
    while time.monotonic() - start < 10:
        p._longcmd("CAPA")
        time.sleep(0.1)
    print("still open")
except Exception as e:
    print("closed after %.1f: %s" % (time.monotonic() - start, e))

ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
start = time.monotonic()
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=20)
p.stls(context=ctx)
p.user("alice"); p.pass_(sys.argv[2])
while time.monotonic() - start < 2.5:
    p.noop()
    time.sleep(0.1)
print("logged in, open after %.1f" % (time.monotonic() - start))
`, port, mailtest.Password)
	var after float64
	if _, err := fmt.Sscanf(out, "closed after %f: ", &after); err != nil || !strings.Contains(out, "-ERR autologout timer expired") {
		t.Fatalf("unauthenticated trickle: %s", out)
	}
	if after < timeout.Seconds()-0.2 || after > timeout.Seconds()+3 {
		t.Fatalf("closed after %.1fs, want about %v: %s", after, timeout, out)
	}
	if !strings.Contains(out, "logged in, open after") {
		t.Fatalf("logged-in session: %s", out)
	}
}
