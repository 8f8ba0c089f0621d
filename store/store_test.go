package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func TestPartnerLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := &store.Partner{Slug: "acme", Name: "ACME Corp", Enabled: true,
			Contacts: []store.Contact{{Email: "ops@acme.example"}, {Email: "cfo@acme.example"}}}
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		if p.ID == "" || p.CreatedAt.IsZero() {
			t.Fatalf("ID/CreatedAt not set: %+v", p)
		}
		dup := &store.Partner{Slug: "acme", Name: "Other", Enabled: true}
		if err := s.CreatePartner(ctx, dup); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate slug: got %v, want ErrConflict", err)
		}
		got, err := s.PartnerBySlug(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "ACME Corp" || len(got.Contacts) != 2 || !got.Enabled {
			t.Fatalf("read back %+v", got)
		}
		if got.CreatedAt.Sub(p.CreatedAt).Abs() > time.Millisecond {
			t.Fatalf("created_at round trip: %v vs %v", got.CreatedAt, p.CreatedAt)
		}

		// A disabled partner stays disabled: false must be written, not defaulted.
		off := &store.Partner{Slug: "beta", Name: "Beta_%", Enabled: false}
		if err := s.CreatePartner(ctx, off); err != nil {
			t.Fatal(err)
		}
		if b, _ := s.PartnerBySlug(ctx, "beta"); b.Enabled {
			t.Fatal("partner created disabled reads back enabled")
		}

		list, err := s.ListPartners(ctx, store.PartnerFilter{Query: "ACME"})
		if err != nil || len(list) != 1 || list[0].Slug != "acme" {
			t.Fatalf("filter by name: %v %+v", err, list)
		}
		// LIKE wildcards in the query are literal.
		list, err = s.ListPartners(ctx, store.PartnerFilter{Query: "_%"})
		if err != nil || len(list) != 1 || list[0].Slug != "beta" {
			t.Fatalf("literal wildcard: %v %+v", err, list)
		}
		list, err = s.ListPartners(ctx, store.PartnerFilter{After: "acme", Limit: 10})
		if err != nil || len(list) != 1 || list[0].Slug != "beta" {
			t.Fatalf("keyset paging: %v %+v", err, list)
		}

		got.Name = "ACME Corporation"
		got.QuotaBytes = 1 << 30
		got.Contacts = []store.Contact{{Email: "new@acme.example"}}
		if err := s.UpdatePartner(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, _ := s.PartnerByID(ctx, got.ID)
		if again.Name != "ACME Corporation" || again.QuotaBytes != 1<<30 || len(again.Contacts) != 1 ||
			again.Contacts[0].Email != "new@acme.example" {
			t.Fatalf("after update: %+v", again)
		}
		if err := s.SetUsage(ctx, got.ID, 300, 3); err != nil {
			t.Fatal(err)
		}
		if u, err := s.PartnerUsage(ctx, got.ID); err != nil || u != (store.Usage{QuotaBytes: 1 << 30, UsedBytes: 300, UsedFiles: 3}) {
			t.Fatalf("usage: %+v %v", u, err)
		}
		if _, err := s.PartnerUsage(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("usage of an unknown partner: %v", err)
		}
		if err := s.UpdatePartner(ctx, &store.Partner{ID: "nope", Slug: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update unknown: %v", err)
		}
		if err := s.DeletePartner(ctx, got.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PartnerByID(ctx, got.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := s.DeletePartner(ctx, got.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func TestAccountLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := &store.Partner{Slug: "acme", Name: "ACME", Enabled: true}
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		a := &store.Account{PartnerID: p.ID, Username: "alice", PasswordHash: "h", HomeDir: "/",
			Permissions: "list,download", Enabled: true}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAccount(ctx, &store.Account{PartnerID: p.ID, Username: "alice", PasswordHash: "h",
			Permissions: "list"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate username: %v", err)
		}
		if err := s.CreateAccount(ctx, &store.Account{PartnerID: "missing", Username: "bob", PasswordHash: "h",
			Permissions: "list"}); err == nil {
			t.Fatal("account for a missing partner was accepted: foreign keys are off")
		}
		got, err := s.AccountByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if got.Partner == nil || got.Partner.Slug != "acme" || got.Partner.ID != p.ID || got.LastLoginAt != nil ||
			got.Username != "alice" || got.HomeDir != "/" || !got.Enabled {
			t.Fatalf("read back %+v", got)
		}
		tlsRequired := func(want bool, username string) {
			t.Helper()
			if got, err := s.AccountTLSRequired(ctx, username); err != nil || got != want {
				t.Fatalf("AccountTLSRequired(%q) = %v, %v; want %v", username, got, err, want)
			}
		}
		tlsRequired(false, "alice")
		tlsRequired(false, "nobody")
		p.TLSRequired = true
		if err := s.UpdatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		tlsRequired(true, "alice")
		p.TLSRequired = false
		if err := s.UpdatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := s.TouchLogin(ctx, got.ID, now); err != nil {
			t.Fatal(err)
		}
		got.Enabled = false
		got.TLSRequired = true
		if err := s.UpdateAccount(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, _ := s.AccountByID(ctx, got.ID)
		if again.Enabled || !again.TLSRequired || again.LastLoginAt == nil {
			t.Fatalf("after update: %+v", again)
		}
		tlsRequired(true, "alice")
		list, err := s.AccountsByPartner(ctx, p.ID)
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %v", err, list)
		}
		// Deleting the partner removes its accounts.
		if err := s.DeletePartner(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AccountByID(ctx, got.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("account outlived its partner: %v", err)
		}
	})
}

// LoginAccount reads every field a login checks as AccountByUsername does,
// with and without a recorded last login.
func TestLoginAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := &store.Partner{Slug: "acme", Name: "ACME", Enabled: true, TLSRequired: true,
			AllowedCIDRs: "192.0.2.0/24", EBCDICCodePage: "IBM-1047"}
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		a := &store.Account{PartnerID: p.ID, Username: "alice", PasswordHash: "$argon2id$h", HomeDir: "/in",
			Permissions: "list,download", Enabled: true}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		same := func() {
			t.Helper()
			want, err := s.AccountByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.LoginAccount(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			type login struct {
				ID, PartnerID, Username, PasswordHash, HomeDir, Permissions string
				TLSRequired, Enabled                                        bool
				LastLogin                                                   string
				PID, Slug, CIDRs, CodePage                                  string
				PEnabled, PTLS                                              bool
			}
			pick := func(a *store.Account) login {
				l := login{ID: a.ID, PartnerID: a.PartnerID, Username: a.Username, PasswordHash: a.PasswordHash,
					HomeDir: a.HomeDir, Permissions: a.Permissions, TLSRequired: a.TLSRequired, Enabled: a.Enabled,
					PID: a.Partner.ID, Slug: a.Partner.Slug, CIDRs: a.Partner.AllowedCIDRs,
					CodePage: a.Partner.EBCDICCodePage, PEnabled: a.Partner.Enabled, PTLS: a.Partner.TLSRequired}
				if a.LastLoginAt != nil {
					l.LastLogin = a.LastLoginAt.UTC().Format(time.RFC3339Nano)
				}
				return l
			}
			if pick(got) != pick(want) {
				t.Fatalf("LoginAccount read\n%+v\nAccountByUsername\n%+v", pick(got), pick(want))
			}
		}
		same()
		if err := s.TouchLogin(ctx, a.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		same()
		if got, _ := s.LoginAccount(ctx, "alice"); got.LastLoginAt == nil {
			t.Fatal("LoginAccount lost the last login")
		}
		if _, err := s.LoginAccount(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown user: %v, want ErrNotFound", err)
		}
	})
}

func TestOpenRefusesOldSchemaWithoutMigrate(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			u, path := b.Open(t)
			_, err := store.Open(context.Background(), u, store.Options{SQLitePath: path})
			if err == nil {
				t.Fatal("Open without Migrate on an empty database succeeded")
			}
			s, err := store.Open(context.Background(), u, store.Options{SQLitePath: path, Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			s, err = store.Open(context.Background(), u, store.Options{SQLitePath: path})
			if err != nil {
				t.Fatalf("reopen after migrate: %v", err)
			}
			s.Close()
		})
	}
}

// The mail servers route a recipient by slug, or by ID, to an enabled
// partner only.
func TestEnabledPartnerID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		on := &store.Partner{Slug: "acme", Name: "ACME", Enabled: true}
		off := &store.Partner{Slug: "globex", Name: "Globex"}
		for _, p := range []*store.Partner{on, off} {
			if err := s.CreatePartner(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range []string{"acme", on.ID} {
			if id, err := s.EnabledPartnerID(ctx, name); err != nil || id != on.ID {
				t.Errorf("EnabledPartnerID(%q) = %q, %v; want %q", name, id, err, on.ID)
			}
		}
		for _, name := range []string{"globex", off.ID, "nobody", ""} {
			if id, err := s.EnabledPartnerID(ctx, name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("EnabledPartnerID(%q) = %q, %v; want ErrNotFound", name, id, err)
			}
		}
	})
}

// A transaction reads the webhooks once, and again after it changed one:
// the audit writer's batch asks for them once per upload it finishes.
func TestListWebhooksInTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.CreateWebhook(ctx, &store.Webhook{URL: "https://hooks.example/a", Secret: "s1", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		err := s.Tx(ctx, func(tx *store.Store) error {
			first, err := tx.ListWebhooks(ctx)
			if err != nil || len(first) != 1 {
				t.Fatalf("first read: %v %v", first, err)
			}
			first[0].URL = "changed by the caller" // the memo is not the caller's slice
			again, err := tx.ListWebhooks(ctx)
			if err != nil || len(again) != 1 || again[0].URL != "https://hooks.example/a" {
				t.Fatalf("second read: %v %v", again, err)
			}
			if err := tx.CreateWebhook(ctx, &store.Webhook{URL: "https://hooks.example/b", Secret: "s2", Enabled: true}); err != nil {
				return err
			}
			after, err := tx.ListWebhooks(ctx)
			if err != nil || len(after) != 2 {
				t.Fatalf("after a change in the transaction: %v %v", after, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// On SQLite a burst of parallel reads shares a bounded pool: each
// connection holds its own schema, pages and prepared statements, so 64
// parallel logins must not open 64 of them. Every read still completes.
func TestSQLitePoolIsBounded(t *testing.T) {
	s := storetest.Open(t, storetest.Backends()[0])
	ctx := context.Background()
	withLogin(t, s)
	db, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	limit := db.Stats().MaxOpenConnections
	if limit <= 0 || limit >= 64 {
		t.Fatalf("SQLite pool limit %d, want a bound below 64", limit)
	}
	var wg sync.WaitGroup
	var peak atomic.Int64
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := s.LoginAccount(ctx, "alice"); err != nil {
					errs <- err
					return
				}
				if n := int64(db.Stats().OpenConnections); n > peak.Load() {
					peak.Store(n)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if p := peak.Load(); p > int64(limit) {
		t.Fatalf("%d connections open, above the pool's %d", p, limit)
	}
}
