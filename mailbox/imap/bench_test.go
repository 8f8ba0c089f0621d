package imap_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/store/storetest"
)

// The benchmarks here run each workload on Ferry beside a reference in the
// same run: go-imap's own in-memory server (imapmemserver), the IMAP
// engine Ferry's server is built on with the messages in memory and
// nothing of Ferry's (no database, no blob files, no fsync), over the same
// STARTTLS connection and the same client. Dovecot, the reference of the
// issue's table, is compared by cmd/mailbench.
//
//	go test -run '^$' -bench 'FetchHeaders|FetchBodies|Append' -count 5 ./mailbox/imap/

// BenchmarkFetchHeaders measures FETCH 1:1000 (BODY.PEEK[HEADER]) on a
// folder of 1,000 messages.
func BenchmarkFetchHeaders(b *testing.B) {
	msgs := make([][]byte, 1000)
	for i := range msgs {
		msgs[i] = mailtest.Message(fmt.Sprintf("message %d", i), strings.Repeat("body line\r\n", 50))
	}
	benchFetch(b, msgs, "FETCH 1:1000 (BODY.PEEK[HEADER])", 1000)
}

// BenchmarkFetchBodies measures FETCH 1:300 (BODY.PEEK[]) on a folder of
// 300 messages of 10 KiB.
func BenchmarkFetchBodies(b *testing.B) {
	msgs := make([][]byte, 300)
	for i := range msgs {
		msgs[i] = benchMessage(i, 10<<10)
	}
	benchFetch(b, msgs, "FETCH 1:300 (BODY.PEEK[])", 300)
}

// BenchmarkAppend measures APPEND of 10 KiB messages to INBOX, one after
// the other in one session (an op is one message). Ferry's reply comes
// after the blob is fsynced and the rows are committed.
func BenchmarkAppend(b *testing.B) {
	run := func(b *testing.B, c *conn) {
		b.ResetTimer()
		i := 0
		for b.Loop() {
			c.appendMsg(benchMessage(i, 10<<10))
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	}
	b.Run("reference-engine", func(b *testing.B) {
		e := start(b, storetest.Backend{})
		c := startReference(b, e).dial(b)
		c.login("alice")
		run(b, c)
	})
	b.Run("ferry", func(b *testing.B) {
		e := start(b, storetest.Backend{})
		c := e.dial(b)
		c.login("alice")
		run(b, c)
	})
}

// benchMessage returns message i of about size octets.
func benchMessage(i, size int) []byte {
	m := mailtest.Message(fmt.Sprintf("message %d", i), "")
	line := "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 abcdefghijk\r\n"
	var body bytes.Buffer
	for len(m)+body.Len()+len(line) <= size {
		body.WriteString(line)
	}
	return append(m[:len(m)-2], body.Bytes()...)
}

// benchFetch loads msgs into INBOX of both servers and measures cmd,
// which must answer n messages.
func benchFetch(b *testing.B, msgs [][]byte, cmd string, n int) {
	fetch := func(b *testing.B, c *conn) {
		if u, _ := c.cmd("EXAMINE INBOX"); !has(u, fmt.Sprintf("* %d EXISTS", len(msgs))) {
			b.Fatalf("examine: %q", u)
		}
		b.ResetTimer()
		for b.Loop() {
			if got, done := c.fetch(cmd); got != n || !strings.HasPrefix(done, "OK") {
				b.Fatalf("fetch: %d messages, %s", got, done)
			}
		}
	}
	b.Run("reference-engine", func(b *testing.B) {
		e := start(b, storetest.Backend{})
		c := startReference(b, e).dial(b)
		c.login("alice")
		for _, m := range msgs {
			c.appendMsg(m)
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

// startReference starts imapmemserver with user alice and her INBOX, on
// e's TLS configuration.
func startReference(b *testing.B, e *env) *env {
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
	return &env{Env: e.Env, addr: ln.Addr().String()}
}

// appendMsg appends m to INBOX.
func (c *conn) appendMsg(m []byte) {
	c.tag++
	tag := fmt.Sprintf("t%d", c.tag)
	fmt.Fprintf(c.c, "%s APPEND INBOX {%d}\r\n", tag, len(m))
	if l := c.line(); !strings.HasPrefix(l, "+") {
		c.t.Fatalf("append: %q", l)
	}
	if _, err := c.c.Write(append(m, "\r\n"...)); err != nil {
		c.t.Fatal(err)
	}
	for l := c.line(); !strings.HasPrefix(l, tag+" "); l = c.line() {
		if !strings.HasPrefix(l, "* ") {
			c.t.Fatalf("append: %q", l)
		}
	}
}

// fetch sends a FETCH command and reads its reply as a client library
// would (literals by their size), with one read deadline for all of it:
// the client's own cost stays small beside the servers'. It returns how
// many FETCH responses came and the tagged reply.
func (c *conn) fetch(cmd string) (n int, done string) {
	c.tag++
	tag := fmt.Sprintf("t%d ", c.tag)
	fmt.Fprintf(c.c, "%s%s\r\n", tag, cmd)
	c.c.SetReadDeadline(time.Now().Add(time.Minute))
	for {
		l, err := c.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			c.t.Fatalf("fetch: line too long: %.100q", l)
		}
		if err != nil {
			c.t.Fatalf("fetch: %v", err)
		}
		if bytes.HasPrefix(l, []byte(tag)) {
			return n, strings.TrimRight(string(l[len(tag):]), "\r\n")
		}
		if bytes.HasPrefix(l, []byte("* ")) && bytes.Contains(l, []byte(" FETCH ")) {
			n++
		}
		// A line ending in a literal {size}: skip it; the response goes on
		// after it.
		for len(l) > 3 && l[len(l)-3] == '}' {
			open := bytes.LastIndexByte(l, '{')
			size, err := strconv.Atoi(string(l[open+1 : len(l)-3]))
			if open < 0 || err != nil {
				c.t.Fatalf("fetch: bad literal in %q", l)
			}
			if _, err := io.CopyN(io.Discard, c.br, int64(size)); err != nil {
				c.t.Fatalf("fetch: %v", err)
			}
			if l, err = c.br.ReadSlice('\n'); err != nil {
				c.t.Fatalf("fetch: %v", err)
			}
		}
	}
}
