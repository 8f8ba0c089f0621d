package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/store"
)

// partner create/set --totp-required sets the partner's demand of the
// portal's second factor; account totp-reset removes an account's (a
// lost phone).
func TestTOTPFlagsAndReset(t *testing.T) {
	c := newCLI(t)
	c.ok("partner", "create", "acme", "--totp-required")
	c.ok("partner", "create", "globex")
	c.ok("partner", "set", "globex", "--totp-required")
	c.ok("partner", "set", "acme", "--totp-required=false")
	c.ok("account", "create", "--partner", "acme", "alice")
	ctx := context.Background()
	st, err := store.Open(ctx, "", store.Options{SQLitePath: filepath.Join(c.settings[1], "ferry.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for slug, want := range map[string]bool{"acme": false, "globex": true} {
		if p, err := st.PartnerBySlug(ctx, slug); err != nil || p.TOTPRequired != want {
			t.Fatalf("%s: %+v %v", slug, p, err)
		}
	}
	a, err := st.AccountByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetAccountTOTP(ctx, a.ID, "JBSWY3DPEHPK3PXP", 1); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("account", "totp-reset", "alice"); !strings.Contains(out, "second factor of alice removed") {
		t.Fatalf("totp-reset: %s", out)
	}
	if a, _ := st.AccountByUsername(ctx, "alice"); a.TOTPSecret != "" {
		t.Fatal("the secret is still there")
	}
	if _, errOut, code := c.run("", "account", "totp-reset", "nobody"); code == 0 || !strings.Contains(errOut, "nobody") {
		t.Fatalf("unknown account: %d %s", code, errOut)
	}
}
