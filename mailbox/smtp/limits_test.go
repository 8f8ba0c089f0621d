package smtp_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/mailbox/smtp"
	"github.com/ferryhq/ferry/store/storetest"
)

// greeted opens a connection and reads the greeting; it stays open until
// the test ends.
func (e *env) greeted(t *testing.T) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := bufio.NewReader(nc).ReadString('\n')
	if !strings.HasPrefix(l, "220 ") {
		t.Fatalf("greeting %q (%v)", l, err)
	}
	nc.SetReadDeadline(time.Time{})
	return nc
}

// swaksRefused runs swaks and returns its transcript; the server must have
// refused it with 421 4.7.0.
func (e *env) swaksRefused(t *testing.T) string {
	t.Helper()
	out, _ := mailtest.RunErr(t, "swaks", "--server", "127.0.0.1", "--port", e.port, "--to", "acme@"+mailtest.Domain,
		"--timeout", "10")
	if !strings.Contains(out, "<** 421 4.7.0 ") {
		t.Fatalf("swaks over the limit:\n%s", out)
	}
	return out
}

// Before this, nothing capped SMTP connections: 1,010 from one address
// used up the process's descriptors.
func TestConnectionLimits(t *testing.T) {
	testenv.Need(t, "swaks")
	t.Run("per address", func(t *testing.T) {
		e := start(t, storetest.Backend{}, func(s *smtp.Server) { s.MaxConnsPerAddr = 3 })
		for range 3 {
			e.greeted(t)
		}
		if out := e.swaksRefused(t); !strings.Contains(out, "Too many connections from your address") {
			t.Fatalf("per-address refusal:\n%s", out)
		}
	})
	t.Run("global", func(t *testing.T) {
		e := start(t, storetest.Backend{}, func(s *smtp.Server) { s.MaxConns = 2 })
		first := e.greeted(t)
		e.greeted(t)
		if out := e.swaksRefused(t); !strings.Contains(out, "Too many connections, try again later") {
			t.Fatalf("global refusal:\n%s", out)
		}
		// A closed connection frees its place.
		first.Close()
		testenv.Eventually(t, 10*time.Second, func() error {
			out, err := mailtest.RunErr(t, "swaks", "--server", "127.0.0.1", "--port", e.port,
				"--to", "acme@"+mailtest.Domain, "--timeout", "10")
			if err != nil || !strings.Contains(out, "<-  250 ") {
				return fmt.Errorf("no place after a close: %v\n%s", err, out)
			}
			return nil
		})
	})
}

// An unauthenticated sender that trickles commands used to keep its
// connection for ever (each line restarted the 5-minute read timeout).
// Now it has LoginTimeout to start a transaction, TransactionTimeout for
// it, and must deliver to get the next one.
func TestLoginTimeoutTrickle(t *testing.T) {
	const login, tx = time.Second, 1500 * time.Millisecond
	e := start(t, storetest.Backend{}, func(s *smtp.Server) { s.LoginTimeout, s.TransactionTimeout = login, tx })

	trickle := func(t *testing.T, c *gosmtp.Client, nc net.Conn, bound time.Duration) {
		t.Helper()
		start := time.Now()
		for time.Since(start) < bound+5*time.Second {
			if err := c.Noop(); err != nil {
				if elapsed := time.Since(start); elapsed < bound-200*time.Millisecond {
					t.Fatalf("closed after %v, before the %v bound: %v", elapsed, bound, err)
				}
				if !strings.Contains(err.Error(), "421") {
					t.Fatalf("closed without 421: %v", err)
				}
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("still open %v after the %v bound", time.Since(start), bound)
	}
	dial := func(t *testing.T) (*gosmtp.Client, net.Conn) {
		nc, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		c := gosmtp.NewClient(nc)
		if err := c.Hello("slow.example"); err != nil {
			t.Fatal(err)
		}
		return c, nc
	}

	t.Run("before MAIL", func(t *testing.T) {
		c, nc := dial(t)
		trickle(t, c, nc, login)
	})
	t.Run("inside a transaction", func(t *testing.T) {
		c, nc := dial(t)
		if err := c.Mail("a@example.org", nil); err != nil {
			t.Fatal(err)
		}
		// A second MAIL does not buy more time.
		c.Reset()
		if err := c.Mail("a@example.org", nil); err != nil {
			t.Fatal(err)
		}
		trickle(t, c, nc, tx)
	})
	t.Run("delivered messages earn time", func(t *testing.T) {
		c, nc := dial(t)
		for i := range 3 {
			time.Sleep(login / 2)
			if err := c.SendMail("a@example.org", []string{"acme@" + mailtest.Domain},
				strings.NewReader("Subject: slow but steady\r\n\r\nbody\r\n")); err != nil {
				t.Fatalf("message %d: %v", i+1, err)
			}
		}
		trickle(t, c, nc, login)
	})
}
