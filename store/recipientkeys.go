package store

import (
	"context"
	"strings"
	"time"
)

// RecipientKey is a contact's public key, registered by an operator: an
// OpenPGP public key or an S/MIME certificate (mailsec checks it before it
// is stored, and parses it again for use).
type RecipientKey struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"` // lower case
	Kind        string     `json:"kind"`  // openpgp or smime
	Fingerprint string     `json:"fingerprint"`
	PublicKey   string     `json:"-" gorm:"column:public_key"` // armored key or PEM certificate
	ExpiresAt   *time.Time `json:"expires_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

// TableName keeps gorm on the migration's table name.
func (RecipientKey) TableName() string { return "recipient_keys" }

// AddRecipientKey stores k (ID and creation time are set here). The same
// key registered twice for one address is ErrConflict.
func (s *Store) AddRecipientKey(ctx context.Context, k *RecipientKey) error {
	if k.ID == "" {
		k.ID = NewID()
	}
	k.Email = strings.ToLower(k.Email)
	k.CreatedAt = dbTime(time.Now())
	if k.ExpiresAt != nil {
		t := dbTime(*k.ExpiresAt)
		k.ExpiresAt = &t
	}
	return translate(s.q(ctx).Create(k).Error)
}

// RecipientKeys returns the keys of the addresses (all keys when emails
// is nil), by address, then newest first.
func (s *Store) RecipientKeys(ctx context.Context, emails []string) ([]RecipientKey, error) {
	q := s.q(ctx).Order("email, created_at DESC, id DESC")
	if emails != nil {
		lower := make([]string, len(emails))
		for i, e := range emails {
			lower[i] = strings.ToLower(e)
		}
		if len(lower) == 0 {
			return nil, nil
		}
		q = q.Where("email IN ?", lower)
	}
	var out []RecipientKey
	if err := q.Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// RecipientKeyByID returns one key, or ErrNotFound.
func (s *Store) RecipientKeyByID(ctx context.Context, id string) (*RecipientKey, error) {
	var k RecipientKey
	if err := s.q(ctx).Where("id = ?", id).Take(&k).Error; err != nil {
		return nil, translate(err)
	}
	return &k, nil
}

// DeleteRecipientKey removes a key; ErrNotFound when there is none.
func (s *Store) DeleteRecipientKey(ctx context.Context, id string) error {
	res := s.q(ctx).Where("id = ?", id).Delete(&RecipientKey{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// UnblockNotifications makes every blocked alert due now, so the notifier
// checks again whether its recipients have keys (one was just added).
func (s *Store) UnblockNotifications(ctx context.Context) error {
	return translate(s.q(ctx).Model(&Notification{}).Where("status = ?", NotifyBlocked).
		Update("next_attempt_at", dbTime(time.Now())).Error)
}
