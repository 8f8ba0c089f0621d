package bans_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func TestBanAfterFailuresAndExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		g := &bans.Guard{Store: s, MaxFailures: 3, Window: time.Minute, BanTime: 10 * time.Minute,
			Now: func() time.Time { return now }}
		ip := netip.MustParseAddr("192.0.2.10")
		other := netip.MustParseAddr("192.0.2.11")

		g.Failure(ctx, ip, "ftp", "alice")
		g.Failure(ctx, ip, "pop3", "alice")
		if err := g.Check(ctx, ip); err != nil {
			t.Fatalf("banned after 2 of 3 failures: %v", err)
		}
		// A good login of that account resets the count.
		g.Success(ctx, ip, "alice")
		g.Failure(ctx, ip, "ftp", "alice")
		g.Failure(ctx, ip, "ftp", "alice")
		if err := g.Check(ctx, ip); err != nil {
			t.Fatalf("success did not reset the count: %v", err)
		}
		// Failures outside the window do not count.
		now = now.Add(2 * time.Minute)
		g.Failure(ctx, ip, "ftp", "alice")
		if err := g.Check(ctx, ip); err != nil {
			t.Fatalf("old failures counted: %v", err)
		}
		g.Failure(ctx, ip, "imap", "x")
		g.Failure(ctx, ip, "smtp", "y")
		err := g.Check(ctx, ip)
		var be *bans.BannedError
		if !errors.Is(err, bans.ErrBanned) || !errors.As(err, &be) || !be.Until.Equal(now.Add(10*time.Minute)) {
			t.Fatalf("not banned after 3 failures in the window: %v", err)
		}
		if err := g.Check(ctx, other); err != nil {
			t.Fatalf("another address is banned: %v", err)
		}
		list, err := g.List(ctx)
		if err != nil || len(list) != 1 || list[0].IP != "192.0.2.10" || list[0].Failures != 3 {
			t.Fatalf("list %+v %v", list, err)
		}
		// The ban expires.
		now = now.Add(10*time.Minute + time.Second)
		if err := g.Check(ctx, ip); err != nil {
			t.Fatalf("ban did not expire: %v", err)
		}
		// Operators lift bans.
		now = now.Add(time.Hour)
		for i := 0; i < 3; i++ {
			g.Failure(ctx, other, "ftp", "z")
		}
		if err := g.Check(ctx, other); !errors.Is(err, bans.ErrBanned) {
			t.Fatalf("second ban: %v", err)
		}
		if err := g.Lift(ctx, other); err != nil {
			t.Fatal(err)
		}
		if err := g.Check(ctx, other); err != nil {
			t.Fatalf("lifted ban still in force: %v", err)
		}
		if err := g.Lift(ctx, other); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("lifting twice: %v", err)
		}
		// IPv4-mapped IPv6 is the same address.
		for i := 0; i < 3; i++ {
			g.Failure(ctx, netip.MustParseAddr("::ffff:198.51.100.1"), "ftp", "m")
		}
		if err := g.Check(ctx, netip.MustParseAddr("198.51.100.1")); !errors.Is(err, bans.ErrBanned) {
			t.Fatalf("mapped address not banned: %v", err)
		}
		if err := g.Prune(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// A good login forgets only the failures of the account that logged in:
// the failures of other usernames from the address still count.
func TestSuccessClearsOnlyThatAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		g := &bans.Guard{Store: s, MaxFailures: 3, Window: time.Minute, BanTime: 10 * time.Minute,
			Now: func() time.Time { return now }}
		ip := netip.MustParseAddr("192.0.2.20")
		g.Failure(ctx, ip, "ftp", "alice")
		g.Failure(ctx, ip, "ftp", "bob")
		g.Success(ctx, ip, "alice") // alice's failure goes, bob's stays
		g.Failure(ctx, ip, "imap", "bob")
		if err := g.Check(ctx, ip); err != nil {
			t.Fatalf("banned after 2 counted failures: %v", err)
		}
		// The same username from another address is another count.
		g.Success(ctx, netip.MustParseAddr("192.0.2.21"), "bob")
		g.Failure(ctx, ip, "pop3", "carol")
		if err := g.Check(ctx, ip); !errors.Is(err, bans.ErrBanned) {
			t.Fatalf("not banned after bob, bob, carol: %v", err)
		}
	})
}

// The pattern of the outside test: wrong passwords for other accounts,
// with a good login of one's own account every four guesses. The ban comes
// at the limit, as if the good logins had not been there.
func TestGoodLoginsBetweenGuessesDoNotResetTheBan(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		const limit = 10
		g := &bans.Guard{Store: s, MaxFailures: limit, Window: 10 * time.Minute, BanTime: 30 * time.Minute,
			Now: func() time.Time { return now }}
		ip := netip.MustParseAddr("192.0.2.30")
		bannedAt := 0
		for i := 1; i <= 80 && bannedAt == 0; i++ {
			now = now.Add(time.Second)
			g.Failure(ctx, ip, "ftp", fmt.Sprintf("victim%d", i%3))
			if i%4 == 0 {
				g.Success(ctx, ip, "alice")
			}
			if errors.Is(g.Check(ctx, ip), bans.ErrBanned) {
				bannedAt = i
			}
		}
		if bannedAt != limit {
			t.Fatalf("banned after %d wrong passwords (0: never), want %d", bannedAt, limit)
		}
	})
}

func TestNilGuardAllowsAll(t *testing.T) {
	var g *bans.Guard
	if err := g.Check(context.Background(), netip.MustParseAddr("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	g.Failure(context.Background(), netip.MustParseAddr("192.0.2.1"), "ftp", "x")
	g.Success(context.Background(), netip.MustParseAddr("192.0.2.1"), "x")
}
