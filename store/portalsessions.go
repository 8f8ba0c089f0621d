package store

import (
	"context"
	"time"
)

// PortalSession is one sign-in of an account to the partner portal. ID is
// the SHA-256 (hex) of the secret in the session cookie; Fingerprint is
// partners.Fingerprint of the account at sign-in. The session lives while
// its row does, ExpiresAt is ahead and the account's fingerprint is
// unchanged.
type PortalSession struct {
	ID          string
	AccountID   string
	Fingerprint string
	// Pending is "" for a signed-in session; "totp" while the sign-in
	// waits for the second factor's code, "enroll" while it must set one
	// up (the partner demands it).
	Pending   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TableName keeps gorm on the migration's table name.
func (PortalSession) TableName() string { return "portal_sessions" }

// CreatePortalSession stores a new session.
func (s *Store) CreatePortalSession(ctx context.Context, ps *PortalSession) error {
	ps.CreatedAt, ps.ExpiresAt = ps.CreatedAt.UTC(), ps.ExpiresAt.UTC()
	return translate(s.q(ctx).Create(ps).Error)
}

// LivePortalSession returns the session with that ID if it is in force at
// now, or ErrNotFound.
func (s *Store) LivePortalSession(ctx context.Context, id string, now time.Time) (*PortalSession, error) {
	var ps PortalSession
	if err := s.q(ctx).Where("id = ? AND expires_at > ?", id, now.UTC()).Take(&ps).Error; err != nil {
		return nil, translate(err)
	}
	return &ps, nil
}

// DeletePortalSession ends a session; ending one that is gone already is
// no error.
func (s *Store) DeletePortalSession(ctx context.Context, id string) error {
	return translate(s.q(ctx).Where("id = ?", id).Delete(&PortalSession{}).Error)
}

// PrunePortalSessions deletes the sessions expired before before.
func (s *Store) PrunePortalSessions(ctx context.Context, before time.Time) error {
	return translate(s.q(ctx).Where("expires_at < ?", before.UTC()).Delete(&PortalSession{}).Error)
}

// SetAccountTOTP stores (or, with "", removes) an account's TOTP secret;
// step is the step of the code that confirmed it (used up).
func (s *Store) SetAccountTOTP(ctx context.Context, accountID, secret string, step int64) error {
	res := s.q(ctx).Model(&Account{}).Where("id = ?", accountID).
		Updates(map[string]any{"totp_secret": secret, "totp_last_step": step, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// UseTOTPStep records that the code of step signed the account in; it
// reports false when that step or a later one was used already (a code
// replayed).
func (s *Store) UseTOTPStep(ctx context.Context, accountID string, step int64) (bool, error) {
	res := s.q(ctx).Model(&Account{}).Where("id = ? AND totp_last_step < ?", accountID, step).
		Update("totp_last_step", step)
	if res.Error != nil {
		return false, translate(res.Error)
	}
	return res.RowsAffected == 1, nil
}
