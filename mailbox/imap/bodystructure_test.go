package imap_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/mailbox/smtp"
	"github.com/ferryhq/ferry/store/storetest"
)

// malformedMIME are messages anyone can send over unauthenticated SMTP
// whose MIME structure has a multipart without parts.
var malformedMIME = []string{
	// multipart without a boundary parameter
	"Subject: no boundary\r\nContent-Type: multipart/mixed\r\n\r\nno parts here\r\n",
	// a boundary that never appears
	"Subject: absent boundary\r\nContent-Type: multipart/mixed; boundary=zzz\r\n\r\nno parts here\r\n",
	// a nested multipart that is never opened or closed
	"Subject: nested\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n" +
		"Content-Type: multipart/alternative; boundary=b2\r\n\r\nnever opened\r\n--b1--\r\n",
	// an attached message whose own multipart has no parts
	"Subject: attached\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n" +
		"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/related\r\n\r\nbody\r\n--b1--\r\n",
}

// sendSMTP delivers raw to acme over an unauthenticated SMTP session on
// Ferry's own SMTP server.
func sendSMTP(t *testing.T, addr string, raw string) {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("sender.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("anyone@example.org", []string{"acme@" + mailtest.Domain}, strings.NewReader(raw)); err != nil {
		t.Fatalf("SMTP delivery: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

// startSMTP runs Ferry's SMTP server on the env's mailbox store.
func (e *env) startSMTP(t *testing.T) string {
	t.Helper()
	srv := &smtp.Server{Store: e.Mail, Logins: e.Logins, Domains: []string{mailtest.Domain}}
	return testenv.Serve(t, srv, smtp.ErrServerClosed)
}

// A message with a multipart without parts made FETCH BODYSTRUCTURE and
// BODY panic in go-imap's writer: the connection dropped without a reply
// and a client fetching 1:* could no longer open the mailbox. Such a part
// is now text/plain and the FETCH completes.
func TestMalformedMultipartFetch(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, b)
			smtpAddr := e.startSMTP(t)
			sendSMTP(t, smtpAddr, "Subject: fine\r\n\r\nan ordinary message\r\n")
			for _, m := range malformedMIME {
				sendSMTP(t, smtpAddr, m)
			}
			sendSMTP(t, smtpAddr, "Subject: fine again\r\nContent-Type: multipart/mixed; boundary=ok\r\n\r\n"+
				"--ok\r\nContent-Type: text/plain\r\n\r\none\r\n--ok\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n--ok--\r\n")
			n := len(malformedMIME) + 2

			t.Run("imapclient", func(t *testing.T) {
				c, err := imapclient.DialStartTLS(e.addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if err := c.Login("alice", mailtest.Password).Wait(); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Select("INBOX", nil).Wait(); err != nil {
					t.Fatal(err)
				}
				all := goimap.SeqSetNum()
				all.AddRange(1, 0)
				for _, extended := range []bool{true, false} {
					msgs, err := c.Fetch(all, &goimap.FetchOptions{
						BodyStructure: &goimap.FetchItemBodyStructure{Extended: extended},
					}).Collect()
					if err != nil {
						t.Fatalf("FETCH 1:* (extended %v): %v", extended, err)
					}
					if len(msgs) != n {
						t.Fatalf("FETCH 1:* (extended %v): %d messages, want %d", extended, len(msgs), n)
					}
					for i, m := range msgs[1 : n-1] {
						mp, ok := m.BodyStructure.(*goimap.BodyStructureMultiPart)
						if i < 2 {
							if sp, ok := m.BodyStructure.(*goimap.BodyStructureSinglePart); !ok || sp.MediaType() != "text/plain" {
								t.Errorf("message %d: %#v, want text/plain", i+2, m.BodyStructure)
							}
							continue
						}
						if !ok || len(mp.Children) != 1 {
							t.Fatalf("message %d: %#v, want multipart with one part", i+2, m.BodyStructure)
						}
						child := mp.Children[0].(*goimap.BodyStructureSinglePart)
						if i == 2 && child.MediaType() != "text/plain" {
							t.Errorf("nested part is %s, want text/plain", child.MediaType())
						}
						if i == 3 {
							inner, ok := child.MessageRFC822.BodyStructure.(*goimap.BodyStructureSinglePart)
							if !ok || inner.MediaType() != "text/plain" {
								t.Errorf("attached message: %#v, want text/plain", child.MessageRFC822.BodyStructure)
							}
						}
					}
					if mp, ok := msgs[n-1].BodyStructure.(*goimap.BodyStructureMultiPart); !ok || len(mp.Children) != 2 {
						t.Errorf("well-formed multipart: %#v", msgs[n-1].BodyStructure)
					}
				}
				// The session goes on.
				if err := c.Noop().Wait(); err != nil {
					t.Fatalf("NOOP after FETCH: %v", err)
				}
			})

			t.Run("imaplib", func(t *testing.T) {
				out := e.imaplib(t, `
M.select("INBOX")
typ, d = M.fetch("1:*", "(BODYSTRUCTURE)")
out["bs"] = [typ, s(d)]
typ, d = M.fetch("1:*", "(BODY)")
out["body"] = [typ, s(d)]
out["noop"] = s(M.noop()[0])
`)
				for _, k := range []string{"bs", "body"} {
					got, _ := json.Marshal(out[k])
					if !bytes.HasPrefix(got, []byte(`["OK"`)) || strings.Count(string(got), `"text\" \"plain\"`) < 5 {
						t.Errorf("%s: %s", k, got)
					}
				}
				if out["noop"] != "OK" {
					t.Errorf("NOOP: %v", out["noop"])
				}
			})
		})
	}
}

// A panic in a command handler gets a tagged NO [SERVERBUG] and the
// session goes on; go-imap alone closed the connection without a word.
// The panic here is a real one: a mailbox store without a database.
func TestHandlerPanicGetsReply(t *testing.T) {
	e := &env{Env: mailtest.New(t, storetest.Backend{})}
	e.serve(t, &mailbox.Store{Dir: e.Mail.Dir})
	c := e.dial(t)
	c.login("alice")
	if _, done := c.cmd("SELECT INBOX"); !strings.HasPrefix(done, "NO [SERVERBUG]") {
		t.Fatalf("SELECT with a panicking handler: %q", done)
	}
	if _, done := c.cmd("NOOP"); !strings.HasPrefix(done, "OK") {
		t.Fatalf("NOOP after the panic: %q", done)
	}
}
