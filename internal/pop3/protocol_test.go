package pop3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	size1 = len(msg1)
	size2 = len(msg2)
	size3 = len(msg3)
	total = size1 + size2 + size3
)

func TestGreeting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		configure func(*Server)
		want      string
	}{
		{"custom", nil, "+OK ferry test POP3 ready"},
		{"domain", func(s *Server) { s.Greeting = ""; s.Domain = "mail.example.org" }, "+OK mail.example.org POP3 server ready"},
		{"default", func(s *Server) { s.Greeting = "" }, "+OK POP3 server ready"},
		{"sanitized", func(s *Server) { s.Greeting = "evil\r\n+OK injected" }, "+OK evil  +OK injected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.configure)
			c, greeting := dial(t, ts.addr)
			if greeting != tc.want {
				t.Errorf("greeting = %q, want %q", greeting, tc.want)
			}
			c.expect("QUIT", "+OK bye")
			c.expectEOF()
		})
	}
}

func TestCAPA(t *testing.T) {
	t.Parallel()
	serverTLS, _ := testCert(t)
	base := []string{"TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION Ferry"}
	withSTLS := []string{"TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS", "IMPLEMENTATION Ferry"}
	tlsOnly := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS", "IMPLEMENTATION Ferry"}
	for _, tc := range []struct {
		name      string
		configure func(*Server)
		auth      []string
	}{
		{"plain", nil, base},
		{"stls", func(s *Server) { s.TLSConfig = serverTLS }, withSTLS},
		{"require-tls", func(s *Server) { s.TLSConfig = serverTLS; s.RequireTLSForAuth = true }, tlsOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.configure)
			c, _ := dial(t, ts.addr)
			c.expect("CAPA", "+OK Capability list follows")
			if got := c.lines(); !slices.Equal(got, tc.auth) {
				t.Errorf("CAPA in AUTHORIZATION = %q, want %q", got, tc.auth)
			}
			if tc.name == "require-tls" {
				return
			}
			c.login("alice", "secret")
			c.expect("capa", "+OK Capability list follows")
			if got := c.lines(); !slices.Equal(got, base) {
				t.Errorf("CAPA in TRANSACTION = %q, want %q", got, base)
			}
			c.expect("CAPA extra", "-ERR syntax error")
		})
	}
}

