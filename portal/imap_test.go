package portal_test

import (
	"net"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/internal/tlsutil"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailbox/imap"
)

// What an IMAP client (Python's imaplib) does shows in the portal and the
// other way round: they are the same mailbox.
func TestIMAPAndPortalAgree(t *testing.T) {
	py := testenv.Need(t, "python3")
	e := newEnv(t, sqlite())
	e.partner("acme", "alice", "", "")
	first := e.deliver("acme", plainMail)
	e.deliver("acme", attachmentMail)
	cfg, _, err := tlsutil.Load("", "", t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := &imap.Server{Store: e.mail, Logins: &mailbox.Logins{Auth: e.svc}, TLSConfig: cfg}
	_, port, _ := net.SplitHostPort(testenv.Serve(t, srv, imap.ErrServerClosed))
	imapRun := func(script string) string {
		t.Helper()
		prelude := `
import imaplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
M.starttls(ssl_context=ctx)
M.login("alice", sys.argv[2])
`
		out, err := exec.Command(py, "-c", prelude+script, port, testPassword).CombinedOutput()
		if err != nil {
			t.Fatalf("imaplib: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	c := e.client()
	c.mustSignIn("alice")

	// The portal reads the first message: IMAP sees it \Seen.
	c.get("/portal/mail/message/" + first)
	if out := imapRun(`M.select("INBOX"); print(M.uid("FETCH", "1", "(FLAGS)")[1][0].decode())`); !strings.Contains(out, `\Seen`) {
		t.Fatalf("IMAP flags after the portal read it: %s", out)
	}
	// IMAP flags the second, creates a folder and moves the first there:
	// the portal shows all of it.
	imapRun(`M.select("INBOX"); M.uid("STORE", "2", "+FLAGS", "(\\Flagged)"); M.create("Archive"); M.uid("MOVE", "1", "Archive"); print("ok")`)
	inbox := c.get("/portal/mail/")
	mustContain(t, inbox.body, `aria-label="flagged"`, "Price list", `href="/portal/mail/?folder=Archive"`)
	if strings.Contains(inbox.body, "Order 4711 confirmed") {
		t.Fatal("the message IMAP moved is still in the portal's INBOX")
	}
	mustContain(t, c.get("/portal/mail/?folder=Archive").body, "Order 4711 confirmed")
	// The portal deletes the folder's message and creates a folder: IMAP
	// sees both.
	page := c.get("/portal/mail/?folder=Archive")
	if r := c.postForm("/portal/mail/folders/create", url.Values{"csrf": {csrfOf(t, page.body)}, "name": {"Projects"}}); r.status != 303 {
		t.Fatalf("create folder: %d", r.status)
	}
	moved := regexp.MustCompile(`data-id="([^"]+)"`).FindStringSubmatch(page.body)
	if moved == nil {
		t.Fatalf("no message in Archive:\n%s", page.body)
	}
	if r := c.postForm("/portal/mail/message/"+moved[1]+"/delete", url.Values{"csrf": {csrfOf(t, page.body)}}); r.status != 303 {
		t.Fatalf("delete: %d", r.status)
	}
	out := imapRun(`print(M.status("Archive", "(MESSAGES)")[1][0].decode()); print(b" ".join(M.list()[1]).decode())`)
	if !strings.Contains(out, "MESSAGES 0") || !strings.Contains(out, "Projects") {
		t.Fatalf("IMAP after the portal's changes: %s", out)
	}
}
