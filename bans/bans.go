// Package bans keeps addresses that guess passwords out of every protocol
// Ferry serves. Failures and bans live in the database, so every listener
// and every node shares them.
package bans

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/ferryhq/ferry/store"
)

// ErrBanned matches the error Check returns for a banned address.
var ErrBanned = errors.New("address banned")

// BannedError tells until when an address is banned.
type BannedError struct{ Until time.Time }

func (e *BannedError) Error() string {
	return fmt.Sprintf("%v until %s", ErrBanned, e.Until.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrBanned) true.
func (e *BannedError) Is(target error) bool { return target == ErrBanned }

// Guard bans an address after MaxFailures failed logins within Window, for
// BanTime. A zero MaxFailures never bans. The zero Window and BanTime mean
// 10 minutes and 30 minutes.
type Guard struct {
	Store       *store.Store
	MaxFailures int
	Window      time.Duration
	BanTime     time.Duration
	Logger      *slog.Logger
	Now         func() time.Time // tests; nil means time.Now
	// OnBan, if set, is told of each new ban after it is stored (the
	// webhook event login.failed_ban); protocol and username are those of
	// the failure that tipped it. An error is logged.
	OnBan func(ctx context.Context, ban *store.Ban, protocol, username string) error
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Guard) window() time.Duration {
	if g.Window <= 0 {
		return 10 * time.Minute
	}
	return g.Window
}

func (g *Guard) banTime() time.Duration {
	if g.BanTime <= 0 {
		return 30 * time.Minute
	}
	return g.BanTime
}

func (g *Guard) log() *slog.Logger {
	if g.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Logger
}

// Check returns a *BannedError while ip is banned. A database error is
// returned as is; callers let the client in then (failing open keeps
// partners working while the database blips; the login itself still needs
// the database).
func (g *Guard) Check(ctx context.Context, ip netip.Addr) error {
	if g == nil || g.Store == nil {
		return nil
	}
	b, err := g.Store.ActiveBan(ctx, ip.Unmap().String(), g.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bans: check %s: %w", ip, err)
	}
	return &BannedError{Until: b.BannedUntil}
}

// Failure records a failed login and bans ip when it reaches the limit.
func (g *Guard) Failure(ctx context.Context, ip netip.Addr, protocol, username string) {
	if g == nil || g.Store == nil {
		return
	}
	addr := ip.Unmap().String()
	now := g.now()
	n, err := g.Store.RecordAuthFailure(ctx, &store.AuthFailure{IP: addr, Protocol: protocol, Username: username,
		CreatedAt: now.UTC()}, now.Add(-g.window()))
	if err != nil {
		g.log().Error("record failed login", "ip", addr, "err", err)
		return
	}
	if g.MaxFailures <= 0 || n < int64(g.MaxFailures) {
		return
	}
	until := now.Add(g.banTime())
	ban := &store.Ban{IP: addr, Reason: fmt.Sprintf("%d failed logins within %s (last: %s as %q)", n, g.window(), protocol, username),
		Failures: n, CreatedAt: now.UTC(), BannedUntil: until.UTC()}
	if err := g.Store.PutBan(ctx, ban); err != nil {
		g.log().Error("ban address", "ip", addr, "err", err)
		return
	}
	if err := g.Store.ClearAuthFailures(ctx, addr); err != nil {
		g.log().Warn("clear failed logins", "ip", addr, "err", err)
	}
	g.log().Warn("address banned", "ip", addr, "until", until.UTC(), "failures", n, "protocol", protocol)
	if g.OnBan != nil {
		if err := g.OnBan(ctx, ban, protocol, username); err != nil {
			g.log().Error("ban hook", "ip", addr, "err", err)
		}
	}
}

// Success forgets the failed logins of username from ip, and only those:
// the ban of an address counts every failure from it, so a partner who
// holds one valid account cannot wipe out the failures of the passwords it
// guesses for other accounts by logging in between the guesses. username
// is the name as given at the login, the same that Failure recorded.
func (g *Guard) Success(ctx context.Context, ip netip.Addr, username string) {
	if g == nil || g.Store == nil {
		return
	}
	addr := ip.Unmap().String()
	if err := g.Store.ClearAccountAuthFailures(ctx, addr, username); err != nil {
		g.log().Warn("clear failed logins", "ip", addr, "user", username, "err", err)
	}
}

// List returns the bans in force.
func (g *Guard) List(ctx context.Context) ([]store.Ban, error) {
	return g.Store.ListBans(ctx, g.now())
}

// Lift ends a ban at once.
func (g *Guard) Lift(ctx context.Context, ip netip.Addr) error {
	if err := g.Store.DeleteBan(ctx, ip.Unmap().String()); err != nil {
		return fmt.Errorf("bans: lift %s: %w", ip, err)
	}
	return nil
}

// Prune deletes failures too old to count (call it now and then).
func (g *Guard) Prune(ctx context.Context) error {
	return g.Store.PruneAuthFailures(ctx, g.now().Add(-g.window()))
}
