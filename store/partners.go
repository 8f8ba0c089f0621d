package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Partner is a company Ferry exchanges files with. Its files live under
// <files dir>/<slug>; its mailbox is <slug>@<mail domain>.
type Partner struct {
	ID          string
	Slug        string
	Name        string
	Enabled     bool
	TLSRequired bool
	// TOTPRequired makes the partner's accounts sign in to the portal with
	// a second factor (set up at their first sign-in).
	TOTPRequired bool   `gorm:"column:totp_required"`
	AllowedCIDRs string `gorm:"column:allowed_cidrs"` // comma-separated; empty allows every address
	// EBCDICCodePage is the code page of FTP's TYPE E: "IBM-1047" or
	// "IBM-037".
	EBCDICCodePage string `gorm:"column:ebcdic_code_page"`
	QuotaBytes     int64  // 0: unlimited
	QuotaFiles     int64  // 0: unlimited
	UsedBytes      int64
	UsedFiles      int64
	// MailQuotaBytes bounds the partner's mailbox (0: unlimited);
	// MailUsedBytes is what its messages use, kept by the store's mail
	// transactions (read-only for everyone else).
	MailQuotaBytes int64
	MailUsedBytes  int64
	CreatedAt      time.Time
	UpdatedAt      time.Time

	Contacts []Contact `gorm:"foreignKey:PartnerID"`

	// EncryptAlerts is "optional" (alerts are encrypted to the recipients
	// that have a registered key, signed only to the others) or
	// "required" (an alert waits, blocked, until every recipient has one).
	EncryptAlerts string `gorm:"column:encrypt_alerts"`
	// EncryptUploads lists, comma-separated, the addresses whose
	// registered OpenPGP keys each finished upload is encrypted to (empty:
	// stored as uploaded). VerifyUploads checks a detached .sig or .asc
	// beside a file against the keys of the partner's contacts.
	EncryptUploads string `gorm:"column:encrypt_uploads"`
	VerifyUploads  bool   `gorm:"column:verify_uploads"`
}

// Values of Partner.EncryptAlerts.
const (
	EncryptAlertsOptional = "optional"
	EncryptAlertsRequired = "required"
)

// Contact is an email address that gets the partner's upload alerts.
type Contact struct {
	PartnerID string `gorm:"primaryKey"`
	Email     string `gorm:"primaryKey"`
	CreatedAt time.Time
}

// TableName keeps gorm on the migration's table name.
func (Contact) TableName() string { return "partner_contacts" }

// ContactEmails returns the contact addresses in order.
func (p *Partner) ContactEmails() []string {
	out := make([]string, 0, len(p.Contacts))
	for _, c := range p.Contacts {
		out = append(out, c.Email)
	}
	return out
}

// CreatePartner inserts p (ID and timestamps are set here) with its contacts.
func (s *Store) CreatePartner(ctx context.Context, p *Partner) error {
	if p.ID == "" {
		p.ID = NewID()
	}
	now := time.Now().UTC()
	p.CreatedAt, p.UpdatedAt = now, now
	for i := range p.Contacts {
		p.Contacts[i].PartnerID = p.ID
		p.Contacts[i].CreatedAt = now
	}
	return s.Tx(ctx, func(tx *Store) error {
		// Select("*") writes false booleans too; gorm would otherwise skip
		// zero values and let the column default (TRUE) win. A new partner
		// has no mail.
		p.MailUsedBytes = 0
		p.EncryptAlerts = cmp.Or(p.EncryptAlerts, EncryptAlertsOptional)
		if err := tx.q(ctx).Omit("Contacts").Select("*").Create(p).Error; err != nil {
			return translate(err)
		}
		if len(p.Contacts) > 0 {
			if err := tx.q(ctx).Create(&p.Contacts).Error; err != nil {
				return translate(err)
			}
		}
		return nil
	})
}

// PartnerByID returns one partner with its contacts.
func (s *Store) PartnerByID(ctx context.Context, id string) (*Partner, error) {
	var p Partner
	err := s.q(ctx).Preload("Contacts", orderContacts).Where("id = ?", id).Take(&p).Error
	if err != nil {
		return nil, translate(err)
	}
	return &p, nil
}

// Usage is a partner's quota and what it uses; zero quotas mean none.
type Usage struct {
	QuotaBytes, QuotaFiles int64
	UsedBytes, UsedFiles   int64
}

// PartnerUsage reads a partner's quota and usage only (one narrow query,
// for checks that run with every upload).
func (s *Store) PartnerUsage(ctx context.Context, id string) (Usage, error) {
	var u Usage
	err := s.q(ctx).Model(&Partner{}).Select("quota_bytes", "quota_files", "used_bytes", "used_files").
		Where("id = ?", id).Take(&u).Error
	return u, translate(err)
}

