package imap_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/store/storetest"
)

// BenchmarkFetchHeaders measures FETCH 1:1000 (BODY.PEEK[HEADER]) on a
// folder of 1,000 messages; the Dovecot reference runs only where Debian's
// dovecot-imapd is installed.
func BenchmarkFetchHeaders(b *testing.B) {
	b.Run("ferry", func(b *testing.B) {
		e := start(b, storetest.Backend{})
		for i := range 1000 {
			raw := mailtest.Message(fmt.Sprintf("message %d", i), strings.Repeat("body line\r\n", 50))
			if _, err := e.Mail.Deliver(context.Background(), "acme", raw); err != nil {
				b.Fatal(err)
			}
		}
		c := e.dial(b)
		c.login("alice")
		if u, _ := c.cmd("EXAMINE INBOX"); !has(u, "* 1000 EXISTS") {
			b.Fatalf("examine: %q", u)
		}
		b.ResetTimer()
		for b.Loop() {
			u, done := c.cmd("FETCH 1:1000 (BODY.PEEK[HEADER])")
			if !strings.HasPrefix(done, "OK") || len(u) < 1000 {
				b.Fatalf("fetch: %d lines, %s", len(u), done)
			}
		}
	})
	b.Run("dovecot", func(b *testing.B) {
		if _, err := exec.LookPath("dovecot"); err != nil {
			b.Skip("dovecot is not installed: the reference is measured where it is (see issue 7)")
		}
		b.Skip("dovecot reference: scheduled by the lead")
	})
}
