package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferryhq/ferry/migrations"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func TestAPITokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tok := &store.APIToken{Name: "ops", Role: "admin", TokenHash: "abc"}
		if err := s.CreateAPIToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAPIToken(ctx, &store.APIToken{Name: "dup", Role: "admin", TokenHash: "abc"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate hash: %v", err)
		}
		if err := s.CreateAPIToken(ctx, &store.APIToken{Name: "x", Role: "root", TokenHash: "def"}); err == nil {
			t.Fatal("a token with an unknown role was stored")
		}
		got, err := s.APITokenByHash(ctx, "abc")
		if err != nil || got.ID != tok.ID || got.Role != "admin" || got.LastUsedAt != nil {
			t.Fatalf("by hash: %+v %v", got, err)
		}
		if err := s.TouchAPIToken(ctx, tok.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeAPIToken(ctx, tok.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.APITokenByHash(ctx, "abc"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoked token found: %v", err)
		}
		if err := s.RevokeAPIToken(ctx, tok.ID, time.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoked twice: %v", err)
		}
		list, err := s.ListAPITokens(ctx)
		if err != nil || len(list) != 1 || list[0].LastUsedAt == nil || list[0].RevokedAt == nil {
			t.Fatalf("list: %+v %v", list, err)
		}
	})
}

func TestAdminAuditLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
		for i, action := range []string{"partner.create", "account.create", "partner.create", "session.kick"} {
			a := &store.AdminAudit{TokenID: "env", Role: "admin", Method: "POST", Path: "/api/v1/x", Action: action,
				Target: "t", Status: 201, RemoteAddr: "127.0.0.1", CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
			if err := s.RecordAdminAudit(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.ListAdminAudit(ctx, store.AdminAuditFilter{})
		if err != nil || len(all) != 4 || all[0].Action != "session.kick" {
			t.Fatalf("newest first: %+v %v", all, err)
		}
		page, err := s.ListAdminAudit(ctx, store.AdminAuditFilter{Action: "partner.create", Before: all[0].ID, Limit: 1})
		if err != nil || len(page) != 1 || page[0].ID != all[1].ID {
			t.Fatalf("filtered page: %+v %v", page, err)
		}
		ranged, err := s.ListAdminAudit(ctx, store.AdminAuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)})
		if err != nil || len(ranged) != 2 {
			t.Fatalf("time range: %+v %v", ranged, err)
		}
	})
}

func TestAdminCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		on := &store.Partner{Slug: "on", Name: "on", Enabled: true}
		off := &store.Partner{Slug: "off", Name: "off"}
		for _, p := range []*store.Partner{on, off} {
			if err := s.CreatePartner(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateAccount(ctx, &store.Account{PartnerID: on.ID, Username: "u", PasswordHash: "x", HomeDir: "/", Permissions: "list", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountPartners(ctx); err != nil || n != (store.EnabledCount{Enabled: 1, Disabled: 1}) {
			t.Fatalf("partners: %+v %v", n, err)
		}
		if n, err := s.CountAccounts(ctx); err != nil || n != (store.EnabledCount{Enabled: 1}) {
			t.Fatalf("accounts: %+v %v", n, err)
		}
		for _, tr := range []store.Transfer{
			{Operation: store.OpUpload, Status: store.StatusOK, Bytes: 10},
			{Operation: store.OpUpload, Status: store.StatusOK, Bytes: 5},
			{Operation: store.OpUpload, Status: store.StatusFailed, Bytes: 1},
			{Operation: store.OpLogin, Status: store.StatusFailed},
		} {
			tr.Protocol = "ftp"
			if err := s.RecordTransfer(ctx, &tr); err != nil {
				t.Fatal(err)
			}
		}
		ops, err := s.CountOperations(ctx)
		want := []store.OperationCount{
			{Operation: "login", Status: "failed", Count: 1},
			{Operation: "upload", Status: "failed", Count: 1, Bytes: 1},
			{Operation: "upload", Status: "ok", Count: 2, Bytes: 15},
		}
		if err != nil || len(ops) != len(want) {
			t.Fatalf("operations: %+v %v", ops, err)
		}
		for i := range want {
			if ops[i] != want[i] {
				t.Errorf("operations[%d] = %+v, want %+v", i, ops[i], want[i])
			}
		}

		now := time.Now().UTC()
		db, err := s.SQL()
		if err != nil {
			t.Fatal(err)
		}
		insert := "INSERT INTO bans (ip, reason, failures, created_at, banned_until) VALUES (?, 'test', 5, ?, ?)"
		if s.Dialect() == migrations.Postgres {
			insert = "INSERT INTO bans (ip, reason, failures, created_at, banned_until) VALUES ($1, 'test', 5, $2, $3)"
		}
		for ip, until := range map[string]time.Time{"192.0.2.1": now.Add(time.Hour), "192.0.2.2": now.Add(-time.Hour)} {
			if s.Dialect() == migrations.SQLite {
				// The format gorm's SQLite driver writes, so that times compare as text.
				_, err = db.ExecContext(ctx, insert, ip, now.Format("2006-01-02 15:04:05.999999999-07:00"), until.Format("2006-01-02 15:04:05.999999999-07:00"))
			} else {
				_, err = db.ExecContext(ctx, insert, ip, now, until)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.CountActiveBans(ctx, now); err != nil || n != 1 {
			t.Fatalf("active bans: %d %v", n, err)
		}
	})
}
