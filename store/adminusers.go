package store

import (
	"context"
	"time"
)

// AdminUser is a person who signs in to the web admin with a username and
// password instead of an API token. PasswordHash is argon2id (PHC format);
// Role is admin or auditor, as for tokens.
type AdminUser struct {
	ID           string
	Username     string
	PasswordHash string
	Role         string
	Disabled     bool
	CreatedAt    time.Time
	LastLoginAt  *time.Time
}

// TableName keeps gorm on the migration's table name.
func (AdminUser) TableName() string { return "admin_users" }

// CreateAdminUser inserts u (ID and creation time are set here); a taken
// username is ErrConflict.
func (s *Store) CreateAdminUser(ctx context.Context, u *AdminUser) error {
	if u.ID == "" {
		u.ID = NewID()
	}
	u.CreatedAt = time.Now().UTC()
	return translate(s.q(ctx).Select("*").Create(u).Error)
}

// AdminUserByUsername returns the user, disabled or not, or ErrNotFound.
func (s *Store) AdminUserByUsername(ctx context.Context, username string) (*AdminUser, error) {
	var u AdminUser
	if err := s.q(ctx).Where("username = ?", username).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// AdminUserByID returns the user, disabled or not, or ErrNotFound.
func (s *Store) AdminUserByID(ctx context.Context, id string) (*AdminUser, error) {
	var u AdminUser
	if err := s.q(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// ListAdminUsers returns every user by username.
func (s *Store) ListAdminUsers(ctx context.Context) ([]AdminUser, error) {
	var out []AdminUser
	if err := s.q(ctx).Order("username").Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// updateAdminUser sets one column of the user named username; no such
// user is ErrNotFound.
func (s *Store) updateAdminUser(ctx context.Context, username, column string, value any) error {
	res := s.q(ctx).Model(&AdminUser{}).Where("username = ?", username).Update(column, value)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// SetAdminUserPassword replaces a user's password hash, which ends the
// user's web sessions.
func (s *Store) SetAdminUserPassword(ctx context.Context, username, hash string) error {
	return s.updateAdminUser(ctx, username, "password_hash", hash)
}

// SetAdminUserDisabled disables or enables a user; a disabled user can
// neither sign in nor use a session it already has.
func (s *Store) SetAdminUserDisabled(ctx context.Context, username string, disabled bool) error {
	return s.updateAdminUser(ctx, username, "disabled", disabled)
}

// DeleteAdminUser removes a user; no such user is ErrNotFound.
func (s *Store) DeleteAdminUser(ctx context.Context, username string) error {
	res := s.q(ctx).Where("username = ?", username).Delete(&AdminUser{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchAdminUser records a user's sign-in.
func (s *Store) TouchAdminUser(ctx context.Context, id string, at time.Time) error {
	return translate(s.q(ctx).Model(&AdminUser{}).Where("id = ?", id).Update("last_login_at", at.UTC()).Error)
}
