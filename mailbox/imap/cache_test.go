package imap_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailbox/imap"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// fetchLines returns the solicited FETCH responses of a FETCH command by
// message (the text after "* n FETCH "): the first one of each message,
// before any EXPUNGE. Updates queued meanwhile come after the answer, and
// the answer alone must be right.
func fetchLines(t *testing.T, c *conn, cmd string) map[string]string {
	t.Helper()
	u, done := c.cmd("%s", cmd)
	if !strings.HasPrefix(done, "OK") {
		t.Fatalf("%s: %s", cmd, done)
	}
	out := map[string]string{}
	for _, l := range u {
		if strings.HasSuffix(l, " EXPUNGE") {
			break
		}
		seq, rest, ok := strings.Cut(strings.TrimPrefix(l, "* "), " FETCH ")
		if !ok || !strings.HasPrefix(l, "* ") {
			continue
		}
		if _, dup := out[seq]; !dup {
			out[seq] = rest
		}
	}
	return out
}

// A node keeps a copy of a selected folder's rows and headers; a FETCH
// must still answer what the database holds when another node, or another
// session, changed the folder since the last command: flags, expunges,
// new messages. The FETCH itself must be right, not the update after it.
func TestFetchSeesOtherNodesChanges(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, b)
			for i := 1; i <= 4; i++ {
				e.deliver(t, e.Mail, fmt.Sprintf("message %d", i), "body")
			}
			a := e.dial(t) // on node 1
			a.login("alice")
			if u, _ := a.cmd("SELECT INBOX"); !has(u, "* 4 EXISTS") {
				t.Fatalf("select: %q", u)
			}
			// Fill node 1's copy: rows and headers.
			if got := fetchLines(t, a, "FETCH 1:* (FLAGS BODY.PEEK[HEADER])"); len(got) != 4 {
				t.Fatalf("first fetch: %q", got)
			}

			other := &mailbox.Store{DB: e.DB, Dir: e.Mail.Dir} // node 2
			e.serve(t, other)
			c2 := e.dial(t)
			c2.login("alice")
			c2.cmd("SELECT INBOX")

			// A session on node 2 flags message 2.
			if _, done := c2.cmd(`STORE 2 +FLAGS.SILENT (\Flagged)`); !strings.HasPrefix(done, "OK") {
				t.Fatal(done)
			}
			got := fetchLines(t, a, "FETCH 1:4 (UID FLAGS)")
			if !strings.Contains(got["2"], `\Flagged`) || strings.Contains(got["1"], `\Flagged`) {
				t.Fatalf("after STORE on node 2: %q", got)
			}

			// Node 2 (no IMAP session at all) expunges message 3 and sets
			// \Seen on message 4.
			inbox, err := other.Folder(context.Background(), e.Acme.ID, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Expunge(context.Background(), inbox.ID, []int64{3}, false); err != nil {
				t.Fatal(err)
			}
			if _, err := other.SetFlags(context.Background(), inbox.ID, []int64{4}, store.FlagsAdd, []string{`\Seen`}); err != nil {
				t.Fatal(err)
			}
			got = fetchLines(t, a, "UID FETCH 1:* (UID FLAGS)")
			if _, ok := got["3"]; ok || len(got) != 3 {
				t.Fatalf("after expunge on node 2, message 3 still answered: %q", got)
			}
			if !strings.Contains(got["4"], `\Seen`) {
				t.Fatalf("after \\Seen on node 2: %q", got)
			}

			// A new message through node 2: its header is read on demand.
			e.deliver(t, other, "message 5", "body")
			a.cmd("NOOP") // the client learns of message 4 (now 3) and 5
			got = fetchLines(t, a, "UID FETCH 5 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
			if len(got) != 1 {
				t.Fatalf("new message: %q", got)
			}
			u, _ := a.cmd("UID FETCH 5 (BODY.PEEK[HEADER])")
			if !has(u, "Subject: message 5") {
				t.Fatalf("header of the new message: %q", u)
			}
		})
	}
}

