package store

import (
	"context"
	"time"
)

// WebSession is one sign-in to the web admin. ID is the SHA-256 (hex) of
// the secret in the session cookie; Principal is the API token's ID, or
// "user:" and the admin user's ID. The session lives while its row does
// and ExpiresAt is ahead.
type WebSession struct {
	ID        string
	Principal string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TableName keeps gorm on the migration's table name.
func (WebSession) TableName() string { return "web_sessions" }

// CreateWebSession stores a new session.
func (s *Store) CreateWebSession(ctx context.Context, ws *WebSession) error {
	ws.CreatedAt, ws.ExpiresAt = ws.CreatedAt.UTC(), ws.ExpiresAt.UTC()
	return translate(s.q(ctx).Create(ws).Error)
}

// LiveWebSession returns the session with that ID if it is in force at
// now, or ErrNotFound.
func (s *Store) LiveWebSession(ctx context.Context, id string, now time.Time) (*WebSession, error) {
	var ws WebSession
	if err := s.q(ctx).Where("id = ? AND expires_at > ?", id, now.UTC()).Take(&ws).Error; err != nil {
		return nil, translate(err)
	}
	return &ws, nil
}

// DeleteWebSession ends a session (signing out); ending one that is gone
// already is no error.
func (s *Store) DeleteWebSession(ctx context.Context, id string) error {
	return translate(s.q(ctx).Where("id = ?", id).Delete(&WebSession{}).Error)
}

// PruneWebSessions deletes the sessions expired before before.
func (s *Store) PruneWebSessions(ctx context.Context, before time.Time) error {
	return translate(s.q(ctx).Where("expires_at < ?", before.UTC()).Delete(&WebSession{}).Error)
}
