package store_test

import (
	"context"
	"testing"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// withLogin gives s a partner "acme" and its account "alice", for the
// login reads.
func withLogin(tb testing.TB, s *store.Store) {
	tb.Helper()
	ctx := context.Background()
	p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
	if err := s.CreatePartner(ctx, p); err != nil {
		tb.Fatal(err)
	}
	if err := s.CreateAccount(ctx, &store.Account{PartnerID: p.ID, Username: "alice", PasswordHash: "h",
		Permissions: "list", Enabled: true}); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkLoginAccount reads what a login checks with LoginAccount, beside
// AccountByUsername (the reference: how logins read it before) in the same
// run, on each backend.
func BenchmarkLoginAccount(b *testing.B) {
	for _, be := range storetest.Backends() {
		s := storetest.Open(b, be)
		ctx := context.Background()
		withLogin(b, s)
		for _, w := range []struct {
			name string
			read func(context.Context, string) (*store.Account, error)
		}{{"LoginAccount", s.LoginAccount}, {"reference=AccountByUsername", s.AccountByUsername}} {
			b.Run(be.Name+"/"+w.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := w.read(ctx, "alice"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
