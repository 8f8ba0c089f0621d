package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
)

// The partner form sets and clears the partner portal's second-factor
// demand, and the partner page shows it.
func TestPartnerFormTOTPRequired(t *testing.T) {
	e := newEnv(t, sqlite())
	c := e.client()
	c.signIn(e.admin)
	if r := c.post("/partners/new", "/partners", url.Values{"slug": {"acme"}, "name": {"Acme"}, "enabled": {"1"},
		"totp_required": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if p, err := e.st.PartnerBySlug(context.Background(), "acme"); err != nil || !p.TOTPRequired {
		t.Fatalf("after create: %+v %v", p, err)
	}
	mustContain(t, c.get("/partners/acme").body, `name="totp_required" value="1" checked`)
	if r := c.post("/partners/acme", "/partners/acme", url.Values{"name": {"Acme"}, "enabled": {"1"}, "quota_bytes": {"0"},
		"quota_files": {"0"}}); r.status != http.StatusSeeOther {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	if p, _ := e.st.PartnerBySlug(context.Background(), "acme"); p.TOTPRequired {
		t.Fatal("the unticked box left the demand on")
	}
}
