package pop3_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// popClosed reports whether the server closed p's connection.
func popClosed(p *popConn) bool {
	p.c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = p.c.Write([]byte("NOOP\r\n"))
	for {
		line, err := p.br.ReadString('\n')
		if err != nil {
			var ne net.Error
			return !errors.As(err, &ne) || !ne.Timeout()
		}
		if strings.HasPrefix(line, "+OK") {
			return false
		}
	}
}

func TestPOP3RevalidateSessions(t *testing.T) {
	changes := map[string]func(a *store.Account){
		"disabled": func(a *store.Account) { a.Enabled = false },
		"password": func(a *store.Account) { a.PasswordHash += "x" },
		"no mail":  func(a *store.Account) { a.Permissions = "list,download" },
	}
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := startPOP3(t, b)
			ctx := context.Background()
			for name, change := range changes {
				t.Run(name, func(t *testing.T) {
					alice, bob := loginWhenFree(t, e, "alice"), loginWhenFree(t, e, "bob")
					if n, err := e.srv.RevalidateSessions(ctx); err != nil || n != 0 {
						t.Fatalf("unchanged accounts: closed %d, %v", n, err)
					}
					if line := alice.cmd(t, "DELE 1"); !strings.HasPrefix(line, "+OK") {
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
					restored := false
					restore := func() {
						if !restored {
							restored = true
							if err := e.DB.UpdateAccount(ctx, &orig); err != nil {
								t.Error(err)
							}
						}
					}
					t.Cleanup(restore)
					if n, err := e.srv.RevalidateSessions(ctx); err != nil || n != 1 {
						t.Fatalf("after change: closed %d, %v; want 1", n, err)
					}
					if !popClosed(alice) {
						t.Fatal("alice's session is still open")
					}
					if popClosed(bob) {
						t.Fatal("bob's session was closed")
					}
					// The kicked session committed nothing, and released the
					// maildrop: a new session sees all 3 messages.
					if got := e.uids(t); len(got) != 3 {
						t.Fatalf("kicked session deleted mail: %v", got)
					}
					restore()
					testenv.Eventually(t, 5*time.Second, func() error {
						p := e.login(t, "alice")
						line := p.cmd(t, "PASS "+mailtest.Password)
						if strings.HasPrefix(line, "+OK 3 ") || strings.HasPrefix(line, "+OK") && strings.Contains(line, "3 message") {
							p.cmd(t, "QUIT")
							return nil
						}
						p.c.Close()
						return fmt.Errorf("login after the kick: %s", line)
					})
				})
			}
		})
	}
}

// loginWhenFree logs user in: a session the previous case closed from the
// client's side may still hold the maildrop for a moment.
func loginWhenFree(t *testing.T, e *pop3Env, user string) *popConn {
	t.Helper()
	var p *popConn
	testenv.Eventually(t, 5*time.Second, func() error {
		p = e.login(t, user)
		if line := p.cmd(t, "PASS "+mailtest.Password); !strings.HasPrefix(line, "+OK") {
			p.c.Close()
			return fmt.Errorf("%s: %s", user, line)
		}
		return nil
	})
	return p
}