func TestTransactionCommands(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, _ := dial(t, ts.addr)
	c.expect("USER alice", "+OK send PASS")
	c.expect("PASS secret", fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", total))

	c.expect("STAT", fmt.Sprintf("+OK 3 %d", total))
	c.expect("LIST", fmt.Sprintf("+OK 3 messages (%d octets)", total))
	want := []string{fmt.Sprintf("1 %d", size1), fmt.Sprintf("2 %d", size2), fmt.Sprintf("3 %d", size3)}
	if got := c.lines(); !slices.Equal(got, want) {
		t.Errorf("LIST = %q, want %q", got, want)
	}
	c.expect("LIST 2", fmt.Sprintf("+OK 2 %d", size2))
	c.expect("UIDL", "+OK unique-id listing follows")
	if got, want := c.lines(), []string{"1 uid-1", "2 uid-2", "3 uid-3"}; !slices.Equal(got, want) {
		t.Errorf("UIDL = %q, want %q", got, want)
	}
	c.expect("UIDL 3", "+OK 3 uid-3")
	c.expect("NOOP", "+OK")

	c.expect("RETR 1", fmt.Sprintf("+OK %d octets", size1))
	if got := c.body(); got != msg1+".\r\n" {
		t.Errorf("RETR 1 = %q", got)
	}

	c.expect("QUIT", "+OK bye (0 messages deleted)")
	c.expectEOF()
	box := ts.backend.box("alice")
	waitFor(t, ts.backend, "Close", func() bool { return box.closes == 1 })
	ts.backend.with(func() {
		if len(box.commits) != 1 || len(box.commits[0]) != 0 {
			t.Errorf("commits = %v, want one empty commit", box.commits)
		}
		if box.locked {
			t.Error("maildrop still locked after QUIT")
		}
		if box.lastTLS {
			t.Error("ConnInfo.TLS = true on a plain connection")
		}
	})
}

func TestCaseInsensitive(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, _ := dial(t, ts.addr)
	c.expect("user alice", "+OK send PASS")
	c.expectPrefix("pAsS secret", "+OK ")
	c.expect("stat", fmt.Sprintf("+OK 3 %d", total))
	c.expect("LiSt 1", fmt.Sprintf("+OK 1 %d", size1))
	c.expect("uidl 1", "+OK 1 uid-1")
	c.expect("noop", "+OK")
	c.expectPrefix("quit", "+OK bye")
}

func TestPasswordWithSpaces(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	ts.backend.with(func() { ts.backend.boxes["carol"] = &memBox{password: "two words  "} })
	c, _ := dial(t, ts.addr)
	c.login("carol", "two words  ")
	c.expect("STAT", "+OK 0 0")
	c.expect("LIST", "+OK 0 messages (0 octets)")
	if got := c.lines(); got != nil {
		t.Errorf("LIST of an empty maildrop = %q", got)
	}
}

func TestUnknownAndWrongState(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, _ := dial(t, ts.addr)
	for _, tc := range []struct{ cmd, want string }{
		{"FOO", "-ERR unknown command"},
		{"AUTH", "-ERR unknown command"},
		{"APOP alice 0123456789abcdef", "-ERR APOP not supported"},
		{"STAT", "-ERR command not valid in this state"},
		{"LIST", "-ERR command not valid in this state"},
		{"RETR 1", "-ERR command not valid in this state"},
		{"NOOP", "-ERR command not valid in this state"},
		{"STLS", "-ERR STLS not available"},
		{"PASS secret", "-ERR send USER first"},
		{"USER", "-ERR syntax error"},
		{"USER a b", "-ERR syntax error"},
		{"", "-ERR empty command"},
		{"   ", "-ERR empty command"},
		{"NO\x00OP", "-ERR invalid characters in command"},
	} {
		c.expect(tc.cmd, tc.want)
		c.expect("CAPA", "+OK Capability list follows") // keep the consecutive error count low
		c.lines()
	}
	c.expect("USER alice", "+OK send PASS")
	c.expect("PASS", "-ERR syntax error")
	c.expect("PASS secret", "-ERR send USER first")
	c.login("alice", "secret")
	for _, tc := range []struct{ cmd, want string }{
		{"USER alice", "-ERR command not valid in this state"},
		{"PASS secret", "-ERR command not valid in this state"},
		{"APOP alice x", "-ERR command not valid in this state"},
		{"STLS", "-ERR command not valid in this state"},
		{"BOGUS", "-ERR unknown command"},
	} {
		c.expect(tc.cmd, tc.want)
	}
	c.expect("NOOP", "+OK")
}

func TestBadArguments(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, _ := dial(t, ts.addr)
	c.login("alice", "secret")
	for _, tc := range []struct{ cmd, want string }{
		{"LIST 0", "-ERR no such message"},
		{"LIST 4", "-ERR no such message"},
		{"LIST -1", "-ERR no such message"},
		{"LIST +1", "-ERR no such message"},
		{"LIST abc", "-ERR no such message"},
		{"LIST 1.0", "-ERR no such message"},
		{"LIST 99999999999999999999", "-ERR no such message"},
		{"LIST 1 2", "-ERR syntax error"},
		{"UIDL 0", "-ERR no such message"},
		{"UIDL 1 2", "-ERR syntax error"},
		{"RETR", "-ERR syntax error"},
		{"RETR 4", "-ERR no such message"},
		{"RETR x", "-ERR no such message"},
		{"DELE", "-ERR syntax error"},
		{"DELE 0", "-ERR no such message"},
		{"TOP 1", "-ERR syntax error"},
		{"TOP 1 -1", "-ERR invalid line count"},
		{"TOP 1 x", "-ERR invalid line count"},
		{"TOP 9 1", "-ERR no such message"},
		{"STAT 1", "-ERR syntax error"},
		{"NOOP 1", "-ERR syntax error"},
	} {
		c.expect(tc.cmd, tc.want)
		c.expect("NOOP", "+OK") // keep the consecutive error count low
	}
	// Leading zeros and extra spaces are tolerated.
	c.expect("LIST  02 ", fmt.Sprintf("+OK 2 %d", size2))
}

func TestLongLine(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(s *Server) { s.MaxLineLength = 64 })
	c, _ := dial(t, ts.addr)
	c.expect("NOOP "+strings.Repeat("x", 5000), "-ERR line too long")
	c.expect("USER "+strings.Repeat("y", 59), "+OK send PASS") // exactly 64 octets
	c.expect("USER "+strings.Repeat("y", 60), "-ERR line too long")
	c.login("alice", "secret")
	// A huge line is discarded without being buffered and the
	// connection goes on; pipelined commands after it still work.
	c.send("RETR " + strings.Repeat("9", 1<<20) + "\r\nSTAT")
	if got := c.line(); got != "-ERR line too long" {
		t.Fatalf("got %q", got)
	}
	if got, want := c.line(), fmt.Sprintf("+OK 3 %d", total); got != want {
		t.Fatalf("STAT after long line = %q, want %q", got, want)
	}
}

