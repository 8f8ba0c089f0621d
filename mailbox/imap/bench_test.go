package imap_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/store/storetest"
)

// BenchmarkFetchHeaders measures FETCH 1:1000 (BODY.PEEK[HEADER]) on a
// folder of 1,000 messages, beside a reference in the same run: go-imap's
// own in-memory server (imapmemserver), the IMAP engine Ferry's server is
// built on with the messages in memory and nothing of Ferry's (no
// database, no blob files), over the same STARTTLS connection. Dovecot,
// the reference of the table, is compared by cmd/mailbench.
//
//	go test -run '^$' -bench FetchHeaders -count 5 ./mailbox/imap/
func BenchmarkFetchHeaders(b *testing.B) {
	msgs := make([][]byte, 1000)
	for i := range msgs {
		msgs[i] = mailtest.Message(fmt.Sprintf("message %d", i), strings.Repeat("body line\r\n", 50))
	}
	fetch := func(b *testing.B, c *conn) {
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
	}
	b.Run("reference-engine", func(b *testing.B) {
		e := start(b, storetest.Backend{})
		mem := imapmemserver.New()
		user := imapmemserver.NewUser("alice", mailtest.Password)
		if err := user.Create("INBOX", nil); err != nil {
			b.Fatal(err)
		}
		mem.AddUser(user)
		srv := imapserver.New(&imapserver.Options{
			NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
				return mem.NewSession(), nil, nil
			},
			Caps:      goimap.CapSet{goimap.CapIMAP4rev1: {}},
			TLSConfig: e.TLS,
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go func() { _ = srv.Serve(ln) }()
		b.Cleanup(func() { srv.Close() })
		ref := &env{Env: e.Env, addr: ln.Addr().String()}
		c := ref.dial(b)
		c.login("alice")
		for _, m := range msgs {
			c.tag++
			tag := fmt.Sprintf("t%d", c.tag)
			fmt.Fprintf(c.c, "%s APPEND INBOX {%d}\r\n", tag, len(m))
			if l := c.line(); !strings.HasPrefix(l, "+") {
				b.Fatalf("append: %q", l)
			}
			if _, err := c.c.Write(append(m, "\r\n"...)); err != nil {
				b.Fatal(err)
			}
			for l := c.line(); !strings.HasPrefix(l, tag+" "); l = c.line() {
				if !strings.HasPrefix(l, "* ") {
					b.Fatalf("append: %q", l)
				}
			}
		}
		fetch(b, c)
	})
	b.Run("ferry", func(b *testing.B) {
		e := start(b, storetest.Backend{})
		for _, m := range msgs {
			if _, err := e.Mail.Deliver(context.Background(), "acme", m); err != nil {
				b.Fatal(err)
			}
		}
		c := e.dial(b)
		c.login("alice")
		fetch(b, c)
	})
}
