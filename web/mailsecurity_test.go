package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/mailsec/mailsectest"
	"github.com/ferryhq/ferry/partners"
)

// The web admin shows Ferry's public keys and fingerprints, never a
// private key; an auditor may read the page.
func TestMailSecurityPage(t *testing.T) {
	e := newEnv(t, sqlite())
	id := mustIdentity(t)
	c := e.client()
	c.signIn(e.auditor)
	r := c.get("/mail-security")
	if r.status != http.StatusOK {
		t.Fatalf("status %d\n%s", r.status, r.body)
	}
	mustContain(t, r.body, id.OpenPGPFingerprint(), id.SMIMEFingerprint(), "-----BEGIN PGP PUBLIC KEY BLOCK-----",
		"-----BEGIN CERTIFICATE-----", "ferry@ferry.test", `href="/mail-security" aria-current="page"`)
	if strings.Contains(r.body, "PRIVATE KEY") {
		t.Fatal("a private key on the page")
	}
}

// Keys of a partner's recipients on its page: added (a refused one says
// why), listed, deleted; and encrypted alerts required.
func TestPartnerKeys(t *testing.T) {
	e := newEnv(t, sqlite())
	ctx := context.Background()
	if _, err := e.svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Enabled: true, Contacts: []string{"ops@acme.example"}}); err != nil {
		t.Fatal(err)
	}
	g := mailsectest.NewGPG(t)
	fpr := g.GenKey("Ops <ops@acme.example>", "1y")
	c := e.client()
	c.signIn(e.admin)
	r := c.post("/partners/acme", "/partners/acme/keys", url.Values{"email": {"ops@acme.example"}, "key": {g.Export(fpr)}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add: %d\n%s", r.status, r.body)
	}
	page := c.get(strings.TrimSuffix(r.header.Get("Location"), "#keys"))
	mustContain(t, page.body, "Key added.", fpr, `<option value="ops@acme.example">`)
	r = c.post("/partners/acme", "/partners/acme/keys", url.Values{"email": {"boss@acme.example"}, "key": {g.Export(fpr)}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "does not name boss@acme.example") &&
		!strings.Contains(r.body, "names boss@acme.example") {
		t.Fatalf("mismatched key: %d\n%s", r.status, r.body)
	}
	r = c.post("/partners/acme", "/partners/acme/encrypt-alerts", url.Values{"encrypt_alerts": {"required"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("require: %d\n%s", r.status, r.body)
	}
	if p, _ := e.st.PartnerBySlug(ctx, "acme"); p.EncryptAlerts != "required" {
		t.Fatalf("encrypt_alerts %q", p.EncryptAlerts)
	}
	keys, _ := e.st.RecipientKeys(ctx, nil)
	if len(keys) != 1 {
		t.Fatalf("keys %+v", keys)
	}
	r = c.post("/partners/acme", "/partners/acme/keys/"+keys[0].ID+"/delete", nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d\n%s", r.status, r.body)
	}
	page = c.get(strings.TrimSuffix(r.header.Get("Location"), "#keys"))
	mustContain(t, page.body, "Key deleted.", `id="encrypt-alerts">required<`)
	if strings.Contains(page.body, fpr) {
		t.Fatal("deleted key still listed")
	}
	// An auditor sees the section but no forms.
	a := e.client()
	a.signIn(e.auditor)
	if body := a.get("/partners/acme").body; strings.Contains(body, `id="key-form"`) || !strings.Contains(body, "Mail security") {
		t.Fatal("auditor's partner page")
	}
}

// The message view shows the signature check made on delivery.
func TestMessageSignatureShown(t *testing.T) {
	e := newEnv(t, sqlite())
	ctx := context.Background()
	if _, err := e.svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	id := mustIdentity(t)
	e.mail.Verifier = &mailsec.Registry{Store: e.st, Own: id}
	raw := "From: ferry@ferry.test\r\nSubject: signed alert\r\nMessage-Id: <w1@ferry.test>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain\r\n\r\nhello\r\n"
	signed, err := id.Seal([]byte(raw), mailsec.SignSMIME, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.mail.Deliver(ctx, "acme", signed)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn(e.auditor)
	mustContain(t, c.get("/partners/acme/mailbox/"+d.Messages[0].ID).body, `<span class="badge ok">valid</span>`, id.SMIMEFingerprint())
}

// encrypt_uploads and verify_uploads from the partner page.
func TestPartnerUploadProtection(t *testing.T) {
	e := newEnv(t, sqlite())
	ctx := context.Background()
	if _, err := e.svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn(e.admin)
	r := c.post("/partners/acme", "/partners/acme/upload-protection", url.Values{"encrypt_uploads": {"erp@corp.example, archive@corp.example"}, "verify_uploads": {"1"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", r.status, r.body)
	}
	p, _ := e.st.PartnerBySlug(ctx, "acme")
	if p.EncryptUploads != "erp@corp.example,archive@corp.example" || !p.VerifyUploads {
		t.Fatalf("partner %+v", p)
	}
	mustContain(t, c.get("/partners/acme").body, `value="erp@corp.example,archive@corp.example"`, "name.pgp")
	r = c.post("/partners/acme", "/partners/acme/upload-protection", url.Values{"encrypt_uploads": {"not-an-address"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad address: %d", r.status)
	}
}