// Headers past Server.HeaderCache are read for each FETCH and answered
// the same; what the folders hold stays within it and is given back when
// messages are expunged and when the last session leaves the folder.
func TestFetchHeaderCacheBound(t *testing.T) {
	for _, limit := range []int64{-1, 400} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			e := &env{Env: mailtest.New(t, storetest.Backend{})}
			srv := &imap.Server{Store: e.Mail, Logins: e.Logins, Guard: e.Guard, TLSConfig: e.TLS, HeaderCache: limit}
			e.addr = testenv.Serve(t, srv, imap.ErrServerClosed)
			for i := 1; i <= 4; i++ {
				e.deliver(t, e.Mail, fmt.Sprintf("message %d", i), "body")
			}
			c := e.dial(t)
			c.login("alice")
			c.cmd("SELECT INBOX")
			for range 2 {
				u, done := c.cmd("FETCH 1:4 (BODY.PEEK[HEADER] ENVELOPE)")
				for i := 1; i <= 4; i++ {
					if !strings.HasPrefix(done, "OK") || !has(u, fmt.Sprintf("Subject: message %d", i)) || !has(u, fmt.Sprintf(`"message %d"`, i)) {
						t.Fatalf("fetch: %q %s", u, done)
					}
				}
				if used := srv.HeaderCacheUsed(); used > max(limit, 0) || (limit > 0 && used == 0) {
					t.Fatalf("header cache holds %d bytes, bound %d", used, limit)
				}
			}
			before := srv.HeaderCacheUsed()
			c.cmd(`STORE 1 +FLAGS.SILENT (\Deleted)`)
			c.cmd("EXPUNGE")
			if after := srv.HeaderCacheUsed(); limit > 0 && after >= before {
				t.Fatalf("expunge of a cached message: %d bytes held, %d before", after, before)
			}
			c.cmd("LOGOUT")
			deadline := time.Now().Add(5 * time.Second)
			for srv.HeaderCacheUsed() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("after the last session left: %d bytes held", srv.HeaderCacheUsed())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// Messages that arrived since the client's last command are announced
// (EXISTS) after the FETCH that found them; the FETCH answers only the
// messages the client knows, however many arrived at once.
func TestFetchBeforeExistsOfNewMessages(t *testing.T) {
	e := start(t, storetest.Backend{})
	e.deliver(t, e.Mail, "one", "body")
	c := e.dial(t)
	c.login("alice")
	if u, _ := c.cmd("SELECT INBOX"); !has(u, "* 1 EXISTS") {
		t.Fatalf("select: %q", u)
	}
	other := &mailbox.Store{DB: e.DB, Dir: e.Mail.Dir} // another node
	for _, s := range []string{"two", "three", "four"} {
		e.deliver(t, other, s, "body")
	}
	u, done := c.cmd("FETCH 1:* (UID)")
	if !strings.HasPrefix(done, "OK") {
		t.Fatal(done)
	}
	known := 1
	for _, l := range u {
		var n int
		switch {
		case strings.HasSuffix(l, " EXISTS"):
			fmt.Sscanf(l, "* %d EXISTS", &n)
			known = max(known, n)
		case strings.Contains(l, " FETCH "):
			fmt.Sscanf(l, "* %d FETCH", &n)
			if n > known {
				t.Fatalf("FETCH of message %d before its EXISTS: %q", n, u)
			}
		}
	}
	if known != 4 {
		t.Fatalf("after the FETCH the client knows %d messages: %q", known, u)
	}
}

// BODY[] and its partial forms are streamed from the blob: the octets
// asked for, from anywhere in the message.
func TestFetchBodyStreamed(t *testing.T) {
	e := start(t, storetest.Backend{})
	raw := e.deliver(t, e.Mail, "big", strings.Repeat("0123456789abcdef\r\n", 4000))
	c := e.dial(t)
	c.login("alice")
	c.cmd("EXAMINE INBOX")
	for _, p := range []struct{ offset, size int }{{0, len(raw)}, {0, 100}, {50000, 300}, {len(raw) - 10, 100}, {len(raw) + 5, 10}} {
		item := fmt.Sprintf("BODY.PEEK[]<%d.%d>", p.offset, p.size)
		if p.size == len(raw) {
			item = "BODY.PEEK[]"
		}
		want := raw[min(p.offset, len(raw)):min(p.offset+p.size, len(raw))]
		c.tag++
		tag := fmt.Sprintf("t%d", c.tag)
		fmt.Fprintf(c.c, "%s FETCH 1 (%s)\r\n", tag, item)
		l := c.line()
		if !strings.HasSuffix(l, fmt.Sprintf("{%d}", len(want))) {
			t.Fatalf("%s: %q, want a literal of %d octets", item, l, len(want))
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c.br, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: %d octets differ from the message's", item, len(got))
		}
		for l = c.line(); !strings.HasPrefix(l, tag+" "); l = c.line() {
		}
		if !strings.HasPrefix(l, tag+" OK") {
			t.Fatalf("%s: %s", item, l)
		}
	}
}