func TestTooManyErrors(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, _ := dial(t, ts.addr)
	for i := 0; i < 9; i++ {
		c.expect("BOGUS", "-ERR unknown command")
	}
	c.expect("CAPA", "+OK Capability list follows") // resets the count
	c.lines()
	for i := 0; i < 9; i++ {
		c.expect("STAT", "-ERR command not valid in this state")
	}
	c.expect("BOGUS", "-ERR too many errors")
	c.expectEOF()
}

func TestAuthFailures(t *testing.T) {
	t.Parallel()
	const delay = 150 * time.Millisecond
	ts := startServer(t, func(s *Server) { s.AuthFailureDelay = delay })
	c, _ := dial(t, ts.addr)
	for i := 0; i < 2; i++ {
		c.expect("USER alice", "+OK send PASS")
		start := time.Now()
		c.expect("PASS wrong", "-ERR [AUTH] invalid credentials")
		if d := time.Since(start); d < delay {
			t.Errorf("failed login answered after %v, want at least %v", d, delay)
		}
	}
	// USER for an unknown user looks the same as for a known one.
	c.expect("USER nobody", "+OK send PASS")
	c.expect("PASS x", "-ERR [AUTH] invalid credentials")
	c.expectEOF()
	if box := ts.backend.box("alice"); box.logins != 0 {
		t.Errorf("logins = %d", box.logins)
	}
}

func TestLoginErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		err     error
		want    string
		logged  string
		notSent string
	}{
		{"internal", errors.New("db exploded: secret-internal-detail"), "-ERR [SYS/TEMP] temporary failure, try again later", "secret-internal-detail", "secret-internal-detail"},
		{"typed", &Error{Code: "SYS/PERM", Message: "account disabled"}, "-ERR [SYS/PERM] account disabled", "", ""},
		{"wrapped", fmt.Errorf("lookup: %w", ErrAuthFailed), "-ERR [AUTH] invalid credentials", "", ""},
		{"no-code", &Error{Message: "go away\r\nnow"}, "-ERR go away  now", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, nil)
			ts.backend.with(func() { ts.backend.loginErr = tc.err })
			c, _ := dial(t, ts.addr)
			c.expect("USER alice", "+OK send PASS")
			got := c.cmd("PASS secret")
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if tc.logged != "" && !strings.Contains(ts.logs.String(), tc.logged) {
				t.Errorf("error %q not logged; log:\n%s", tc.logged, ts.logs.String())
			}
			// The connection stays usable.
			c.expect("QUIT", "+OK bye")
		})
	}
}

func TestRequireTLSForAuth(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testCert(t)
	ts := startServer(t, func(s *Server) { s.TLSConfig = serverTLS; s.RequireTLSForAuth = true })
	c, _ := dial(t, ts.addr)
	c.expect("USER alice", "-ERR [AUTH] TLS required")
	c.expect("PASS secret", "-ERR [AUTH] TLS required")
	c.expect("STLS", "+OK Begin TLS negotiation")
	c.startTLS(clientTLS)
	c.login("alice", "secret")
	if box := ts.backend.box("alice"); !box.lastTLS {
		t.Error("ConnInfo.TLS = false after STLS")
	}
}

func TestRETRDotStuffingAndBareLF(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, _ := dial(t, ts.addr)
	c.login("alice", "secret")
	c.expect("RETR 2", fmt.Sprintf("+OK %d octets", size2))
	if got := c.body(); got != msg2Wire {
		t.Errorf("RETR 2 wire =\n%q\nwant\n%q", got, msg2Wire)
	}
	// The connection is still in sync.
	c.expect("NOOP", "+OK")
}

