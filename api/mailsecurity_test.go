package api_test

import (
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
