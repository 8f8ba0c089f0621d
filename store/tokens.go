package store

import (
	"context"
	"time"
)

// APIToken is a bearer token of the admin API. Only a SHA-256 of the token
// is stored; the token itself is shown once when it is created.
type APIToken struct {
	ID         string
	Name       string
	Role       string // admin or auditor
	TokenHash  string // hex SHA-256 of the token
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// TableName keeps gorm on the migration's table name.
func (APIToken) TableName() string { return "api_tokens" }

// CreateAPIToken inserts t (ID and creation time are set here).
func (s *Store) CreateAPIToken(ctx context.Context, t *APIToken) error {
	if t.ID == "" {
		t.ID = NewID()
	}
	t.CreatedAt = time.Now().UTC()
	return translate(s.q(ctx).Create(t).Error)
}

// APITokenByHash returns the token with that hash unless it is revoked.
func (s *Store) APITokenByHash(ctx context.Context, hash string) (*APIToken, error) {
	var t APIToken
	if err := s.q(ctx).Where("token_hash = ? AND revoked_at IS NULL", hash).Take(&t).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// APITokenByID returns the token with that ID unless it is revoked (one
// row by its primary key: the web admin checks it on every request).
func (s *Store) APITokenByID(ctx context.Context, id string) (*APIToken, error) {
	var t APIToken
	if err := s.q(ctx).Where("id = ? AND revoked_at IS NULL", id).Take(&t).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// ListAPITokens returns every token, revoked ones too, oldest first.
func (s *Store) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	var out []APIToken
	if err := s.q(ctx).Order("id").Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// RevokeAPIToken makes a token unusable. Revoking a revoked token is
// ErrNotFound.
func (s *Store) RevokeAPIToken(ctx context.Context, id string, at time.Time) error {
	res := s.q(ctx).Model(&APIToken{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", at.UTC())
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchAPIToken records that a token was used.
func (s *Store) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	return translate(s.q(ctx).Model(&APIToken{}).Where("id = ?", id).Update("last_used_at", at.UTC()).Error)
}
