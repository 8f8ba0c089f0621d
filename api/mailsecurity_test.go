package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/mailsec/mailsectest"
	"github.com/ferryhq/ferry/store/storetest"
)

// GET /api/v1/mail-security shows Ferry's public keys and fingerprints,
// which gpg and the certificate agree with, and nothing secret.
func TestMailSecurity(t *testing.T) {
	id, _, err := mailsec.LoadIdentity(mailsec.IdentityOptions{Email: "ferry@ferry.test", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, storetest.Backends()[0], harnessOpts{identity: id})
	r := h.do(http.MethodGet, "/api/v1/mail-security", h.auditor, nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d\n%s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "PRIVATE") {
		t.Fatalf("a private key in the reply:\n%s", r.body)
	}
	var doc struct {
		Email              string `json:"email"`
		Sign               string `json:"sign"`
		OpenPGP            string `json:"openpgp"`
		OpenPGPFingerprint string `json:"openpgp_fingerprint"`
		SMIME              string `json:"smime"`
		SMIMEFingerprint   string `json:"smime_fingerprint"`
	}
	r.decode(t, &doc)
	if doc.Email != "ferry@ferry.test" || doc.Sign != "openpgp" || doc.OpenPGPFingerprint != id.OpenPGPFingerprint() ||
		doc.SMIMEFingerprint != id.SMIMEFingerprint() || !strings.HasPrefix(doc.SMIME, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("reply %+v", doc)
	}
	g := mailsectest.NewGPG(t)
	if fprs := g.Import(doc.OpenPGP); len(fprs) != 1 || fprs[0] != doc.OpenPGPFingerprint {
		t.Fatalf("gpg read %v from the published key, the API says %s", fprs, doc.OpenPGPFingerprint)
	}
	out, _ := mailsectest.OpenSSL(t, t.TempDir(), []byte(doc.SMIME), false, "x509", "-noout", "-fingerprint", "-sha256")
	if !strings.Contains(out, doc.SMIMEFingerprint) {
		t.Fatalf("openssl: %s, API: %s", out, doc.SMIMEFingerprint)
	}
	if r := h.do(http.MethodGet, "/api/v1/mail-security", "", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", r.status)
	}

	bare := newHarness(t, storetest.Backends()[0], harnessOpts{})
	if r := bare.do(http.MethodGet, "/api/v1/mail-security", bare.auditor, nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("without keys: %d\n%s", r.status, r.body)
	}
}

// A signed message delivered to a mailbox shows its signature check in
// the API (OpenAPI-valid); an unsigned one shows null.
func TestMailMessageSignature(t *testing.T) {
	h := newHarness(t, storetest.Backends()[0], harnessOpts{})
	ctx := context.Background()
	h.createPartner("acme")
	reg := &mailsec.Registry{Store: h.st}
	h.mail.Verifier = reg
	id, _, err := mailsec.LoadIdentity(mailsec.IdentityOptions{Email: "bob@partner.example", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	reg.Own = id // Bob's keys stand for a registered sender here
	raw := "From: bob@partner.example\r\nTo: acme@ferry.test\r\nSubject: signed\r\nMessage-Id: <s1@partner.example>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
	signed, err := id.Seal([]byte(raw), mailsec.SignOpenPGP, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := h.mail.Deliver(ctx, "acme", signed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.mail.Deliver(ctx, "acme", []byte("Subject: plain\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	var m struct {
		Signature *struct{ Status, Signer string } `json:"signature"`
	}
	r := h.do(http.MethodGet, "/api/v1/partners/acme/mailbox/messages/"+d.Messages[0].ID, h.auditor, nil)
	r.decode(t, &m)
	if m.Signature == nil || m.Signature.Status != "valid" || !strings.Contains(m.Signature.Signer, id.OpenPGPFingerprint()) {
		t.Fatalf("signature %+v\n%s", m.Signature, r.body)
	}
	var page struct {
		Items []struct {
			Subject   string                   `json:"subject"`
			Signature *struct{ Status string } `json:"signature"`
		} `json:"items"`
	}
	h.do(http.MethodGet, "/api/v1/partners/acme/mailbox/messages", h.auditor, nil).decode(t, &page)
	if len(page.Items) != 2 {
		t.Fatalf("page %+v", page)
	}
	for _, it := range page.Items {
		if (it.Subject == "plain") != (it.Signature == nil) {
			t.Fatalf("item %+v", it)
		}
	}
}