func TestTOP(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, _ := dial(t, ts.addr)
	c.login("alice", "secret")
	for _, tc := range []struct{ cmd, want string }{
		{"TOP 3 0", "Subject: three\r\nX-H: y\r\n\r\n.\r\n"},
		{"TOP 3 2", "Subject: three\r\nX-H: y\r\n\r\nline1\r\nline2\r\n.\r\n"},
		{"TOP 3 3", msg3 + ".\r\n"},
		{"TOP 3 100", msg3 + ".\r\n"},
		{"TOP 3 99999999999999999999999", msg3 + ".\r\n"},
		{"TOP 2 1", "Subject: dots\r\n\r\n..leading dot\r\n.\r\n"},
		{"TOP 2 0", "Subject: dots\r\n\r\n.\r\n"},
	} {
		c.expect(tc.cmd, "+OK top of message follows")
		if got := c.body(); got != tc.want {
			t.Errorf("%s =\n%q\nwant\n%q", tc.cmd, got, tc.want)
		}
	}
}

func TestDELEAndRSET(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, _ := dial(t, ts.addr)
	c.login("alice", "secret")
	c.expect("DELE 2", "+OK message 2 deleted")
	c.expect("DELE 2", "-ERR no such message")
	c.expect("STAT", fmt.Sprintf("+OK 2 %d", size1+size3))
	c.expect("LIST", fmt.Sprintf("+OK 2 messages (%d octets)", size1+size3))
	if got, want := c.lines(), []string{fmt.Sprintf("1 %d", size1), fmt.Sprintf("3 %d", size3)}; !slices.Equal(got, want) {
		t.Errorf("LIST after DELE = %q, want %q", got, want)
	}
	c.expect("UIDL", "+OK unique-id listing follows")
	if got, want := c.lines(), []string{"1 uid-1", "3 uid-3"}; !slices.Equal(got, want) {
		t.Errorf("UIDL after DELE = %q, want %q", got, want)
	}
	for _, cmd := range []string{"LIST 2", "UIDL 2", "RETR 2", "TOP 2 0"} {
		c.expect(cmd, "-ERR no such message")
	}
	c.expect("RSET", fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", total))
	c.expect("STAT", fmt.Sprintf("+OK 3 %d", total))
	c.expect("LIST 2", fmt.Sprintf("+OK 2 %d", size2))
	c.expect("QUIT", "+OK bye (0 messages deleted)")
	c.expectEOF()
	box := ts.backend.box("alice")
	waitFor(t, ts.backend, "Close", func() bool { return box.closes == 1 })
	ts.backend.with(func() {
		if len(box.commits) != 1 || len(box.commits[0]) != 0 {
			t.Errorf("commits = %v, want [[]]", box.commits)
		}
		if len(box.messages) != 3 {
			t.Errorf("%d messages left, want 3", len(box.messages))
		}
	})
}

func TestQuitCommitsDeleted(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, _ := dial(t, ts.addr)
	c.login("alice", "secret")
	c.expect("DELE 3", "+OK message 3 deleted")
	c.expect("DELE 1", "+OK message 1 deleted")
	c.expect("QUIT", "+OK bye (2 messages deleted)")
	c.expectEOF()

	box := ts.backend.box("alice")
	ts.backend.with(func() {
		// Close happens before the QUIT reply.
		if box.closes != 1 || box.locked {
			t.Errorf("closes = %d, locked = %v after QUIT reply", box.closes, box.locked)
		}
		if len(box.commits) != 1 || !slices.Equal(box.commits[0], []int{0, 2}) {
			t.Errorf("commits = %v, want [[0 2]]", box.commits)
		}
	})

	c2, _ := dial(t, ts.addr)
	c2.login("alice", "secret")
	c2.expect("UIDL", "+OK unique-id listing follows")
	if got, want := c2.lines(), []string{"1 uid-2"}; !slices.Equal(got, want) {
		t.Errorf("UIDL after commit = %q, want %q", got, want)
	}
	c2.expect("DELE 1", "+OK message 1 deleted")
	c2.expect("QUIT", "+OK bye (1 message deleted)")
}

func TestDroppedConnectionCommitsNothing(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, _ := dial(t, ts.addr)
	c.login("alice", "secret")
	c.expect("DELE 1", "+OK message 1 deleted")
	c.expect("DELE 2", "+OK message 2 deleted")
	c.nc.Close()

	box := ts.backend.box("alice")
	waitFor(t, ts.backend, "Close after drop", func() bool { return box.closes == 1 })
	ts.backend.with(func() {
		if len(box.commits) != 0 {
			t.Errorf("commits = %v, want none", box.commits)
		}
		if box.locked || len(box.messages) != 3 {
			t.Errorf("locked = %v, %d messages", box.locked, len(box.messages))
		}
	})
}

func TestInUse(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	a, _ := dial(t, ts.addr)
	a.login("alice", "secret")

	b, _ := dial(t, ts.addr)
	b.expect("USER alice", "+OK send PASS")
	b.expect("PASS secret", "-ERR [IN-USE] maildrop already locked")
	box := ts.backend.box("alice")
	ts.backend.with(func() {
		if box.closes != 1 {
			t.Errorf("closes = %d after IN-USE, want 1", box.closes)
		}
	})
	// Back in AUTHORIZATION: transaction commands are refused.
	b.expect("STAT", "-ERR command not valid in this state")

	a.expectPrefix("QUIT", "+OK bye")
	b.login("alice", "secret")
	b.expect("STAT", fmt.Sprintf("+OK 3 %d", total))
}

func TestLockErrors(t *testing.T) {
	t.Parallel()
	t.Run("internal", func(t *testing.T) {
		ts := startServer(t, nil)
		box := ts.backend.box("alice")
		ts.backend.with(func() { box.lockErr = errors.New("disk on fire") })
		c, _ := dial(t, ts.addr)
		c.expect("USER alice", "+OK send PASS")
		c.expect("PASS secret", "-ERR [SYS/TEMP] temporary failure, try again later")
		if !strings.Contains(ts.logs.String(), "disk on fire") {
			t.Errorf("lock error not logged")
		}
		ts.backend.with(func() {
			if box.closes != 1 {
				t.Errorf("closes = %d, want 1", box.closes)
			}
		})
	})
	t.Run("invalid-snapshot", func(t *testing.T) {
		for _, mutate := range []func([]MessageInfo) []MessageInfo{
			func(m []MessageInfo) []MessageInfo { m[0].UID = "has space"; return m },
			func(m []MessageInfo) []MessageInfo { m[0].UID = ""; return m },
			func(m []MessageInfo) []MessageInfo { m[0].UID = strings.Repeat("u", 71); return m },
			func(m []MessageInfo) []MessageInfo { m[1].UID = m[0].UID; return m },
			func(m []MessageInfo) []MessageInfo { m[2].Size = -1; return m },
		} {
			ts := startServer(t, nil)
			box := ts.backend.box("alice")
			ts.backend.with(func() { box.snapshot = mutate })
			c, _ := dial(t, ts.addr)
			c.expect("USER alice", "+OK send PASS")
			c.expect("PASS secret", "-ERR [SYS/TEMP] temporary failure, try again later")
			ts.backend.with(func() {
				if box.closes != 1 || box.locked {
					t.Errorf("closes = %d, locked = %v", box.closes, box.locked)
				}
			})
		}
	})
}

func TestCommitFailure(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	box := ts.backend.box("alice")
	ts.backend.with(func() { box.commitErr = errors.New("transaction aborted") })
	c, _ := dial(t, ts.addr)
	c.login("alice", "secret")
	c.expect("DELE 1", "+OK message 1 deleted")
	c.expect("QUIT", "-ERR [SYS/TEMP] some deleted messages not removed")
	c.expectEOF()
	ts.backend.with(func() {
		if box.closes != 1 || box.locked {
			t.Errorf("closes = %d, locked = %v", box.closes, box.locked)
		}
		if len(box.messages) != 3 {
			t.Errorf("%d messages left, want 3", len(box.messages))
		}
	})
	if !strings.Contains(ts.logs.String(), "transaction aborted") {
		t.Error("commit error not logged")
	}
}

func TestOpenError(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	box := ts.backend.box("alice")
	c, _ := dial(t, ts.addr)
	c.login("alice", "secret")
	ts.backend.with(func() { box.openErr = errors.New("blob missing") })
	c.expect("RETR 1", "-ERR [SYS/TEMP] temporary failure, try again later")
	ts.backend.with(func() { box.openErr = &Error{Code: "SYS/PERM", Message: "message unreadable"} })
	c.expect("TOP 1 0", "-ERR [SYS/PERM] message unreadable")
	ts.backend.with(func() { box.openErr = nil })
	c.expect("RETR 1", fmt.Sprintf("+OK %d octets", size1))
	c.body()
}

func TestPipelining(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, _ := dial(t, ts.addr)
	c.send("USER alice\r\nPASS secret\r\nSTAT\r\nLIST 1\r\nRETR 3\r\nDELE 3\r\nQUIT")
	for _, want := range []string{
		"+OK send PASS",
		fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", total),
		fmt.Sprintf("+OK 3 %d", total),
		fmt.Sprintf("+OK 1 %d", size1),
		fmt.Sprintf("+OK %d octets", size3),
	} {
		if got := c.line(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if got := c.body(); got != msg3+".\r\n" {
		t.Fatalf("RETR 3 = %q", got)
	}
	for _, want := range []string{"+OK message 3 deleted", "+OK bye (1 message deleted)"} {
		if got := c.line(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	c.expectEOF()
}

func TestBackendPanic(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	ts.backend.with(func() { ts.backend.panicOn = "mallory" })
	c, _ := dial(t, ts.addr)
	c.expect("USER mallory", "+OK send PASS")
	c.send("PASS x")
	// The client is told, then the connection ends.
	if got := c.line(); got != "-ERR [SYS/TEMP] internal server error" {
		t.Fatalf("reply to a panic: %q", got)
	}
	c.expectEOF()
	if !strings.Contains(ts.logs.String(), "test backend panic") {
		t.Error("panic not logged")
	}
	c2, _ := dial(t, ts.addr)
	c2.login("alice", "secret")
}

func TestAutologout(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(s *Server) { s.ReadTimeout = 500 * time.Millisecond })
	c, _ := dial(t, ts.addr)
	c.login("alice", "secret")
	c.expect("DELE 1", "+OK message 1 deleted")
	if got := c.line(); got != "-ERR autologout timer expired" {
		t.Fatalf("got %q", got)
	}
	c.expectEOF()
	box := ts.backend.box("alice")
	waitFor(t, ts.backend, "Close", func() bool { return box.closes == 1 })
	ts.backend.with(func() {
		if len(box.commits) != 0 {
			t.Errorf("autologout committed %v", box.commits)
		}
	})
}

func TestServeErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Server{}).Serve(ln); err == nil || errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve without Backend = %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("Serve did not close the listener")
	}

	srv := &Server{Backend: newMemBackend()}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln2); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
}