// partnerQuota reads a partner's quota only, with a prepared statement (an
// upload's reservation reads it before its 226); ErrNotFound without the
// partner.
func (s *Store) partnerQuota(ctx context.Context, id string) (Usage, error) {
	var q Usage
	err := s.scanRow(ctx, `SELECT quota_bytes, quota_files FROM partners WHERE id = ?`, []any{id},
		&q.QuotaBytes, &q.QuotaFiles)
	if errors.Is(err, sql.ErrNoRows) {
		return q, ErrNotFound
	}
	return q, translate(err)
}

// limited is whether a quota is set.
func (u Usage) limited() bool { return u.QuotaBytes != 0 || u.QuotaFiles != 0 }

// PartnerBySlug returns one partner with its contacts.
func (s *Store) PartnerBySlug(ctx context.Context, slug string) (*Partner, error) {
	var p Partner
	err := s.q(ctx).Preload("Contacts", orderContacts).Where("slug = ?", slug).Take(&p).Error
	if err != nil {
		return nil, translate(err)
	}
	return &p, nil
}

// EnabledPartnerID returns the ID of the enabled partner whose slug (or,
// failing that, ID) is slugOrID, with one prepared query; ErrNotFound if
// none. The mail servers route every recipient through it, and every
// alert's copy in a partner's mailbox.
func (s *Store) EnabledPartnerID(ctx context.Context, slugOrID string) (string, error) {
	var (
		id      string
		enabled bool
	)
	err := s.scanRow(ctx, `SELECT id, enabled FROM partners WHERE slug = ? OR id = ?
		ORDER BY CASE WHEN slug = ? THEN 0 ELSE 1 END LIMIT 1`, []any{slugOrID, slugOrID, slugOrID}, &id, &enabled)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !enabled) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", translate(err)
	}
	return id, nil
}

func orderContacts(db *gorm.DB) *gorm.DB { return db.Order("created_at, email") }

// PartnerFilter selects partners for ListPartners.
type PartnerFilter struct {
	Query string // substring of name or slug, case-insensitive
	After string // slug to continue after (keyset paging: no OFFSET, every page costs the same)
	Limit int
}

// ListPartners returns partners ordered by slug.
func (s *Store) ListPartners(ctx context.Context, f PartnerFilter) ([]Partner, error) {
	q := s.q(ctx).Preload("Contacts", orderContacts).Order("slug")
	if f.Query != "" {
		like := "%" + escapeLike(strings.ToLower(f.Query)) + "%"
		q = q.Where("(LOWER(name) LIKE ? ESCAPE '\\' OR slug LIKE ? ESCAPE '\\')", like, like)
	}
	if f.After != "" {
		q = q.Where("slug > ?", f.After)
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	var out []Partner
	if err := q.Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// UpdatePartner writes every column of p except usage counters (FTP and
// mail), and replaces its contacts with p.Contacts. Once committed, the
// change is marked for the server's copies (its quota, for the upload
// log): see changeStamp.
func (s *Store) UpdatePartner(ctx context.Context, p *Partner) error {
	p.UpdatedAt = time.Now().UTC()
	return s.Tx(ctx, func(tx *Store) error {
		tx.afterCommit(tx.partners.bump)
		res := tx.q(ctx).Model(&Partner{}).Where("id = ?", p.ID).Updates(map[string]any{
			"slug": p.Slug, "name": p.Name, "enabled": p.Enabled, "tls_required": p.TLSRequired,
			"allowed_cidrs": p.AllowedCIDRs, "quota_bytes": p.QuotaBytes, "quota_files": p.QuotaFiles,
			"mail_quota_bytes": p.MailQuotaBytes, "ebcdic_code_page": p.EBCDICCodePage, "totp_required": p.TOTPRequired,
			"updated_at":      p.UpdatedAt,
			"encrypt_alerts":  cmp.Or(p.EncryptAlerts, EncryptAlertsOptional),
			"encrypt_uploads": p.EncryptUploads, "verify_uploads": p.VerifyUploads,
		})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if err := tx.q(ctx).Where("partner_id = ?", p.ID).Delete(&Contact{}).Error; err != nil {
			return translate(err)
		}
		for i := range p.Contacts {
			p.Contacts[i].PartnerID = p.ID
			if p.Contacts[i].CreatedAt.IsZero() {
				p.Contacts[i].CreatedAt = p.UpdatedAt
			}
		}
		if len(p.Contacts) > 0 {
			if err := tx.q(ctx).Create(&p.Contacts).Error; err != nil {
				return translate(err)
			}
		}
		return nil
	})
}

// DeletePartner removes the partner, its contacts and accounts (marked as
// UpdatePartner marks a change).
func (s *Store) DeletePartner(ctx context.Context, id string) error {
	res := s.q(ctx).Where("id = ?", id).Delete(&Partner{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	s.afterCommit(s.partners.bump)
	return nil
}

// String is for logs.
func (p *Partner) String() string { return fmt.Sprintf("partner %s (%s)", p.Slug, p.ID) }
