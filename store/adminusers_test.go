package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func TestAdminUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := &store.AdminUser{Username: "alice", PasswordHash: "$argon2id$x", Role: "admin"}
		if err := s.CreateAdminUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAdminUser(ctx, &store.AdminUser{Username: "alice", PasswordHash: "h", Role: "auditor"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate username: %v", err)
		}
		if err := s.CreateAdminUser(ctx, &store.AdminUser{Username: "root", PasswordHash: "h", Role: "root"}); err == nil {
			t.Fatal("a user with an unknown role was stored")
		}
		if err := s.CreateAdminUser(ctx, &store.AdminUser{Username: "bob", PasswordHash: "h2", Role: "auditor", Disabled: true}); err != nil {
			t.Fatal(err)
		}
		got, err := s.AdminUserByUsername(ctx, "alice")
		if err != nil || got.ID != u.ID || got.Role != "admin" || got.Disabled || got.PasswordHash != "$argon2id$x" || got.LastLoginAt != nil {
			t.Fatalf("by username: %+v %v", got, err)
		}
		if _, err := s.AdminUserByUsername(ctx, "carol"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
		if err := s.TouchAdminUser(ctx, u.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAdminUserPassword(ctx, "alice", "$argon2id$y"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAdminUserDisabled(ctx, "alice", true); err != nil {
			t.Fatal(err)
		}
		got, err = s.AdminUserByID(ctx, u.ID)
		if err != nil || got.PasswordHash != "$argon2id$y" || !got.Disabled || got.LastLoginAt == nil {
			t.Fatalf("after changes: %+v %v", got, err)
		}
		if err := s.SetAdminUserDisabled(ctx, "alice", false); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.AdminUserByID(ctx, u.ID); got.Disabled {
			t.Fatal("enable did not stick")
		}
		for _, err := range []error{
			s.SetAdminUserPassword(ctx, "carol", "h"), s.SetAdminUserDisabled(ctx, "carol", true), s.DeleteAdminUser(ctx, "carol"),
		} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("change of an unknown user: %v", err)
			}
		}
		list, err := s.ListAdminUsers(ctx)
		if err != nil || len(list) != 2 || list[0].Username != "alice" || list[1].Username != "bob" || !list[1].Disabled {
			t.Fatalf("list: %+v %v", list, err)
		}
		if err := s.DeleteAdminUser(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AdminUserByID(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted user found: %v", err)
		}
	})
}
