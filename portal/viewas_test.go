package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/adminauth"
	"github.com/ferryhq/ferry/store"
)

// An administrator signed in to the web admin follows the partner page's
// "view as" link and sees the account's files and mail as the account
// does, read-only: no control, no download, nothing marked read. Without
// an administrator's session the pages are refused, a partner's portal
// session included.
func TestViewAs(t *testing.T) {
	e := newEnv(t, sqlite())
	e.partner("acme", "alice", "", "")
	if err := os.WriteFile(filepath.Join(e.fc.PartnerDir("acme"), "report.csv"), []byte("a,b\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	msg := e.deliver("acme", plainMail)
	token, _, err := adminauth.CreateToken(context.Background(), e.st, "ops", adminauth.RoleAuditor)
	if err != nil {
		t.Fatal(err)
	}

	// Not signed in anywhere, or signed in to the portal only: refused.
	partner := e.client()
	if r := partner.get("/portal/view-as/alice/files/"); r.status != http.StatusForbidden {
		t.Fatalf("no session: %d", r.status)
	}
	partner.mustSignIn("alice")
	if r := partner.get("/portal/view-as/alice/files/"); r.status != http.StatusForbidden {
		t.Fatalf("a partner's session: %d", r.status)
	}

	admin := e.client()
	login := admin.get("/login")
	if r := admin.postForm("/login", url.Values{"csrf": {csrfOf(t, login.body)}, "token": {token}}); r.status != http.StatusSeeOther {
		t.Fatalf("web sign-in: %d %s", r.status, r.body)
	}
	// The partner page links there.
	mustContain(t, admin.get("/partners/acme").body, `href="/portal/view-as/alice/files/"`)
	r := admin.get("/portal/view-as/alice/files/")
	if r.status != http.StatusOK {
		t.Fatalf("view as: %d %s", r.status, r.body)
	}
	mustContain(t, r.body, `id="view-as"`, "report.csv", "Viewing as alice")
	for _, control := range []string{"<form", `id="upload-card"`, "download class=\"file\""} {
		if strings.Contains(r.body, control) {
			t.Errorf("the read-only view has %s", control)
		}
	}
	if r := admin.get("/portal/view-as/alice/files/report.csv"); r.status != http.StatusForbidden {
		t.Fatalf("download in the view: %d", r.status)
	}
	m := admin.get("/portal/view-as/alice/mail/")
	mustContain(t, m.body, "Order 4711 confirmed", `href="/portal/view-as/alice/mail/message/`+msg+`"`)
	v := admin.get("/portal/view-as/alice/mail/message/" + msg)
	mustContain(t, v.body, "ships on Tuesday")
	if strings.Contains(v.body, "<form") {
		t.Error("the read-only message view has a form")
	}
	if f := e.flags("acme", msg); len(f) != 0 {
		t.Fatalf("viewing marked the message: %v", f)
	}
	// Nothing was written in alice's name.
	if rows := e.rows(storeFilterAccount()); len(rows) != 0 {
		t.Fatalf("audit rows of the view: %+v", rows)
	}
}

func storeFilterAccount() store.TransferFilter {
	return store.TransferFilter{Operation: store.OpDownload}
}
