package imap_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// rawIMAP is a logged-in IMAP connection (STARTTLS, LOGIN).
type rawIMAP struct {
	c  net.Conn
	br *bufio.Reader
}

func (e *env) rawLogin(t *testing.T, user string) *rawIMAP {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := &rawIMAP{c: c, br: bufio.NewReader(c)}
	if g, _ := r.br.ReadString('\n'); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	if line := r.cmd(t, "a1 STARTTLS"); !strings.HasPrefix(line, "a1 OK") {
		t.Fatal(line)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	r.c, r.br = tc, bufio.NewReader(tc)
	if line := r.cmd(t, "a2 LOGIN "+user+` "`+mailtest.Password+`"`); !strings.HasPrefix(line, "a2 OK") {
		t.Fatal(line)
	}
	return r
}

// cmd sends line and returns the tagged reply line.
func (r *rawIMAP) cmd(t *testing.T, line string) string {
	t.Helper()
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(r.c, line+"\r\n"); err != nil {
		t.Fatal(err)
	}
	tag := strings.Fields(line)[0] + " "
	for {
		resp, err := r.br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if strings.HasPrefix(resp, tag) {
			return strings.TrimRight(resp, "\r\n")
		}
	}
}

// closed reports whether the server closed the connection: a read ends in
// EOF or a reset (possibly after a BYE line) rather than a timeout.
func (r *rawIMAP) closed(t *testing.T) bool {
	t.Helper()
	r.c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(r.c, "n1 NOOP\r\n")
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			var ne net.Error
			return !errors.As(err, &ne) || !ne.Timeout()
		}
		if strings.HasPrefix(line, "n1 ") {
			return false // the session answered
		}
	}
}

func TestRevalidateSessions(t *testing.T) {
	changes := map[string]func(a *store.Account){
		"disabled": func(a *store.Account) { a.Enabled = false },
		"password": func(a *store.Account) { a.PasswordHash += "x" },
		"no mail":  func(a *store.Account) { a.Permissions = "list,download" },
	}
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, b)
			ctx := context.Background()
			for name, change := range changes {
				t.Run(name, func(t *testing.T) {
					alice := e.rawLogin(t, "alice")
					bob := e.rawLogin(t, "bob")
					if n, err := e.srv.RevalidateSessions(ctx); err != nil || n != 0 {
						t.Fatalf("unchanged accounts: closed %d, %v", n, err)
					}
					if line := alice.cmd(t, "b1 SELECT INBOX"); !strings.HasPrefix(line, "b1 OK") {
						t.Fatal(line)
					}
					a, err := e.DB.AccountByUsername(ctx, "alice")
					if err != nil {
						t.Fatal(err)
					}
					orig := *a
					change(a)
					if err := e.DB.UpdateAccount(ctx, a); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() {
						if err := e.DB.UpdateAccount(ctx, &orig); err != nil {
							t.Error(err)
						}
					})
					if n, err := e.srv.RevalidateSessions(ctx); err != nil || n != 1 {
						t.Fatalf("after change: closed %d, %v; want 1", n, err)
					}
					if !alice.closed(t) {
						t.Fatal("alice's session is still open")
					}
					if bob.closed(t) {
						t.Fatal("bob's session was closed")
					}
					// The closed session stops being tracked once the
					// server notices the close.
					testenv.Eventually(t, 5*time.Second, func() error {
						n, err := e.srv.RevalidateSessions(ctx)
						if err != nil {
							t.Fatal(err)
						}
						if n != 0 {
							return errors.New("the closed session is still tracked")
						}
						return nil
					})
				})
			}
		})
	}
}
