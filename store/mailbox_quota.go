package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
)

// ErrMailQuota is matched (errors.Is) by a *MailQuotaError.
var ErrMailQuota = errors.New("mailbox quota exceeded")

// MailQuotaError refuses a change that would take partners' mailboxes
// past their quota; nothing was written.
type MailQuotaError struct {
	PartnerIDs []string // sorted
}

func (e *MailQuotaError) Error() string {
	return "mailbox quota exceeded for partner " + strings.Join(e.PartnerIDs, ", ")
}

// Is makes errors.Is(err, ErrMailQuota) true.
func (e *MailQuotaError) Is(target error) bool { return target == ErrMailQuota }

// Over reports whether partnerID is one of the partners over quota.
func (e *MailQuotaError) Over(partnerID string) bool { return slices.Contains(e.PartnerIDs, partnerID) }

// chargeMail adds deltas (bytes per partner ID) to the partners' mail usage.
// A positive delta is refused, for all partners at once, with a
// *MailQuotaError if it would take a partner with a quota past it; the
// check and the addition are one conditional UPDATE, and the row stays
// locked until the transaction ends (the database lock on SQLite), so
// concurrent deliveries cannot overshoot. Must run inside a transaction,
// after the folder rows were touched: folders, then partners in ID order
// is the lock order of every mail transaction.
func (s *Store) chargeMail(ctx context.Context, deltas map[string]int64) error {
	ids := make([]string, 0, len(deltas))
	for id, d := range deltas {
		if d != 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var over []string
	for _, id := range ids {
		d := deltas[id]
		if d < 0 {
			if _, err := s.exec(ctx, "UPDATE partners SET mail_used_bytes = mail_used_bytes + ? WHERE id = ?", d, id); err != nil {
				return translate(err)
			}
			continue
		}
		n, err := s.exec(ctx, `UPDATE partners SET mail_used_bytes = mail_used_bytes + ?
			WHERE id = ? AND (mail_quota_bytes <= 0 OR mail_used_bytes + ? <= mail_quota_bytes)`, d, id, d)
		if err != nil {
			return translate(err)
		}
		if n == 0 {
			var partners int64
			if err := s.q(ctx).Model(&Partner{}).Where("id = ?", id).Count(&partners).Error; err != nil {
				return translate(err)
			}
			if partners == 0 {
				return ErrNotFound
			}
			over = append(over, id)
		}
	}
	if len(over) > 0 {
		return &MailQuotaError{PartnerIDs: over}
	}
	return nil
}

// MailQuota returns a partner's mailbox quota (0: unlimited) and the bytes
// its messages use. Every APPEND, and every SMTP recipient with a SIZE,
// reads it: a prepared statement.
func (s *Store) MailQuota(ctx context.Context, partnerID string) (quota, used int64, err error) {
	err = s.scanRow(ctx, "SELECT mail_quota_bytes, mail_used_bytes FROM partners WHERE id = ?", []any{partnerID},
		&quota, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, ErrNotFound
	}
	if err != nil {
		return 0, 0, translate(err)
	}
	return quota, used, nil
}

// RecalcMailUsage sets a partner's mail usage to the sum of its messages'
// sizes (a repair; the transactions keep it exact) and returns it.
func (s *Store) RecalcMailUsage(ctx context.Context, partnerID string) (int64, error) {
	var used int64
	err := s.Tx(ctx, func(tx *Store) error {
		// Lock the row first, so that no delivery changes it in between.
		if err := tx.q(ctx).Exec("UPDATE partners SET mail_used_bytes = mail_used_bytes WHERE id = ?", partnerID).Error; err != nil {
			return translate(err)
		}
		var err error
		if used, err = tx.MailUsage(ctx, partnerID); err != nil {
			return err
		}
		res := tx.q(ctx).Model(&Partner{}).Where("id = ?", partnerID).Update("mail_used_bytes", used)
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
	return used, err
}
