package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Account is one FTP login of a partner.
type Account struct {
	ID           string
	PartnerID    string
	Username     string
	PasswordHash string
	HomeDir      string // folder inside the partner's tree the account is jailed in ("/" for all of it)
	Permissions  string // comma-separated: list,download,upload,overwrite,delete,rename,mkdir
	TLSRequired  bool
	Enabled      bool
	// TOTPSecret is the base32 secret of the account's second factor in
	// the portal; "" when it has none.
	TOTPSecret string `gorm:"column:totp_secret"`
	// TOTPLastStep is the 30-second step of the last code that was
	// accepted: each code is good once.
	TOTPLastStep int64 `gorm:"column:totp_last_step"`
	LastLoginAt  *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time

	Partner *Partner `gorm:"foreignKey:PartnerID"`
}

// CreateAccount inserts a (ID and timestamps are set here).
func (s *Store) CreateAccount(ctx context.Context, a *Account) error {
	if a.ID == "" {
		a.ID = NewID()
	}
	now := time.Now().UTC()
	a.CreatedAt, a.UpdatedAt = now, now
	return translate(s.q(ctx).Omit("Partner").Select("*").Create(a).Error)
}

// AccountByUsername returns the account with its partner, every column of
// both (logins read theirs with LoginAccount).
func (s *Store) AccountByUsername(ctx context.Context, username string) (*Account, error) {
	var a Account
	// One query with the partner joined, not Preload's two.
	if err := s.q(ctx).Joins("Partner").Where("accounts.username = ?", username).Take(&a).Error; err != nil {
		return nil, translate(err)
	}
	return &a, nil
}

// LoginAccount returns what a login checks of the account username and its
// partner, in one plain query: the account without its TOTP columns and
// timestamps other than LastLoginAt, and of the partner its ID, Slug,
// Enabled, TLSRequired, AllowedCIDRs and EBCDICCodePage. Every login runs
// it, a statement prepared once on SQLite (stmtCache): AccountByUsername's
// join of every column, parsed and planned again on every run, costs about
// ten times as much there (BenchmarkLoginAccount: 9 against 97-103 us).
// ErrNotFound: no such account.
func (s *Store) LoginAccount(ctx context.Context, username string) (*Account, error) {
	a := &Account{Partner: &Partner{}}
	p := a.Partner
	err := s.scanRow(ctx, `SELECT a.id, a.partner_id, a.username, a.password_hash, a.home_dir, a.permissions,
		a.tls_required, a.enabled, a.last_login_at,
		p.id, p.slug, p.enabled, p.tls_required, p.allowed_cidrs, p.ebcdic_code_page
		FROM accounts a JOIN partners p ON p.id = a.partner_id WHERE a.username = ?`, []any{username},
		&a.ID, &a.PartnerID, &a.Username, &a.PasswordHash, &a.HomeDir, &a.Permissions,
		&a.TLSRequired, &a.Enabled, &a.LastLoginAt,
		&p.ID, &p.Slug, &p.Enabled, &p.TLSRequired, &p.AllowedCIDRs, &p.EBCDICCodePage)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, translate(err)
	}
	return a, nil
}

// AccountTLSRequired reports whether the account username, or its partner,
// requires TLS (false when there is no such account). The FTP server asks
// at USER, before the password, with one plain query.
func (s *Store) AccountTLSRequired(ctx context.Context, username string) (bool, error) {
	var required bool
	err := s.scanRow(ctx, `SELECT (a.tls_required OR p.tls_required) AS required
		FROM accounts a JOIN partners p ON p.id = a.partner_id WHERE a.username = ?`, []any{username}, &required)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, translate(err)
	}
	return required, nil
}

// AccountByID returns the account with its partner.
func (s *Store) AccountByID(ctx context.Context, id string) (*Account, error) {
	var a Account
	if err := s.q(ctx).Preload("Partner").Where("id = ?", id).Take(&a).Error; err != nil {
		return nil, translate(err)
	}
	return &a, nil
}

// AccountsByPartner lists a partner's accounts by username.
func (s *Store) AccountsByPartner(ctx context.Context, partnerID string) ([]Account, error) {
	var out []Account
	if err := s.q(ctx).Where("partner_id = ?", partnerID).Order("username").Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// AccountPage returns up to limit accounts of a partner ordered by
// username, after the username after ("" for the first page): keyset
// paging on the (partner_id, username) index, so every page costs the same
// however many accounts the partner has.
func (s *Store) AccountPage(ctx context.Context, partnerID, after string, limit int) ([]Account, error) {
	q := s.q(ctx).Where("partner_id = ?", partnerID).Order("username")
	if after != "" {
		q = q.Where("username > ?", after)
	}
	if limit > 0 {
		q = q.Limit(limit)
	}
	var out []Account
	if err := q.Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// UpdateAccount writes every mutable column of a.
func (s *Store) UpdateAccount(ctx context.Context, a *Account) error {
	a.UpdatedAt = time.Now().UTC()
	res := s.q(ctx).Model(&Account{}).Where("id = ?", a.ID).Updates(map[string]any{
		"username": a.Username, "password_hash": a.PasswordHash, "home_dir": a.HomeDir,
		"permissions": a.Permissions, "tls_required": a.TLSRequired, "enabled": a.Enabled,
		"updated_at": a.UpdatedAt,
	})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchLogin records a successful login.
func (s *Store) TouchLogin(ctx context.Context, id string, at time.Time) error {
	return translate(s.q(ctx).Model(&Account{}).Where("id = ?", id).Update("last_login_at", at.UTC()).Error)
}

// DeleteAccount removes an account.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	res := s.q(ctx).Where("id = ?", id).Delete(&Account{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// AccountsByIDs returns the accounts with these IDs that still exist, with
// their partners (live-session checks).
func (s *Store) AccountsByIDs(ctx context.Context, ids []string) ([]Account, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []Account
	if err := s.q(ctx).Preload("Partner").Where("id IN ?", ids).Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}
