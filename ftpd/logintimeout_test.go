package ftpd_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/testenv"
)

// Idle unauthenticated FTP connections used to hold their places until the
// 15-minute idle timeout, so 64 of them locked their address out, and a
// NOOP now and then kept one for ever. Now they are closed at
// LoginTimeout with "421 Login timeout", however much they send; a login
// in time lifts the bound.
func TestLoginTimeout(t *testing.T) {
	testenv.Need(t, "python3")
	const timeout = 2 * time.Second // longer than the wait for a place (1s), so the third is refused
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) {
		s.LoginTimeout = timeout
		s.MaxSessionsPerIP = 2
	}})
	_, port, _ := strings.Cut(e.addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script := `
import ftplib, sys, time
host, port = "127.0.0.1", int(sys.argv[1])
# Two idle connections fill the address's places.
idle = [ftplib.FTP() for _ in range(2)]
for f in idle:
    f.connect(host, port, timeout=20)
try:
    ftplib.FTP().connect(host, port, timeout=20)
    print("third admitted")
except ftplib.error_temp as e:
    print("third refused:", e)
# One of them trickles NOOPs.
start = time.monotonic()
try:
    while time.monotonic() - start < 10:
        idle[0].voidcmd("NOOP")
        time.sleep(0.1)
    print("still open")
except (ftplib.error_temp, EOFError, OSError) as e:
    print("closed after %.1f: %s" % (time.monotonic() - start, e))
# Their places are free again: a login in time outlives the bound.
deadline = time.monotonic() + 10
while True:
    try:
        f = ftplib.FTP(); f.connect(host, port, timeout=20); break
    except ftplib.error_temp:
        if time.monotonic() > deadline: raise
        time.sleep(0.05)
start = time.monotonic()
f.login("alice", sys.argv[2])
while time.monotonic() - start < 3:
    f.voidcmd("NOOP")
    time.sleep(0.1)
print("logged in, open after %.1f" % (time.monotonic() - start))
`
	raw, err := exec.CommandContext(ctx, "python3", "-c", script, port, pw).CombinedOutput()
	out := string(raw)
	if err != nil {
		t.Fatalf("ftplib: %v\n%s", err, out)
	}
	if !strings.Contains(out, "third refused: 421 Too many connections from your address") {
		t.Fatalf("per-address cap: %s", out)
	}
	var after float64
	_, closed, _ := strings.Cut(out, "closed after ")
	if _, err := fmt.Sscanf(closed, "%f: 421 ", &after); err != nil {
		t.Fatalf("unauthenticated trickle: %s", out)
	}
	if !strings.Contains(closed, "421 Login timeout") {
		t.Fatalf("the trickle's reply does not say it was the login timeout: %s", out)
	}
	if after > timeout.Seconds()+3 {
		t.Fatalf("closed after %.1fs, want about %v: %s", after, timeout, out)
	}
	if !strings.Contains(out, "logged in, open after") {
		t.Fatalf("logged-in session: %s", out)
	}
}
