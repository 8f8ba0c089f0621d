package web_test

import (
	"context"
	"encoding/base64"
	"errors"
	"html"
	"net"
	"net/smtp"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"

	mailsmtp "github.com/ferryhq/ferry/mailbox/smtp"
	"github.com/ferryhq/ferry/partners"
)

func encode(t *testing.T, enc encoding.Encoding, s string) string {
	t.Helper()
	b, err := enc.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Mail in a legacy charset, delivered over SMTP, reads right in the web
// admin's message view: the header words and the body are decoded from
// ISO-8859-1 (8bit) and from Shift_JIS (base64), as an IMAP client would
// show them.
func TestMessageViewDecodesCharsets(t *testing.T) {
	e := newEnv(t, sqlite())
	ctx := context.Background()
	if _, err := e.svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	srv := &mailsmtp.Server{Store: e.mail, Domains: []string{"ferry.test"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-done; !errors.Is(err, mailsmtp.ErrServerClosed) {
			t.Errorf("smtp Serve: %v", err)
		}
	})

	latin1Subject := "Résumé für Müller"
	latin1Body := "Grüße aus Köln: das Café öffnet um 9."
	sjisSubject := "請求書の送付"
	sjisBody := "お世話になっております。\r\n請求書をアップロードしました。"
	messages := []struct {
		subject, body, raw string
	}{
		{latin1Subject, latin1Body, "From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.de>\r\n" +
			"To: acme@ferry.test\r\nSubject: =?ISO-8859-1?Q?R=E9sum=E9_f=FCr_M=FCller?=\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
			encode(t, charmap.ISO8859_1, latin1Body) + "\r\n"},
		{sjisSubject, sjisBody, "From: =?Shift_JIS?B?" + base64.StdEncoding.EncodeToString([]byte(encode(t, japanese.ShiftJIS, "山田"))) +
			"?= <yamada@example.jp>\r\nTo: acme@ferry.test\r\n" +
			"Subject: =?Shift_JIS?B?" + base64.StdEncoding.EncodeToString([]byte(encode(t, japanese.ShiftJIS, sjisSubject))) + "?=\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			base64.StdEncoding.EncodeToString([]byte(encode(t, japanese.ShiftJIS, sjisBody))) + "\r\n--b--\r\n"},
	}
	for _, m := range messages {
		if err := smtp.SendMail(ln.Addr().String(), nil, "sender@example.org", []string{"acme@ferry.test"}, []byte(m.raw)); err != nil {
			t.Fatalf("SMTP delivery of %q: %v", m.subject, err)
		}
	}

	c := e.client()
	c.signIn(e.auditor)
	list := c.get("/partners/acme/mailbox")
	for _, m := range messages {
		link := regexp.MustCompile(`href="/partners/acme/mailbox/([^"]+)">` + regexp.QuoteMeta(html.EscapeString(m.subject)))
		id := link.FindStringSubmatch(list.body)
		if id == nil {
			t.Fatalf("%q not listed:\n%s", m.subject, list.body)
		}
		view := c.get("/partners/acme/mailbox/" + id[1])
		want := []string{html.EscapeString(m.subject)}
		for _, line := range strings.Split(m.body, "\r\n") {
			want = append(want, html.EscapeString(line))
		}
		mustContain(t, view.body, want...)
	}
	mustContain(t, c.get("/partners/acme/mailbox/"+regexp.MustCompile(`href="/partners/acme/mailbox/([^"]+)">` +
		regexp.QuoteMeta(html.EscapeString(latin1Subject))).FindStringSubmatch(list.body)[1]).body, "Jörg Müller")
}