func TestBackendFunc(t *testing.T) {
	t.Parallel()
	infos := make(chan ConnInfo, 1)
	b := BackendFunc(func(ctx context.Context, conn ConnInfo, username, password string) (Session, error) {
		infos <- conn
		return nil, ErrAuthFailed
	})
	ts := startServer(t, func(s *Server) { s.Backend = b })
	c, _ := dial(t, ts.addr)
	c.expect("USER u", "+OK send PASS")
	c.expect("PASS p", "-ERR [AUTH] invalid credentials")
	got := <-infos
	if got.TLS {
		t.Error("ConnInfo.TLS = true on a plain connection")
	}
	if got.RemoteAddr == nil || got.RemoteAddr.String() != c.nc.LocalAddr().String() {
		t.Errorf("ConnInfo.RemoteAddr = %v, want %v", got.RemoteAddr, c.nc.LocalAddr())
	}
}

func TestValidUID(t *testing.T) {
	t.Parallel()
	for uid, want := range map[string]bool{
		"a":                     true,
		"~!":                    true,
		strings.Repeat("x", 70): true,
		"":                      false,
		strings.Repeat("x", 71): false,
		"a b":                   false,
		"é":                     false,
		"a\x7f":                 false,
	} {
		if got := ValidUID(uid); got != want {
			t.Errorf("ValidUID(%q) = %v, want %v", uid, got, want)
		}
	}
}
