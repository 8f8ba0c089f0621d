package adminauth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/adminauth"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// A token is found by its secret and by its ID while it lives, and by
// neither once revoked; FERRY_ADMIN_TOKEN is an admin token with ID "env".
func TestTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		tokens := &adminauth.Tokens{Store: st, EnvToken: " from-env "}
		secret, tok, err := adminauth.CreateToken(ctx, st, "grafana", adminauth.RoleAuditor)
		if err != nil || !strings.HasPrefix(secret, "ferry_") || tok.TokenHash != adminauth.HashToken(secret) {
			t.Fatalf("create: %q %+v %v", secret, tok, err)
		}
		if got, err := tokens.Lookup(ctx, secret); err != nil || got.ID != tok.ID || got.Role != adminauth.RoleAuditor {
			t.Fatalf("lookup: %+v %v", got, err)
		}
		if got, err := tokens.ByID(ctx, tok.ID); err != nil || got.Name != "grafana" {
			t.Fatalf("by ID: %+v %v", got, err)
		}
		if got, err := tokens.Lookup(ctx, "from-env"); err != nil || got.ID != adminauth.EnvTokenID || got.Role != adminauth.RoleAdmin {
			t.Fatalf("env token: %+v %v", got, err)
		}
		if got, err := tokens.ByID(ctx, adminauth.EnvTokenID); err != nil || got.TokenHash != adminauth.HashToken("from-env") {
			t.Fatalf("env token by ID: %+v %v", got, err)
		}
		if err := st.RevokeAPIToken(ctx, tok.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		for _, try := range []func() error{
			func() error { _, err := tokens.Lookup(ctx, secret); return err },
			func() error { _, err := tokens.ByID(ctx, tok.ID); return err },
			func() error { _, err := tokens.Lookup(ctx, ""); return err },
			func() error { _, err := (&adminauth.Tokens{Store: st}).ByID(ctx, adminauth.EnvTokenID); return err },
			func() error { _, err := (&adminauth.Tokens{Store: st}).Lookup(ctx, "from-env"); return err },
		} {
			if err := try(); !errors.Is(err, adminauth.ErrUnknownToken) {
				t.Errorf("got %v, want ErrUnknownToken", err)
			}
		}
		if _, _, err := adminauth.CreateToken(ctx, st, "x", "root"); err == nil {
			t.Error("a token of an unknown role was made")
		}
	})
}

func TestCredentialRules(t *testing.T) {
	for u, ok := range map[string]bool{"alice": true, "": false, strings.Repeat("a", 64): true,
		strings.Repeat("a", 65): false, "al ice": false, "al\x00ice": false, "ålice": true} {
		if err := adminauth.CheckUsername(u); (err == nil) != ok {
			t.Errorf("username %q: %v", u, err)
		}
	}
	for pw, ok := range map[string]bool{"1234567": false, "12345678": true, strings.Repeat("x", 1024): true,
		strings.Repeat("x", 1025): false} {
		if err := adminauth.CheckPassword(pw); (err == nil) != ok {
			t.Errorf("password of %d characters: %v", len(pw), err)
		}
	}
}
