package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"gorm.io/gorm/clause"
)

// Ban keeps an address out of every protocol until BannedUntil.
type Ban struct {
	IP          string `gorm:"primaryKey;column:ip"`
	Reason      string
	Failures    int64
	CreatedAt   time.Time
	BannedUntil time.Time
}

// AuthFailure is one failed login.
type AuthFailure struct {
	ID        string
	IP        string `gorm:"column:ip"`
	Protocol  string
	Username  string
	CreatedAt time.Time
}

// RecordAuthFailure stores a failed login and returns how many failures the
// address has had since `since`, whatever the username.
func (s *Store) RecordAuthFailure(ctx context.Context, f *AuthFailure, since time.Time) (int64, error) {
	if f.ID == "" {
		f.ID = NewID()
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = time.Now().UTC()
	}
	if err := s.q(ctx).Create(f).Error; err != nil {
		return 0, translate(err)
	}
	var n int64
	err := s.q(ctx).Model(&AuthFailure{}).Where("ip = ? AND created_at >= ?", f.IP, since.UTC()).Count(&n).Error
	return n, translate(err)
}

// ClearAuthFailures forgets every failure of an address (once it is banned).
func (s *Store) ClearAuthFailures(ctx context.Context, ip string) error {
	return translate(s.q(ctx).Where("ip = ?", ip).Delete(&AuthFailure{}).Error)
}

// ClearAccountAuthFailures forgets the failures of one username from one
// address (after that account logged in from it); the failures of other
// usernames from the address still count toward its ban.
func (s *Store) ClearAccountAuthFailures(ctx context.Context, ip, username string) error {
	// A read first: nearly every login has nothing to clear, and a DELETE
	// takes the database's write lock even when it matches no row.
	var found int
	err := s.scanRow(ctx, `SELECT 1 FROM auth_failures WHERE ip = ? AND username = ? LIMIT 1`, []any{ip, username}, &found)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return translate(err)
	}
	_, err = s.exec(ctx, `DELETE FROM auth_failures WHERE ip = ? AND username = ?`, ip, username)
	return translate(err)
}

// PruneAuthFailures deletes failures older than before.
func (s *Store) PruneAuthFailures(ctx context.Context, before time.Time) error {
	return translate(s.q(ctx).Where("created_at < ?", before.UTC()).Delete(&AuthFailure{}).Error)
}

// PutBan creates or extends a ban.
func (s *Store) PutBan(ctx context.Context, b *Ban) error {
	return translate(s.q(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "ip"}},
		DoUpdates: clause.AssignmentColumns([]string{"reason", "failures", "banned_until"}),
	}).Create(b).Error)
}

// ActiveBan returns the ban on ip in force at now, or ErrNotFound.
func (s *Store) ActiveBan(ctx context.Context, ip string, now time.Time) (*Ban, error) {
	// A plain scan: every connection and every login asks.
	var b Ban
	err := s.scanRow(ctx, `SELECT ip, reason, failures, created_at, banned_until FROM bans
		WHERE ip = ? AND banned_until > ?`, []any{ip, now.UTC()},
		&b.IP, &b.Reason, &b.Failures, &b.CreatedAt, &b.BannedUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, translate(err)
	}
	return &b, nil
}

// ListBans returns the bans in force at now, newest first.
func (s *Store) ListBans(ctx context.Context, now time.Time) ([]Ban, error) {
	var out []Ban
	err := s.q(ctx).Where("banned_until > ?", now.UTC()).Order("created_at DESC").Find(&out).Error
	return out, translate(err)
}

// DeleteBan lifts a ban; it returns ErrNotFound when there was none.
func (s *Store) DeleteBan(ctx context.Context, ip string) error {
	res := s.q(ctx).Where("ip = ?", ip).Delete(&Ban{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
