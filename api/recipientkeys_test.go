package api_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/mailsec/mailsectest"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

type recipientKeyDoc struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	Kind        string `json:"kind"`
	Fingerprint string `json:"fingerprint"`
	Expired     bool   `json:"expired"`
	PublicKey   string `json:"public_key"`
}

// Operators register contacts' keys; what Ferry cannot use is refused
// with 422 and the reason; list and delete; an auditor only reads.
func TestRecipientKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarnessOn(t, st, harnessOpts{})
		g := mailsectest.NewGPG(t)
		alice := g.GenKey("Alice <alice@example.com>", "1y")
		g.Run(nil, "--faked-system-time", "20200101T000000!", "--quick-gen-key", "Old <old@example.com>", "future-default", "default", "1d")
		dir := t.TempDir()
		cert, _ := mailsectest.SMIMECert(t, dir, "bob", "bob@example.com", "")
		web, _ := mailsectest.SMIMECert(t, dir, "web", "web@example.com", "serverAuth")
		read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }

		r := h.do(http.MethodPost, "/api/v1/recipient-keys", h.admin, map[string]string{"email": "alice@example.com", "openpgp": g.Export(alice)})
		var k recipientKeyDoc
		if r.status != http.StatusCreated {
			t.Fatalf("add: %d %s", r.status, r.body)
		}
		r.decode(t, &k)
		if k.Fingerprint != alice || k.Kind != "openpgp" || k.Expired || !strings.Contains(k.PublicKey, "BEGIN PGP PUBLIC KEY BLOCK") ||
			r.header.Get("Location") != "/api/v1/recipient-keys/"+k.ID {
			t.Fatalf("added %+v %v", k, r.header)
		}
		r = h.do(http.MethodPost, "/api/v1/recipient-keys", h.admin, map[string]string{"email": "Bob@Example.com", "smime": read(cert)})
		if r.status != http.StatusCreated {
			t.Fatalf("add smime: %d %s", r.status, r.body)
		}
		if r := h.do(http.MethodPost, "/api/v1/recipient-keys", h.admin, map[string]string{"email": "alice@example.com", "openpgp": g.Export(alice)}); r.status != http.StatusConflict {
			t.Fatalf("twice: %d %s", r.status, r.body)
		}
		for _, c := range []struct {
			name string
			body map[string]string
			want string
		}{
			{"malformed", map[string]string{"email": "alice@example.com", "openpgp": "not a key"}, "not an armored OpenPGP public key"},
			{"expired", map[string]string{"email": "old@example.com", "openpgp": g.Export("old@example.com")}, "expired on 2020-01-02"},
			{"mismatched email", map[string]string{"email": "mallory@example.com", "openpgp": g.Export(alice)}, "names mallory@example.com"},
			{"not e-mail protection", map[string]string{"email": "web@example.com", "smime": read(web)}, "not valid for e-mail protection"},
			{"secret key", map[string]string{"email": "alice@example.com", "openpgp": g.ExportSecret(alice)}, "this is a secret key"},
			{"no key", map[string]string{"email": "alice@example.com"}, ""},
		} {
			r := h.do(http.MethodPost, "/api/v1/recipient-keys", h.admin, c.body)
			if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("%s: %d %s", c.name, r.status, r.body)
			}
			if p := r.problem(t); c.want != "" && !strings.Contains(p.Detail, c.want) && !strings.Contains(string(r.body), c.want) {
				t.Fatalf("%s: %+v", c.name, p)
			}
		}
		if r := h.do(http.MethodPost, "/api/v1/recipient-keys", h.auditor, map[string]string{"email": "alice@example.com", "openpgp": g.Export(alice)}); r.status != http.StatusForbidden {
			t.Fatalf("auditor adds: %d", r.status)
		}
		var list struct{ Items []recipientKeyDoc }
		h.do(http.MethodGet, "/api/v1/recipient-keys", h.auditor, nil).decode(t, &list)
		if len(list.Items) != 2 || list.Items[0].Email != "alice@example.com" || list.Items[1].Email != "bob@example.com" {
			t.Fatalf("list %+v", list)
		}
		h.do(http.MethodGet, "/api/v1/recipient-keys?email=BOB@example.com", h.auditor, nil).decode(t, &list)
		if len(list.Items) != 1 || list.Items[0].Kind != "smime" {
			t.Fatalf("list bob %+v", list)
		}
		if r := h.do(http.MethodGet, "/api/v1/recipient-keys/"+k.ID, h.auditor, nil); r.status != http.StatusOK {
			t.Fatalf("get: %d", r.status)
		}
		if r := h.do(http.MethodDelete, "/api/v1/recipient-keys/"+k.ID, h.admin, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		if r := h.do(http.MethodDelete, "/api/v1/recipient-keys/"+k.ID, h.admin, nil); r.status != http.StatusNotFound {
			t.Fatalf("delete again: %d", r.status)
		}
	})
}

// The partner's mail and file security settings through the API.
func TestPartnerSecuritySettings(t *testing.T) {
	h := newHarness(t, storetest.Backends()[0], harnessOpts{})
	h.createPartner("acme")
	r := h.do(http.MethodPatch, "/api/v1/partners/acme", h.admin, map[string]any{"encrypt_alerts": "required",
		"encrypt_uploads": []string{"erp@corp.example"}, "verify_uploads": true})
	var p struct {
		EncryptAlerts  string   `json:"encrypt_alerts"`
		EncryptUploads []string `json:"encrypt_uploads"`
		VerifyUploads  bool     `json:"verify_uploads"`
	}
	if r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	r.decode(t, &p)
	if p.EncryptAlerts != "required" || len(p.EncryptUploads) != 1 || !p.VerifyUploads {
		t.Fatalf("partner %+v", p)
	}
	for _, body := range []map[string]any{{"encrypt_alerts": "always"}, {"encrypt_uploads": []string{"not an address"}}} {
		r := h.do(http.MethodPatch, "/api/v1/partners/acme", h.admin, body)
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("%v: %d %s", body, r.status, r.body)
		}
	}
}
