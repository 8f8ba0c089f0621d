package store

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ferryhq/ferry/migrations"
)

// What the admin side reads and locks beyond the plain CRUD of partners.go
// and accounts.go: rows locked for read-modify-write updates, and the counts
// behind /metrics.

// forUpdate locks the selected rows until the transaction ends. PostgreSQL
// needs it; SQLite transactions begin IMMEDIATE (see Open), so a writer
// already holds the database's write lock.
func (s *Store) forUpdate(q *gorm.DB) *gorm.DB {
	if s.dialect == migrations.Postgres {
		return q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return q
}

// PartnerByIDForUpdate returns a partner like PartnerByID and, inside Tx,
// keeps others from changing it until the transaction ends.
func (s *Store) PartnerByIDForUpdate(ctx context.Context, id string) (*Partner, error) {
	var p Partner
	err := s.forUpdate(s.q(ctx)).Where("id = ?", id).Take(&p).Error
	if err != nil {
		return nil, translate(err)
	}
	if err := s.q(ctx).Where("partner_id = ?", id).Order("created_at, email").Find(&p.Contacts).Error; err != nil {
		return nil, translate(err)
	}
	return &p, nil
}

// AccountByIDForUpdate returns an account (without its partner) and, inside
// Tx, keeps others from changing it until the transaction ends.
func (s *Store) AccountByIDForUpdate(ctx context.Context, id string) (*Account, error) {
	var a Account
	if err := s.forUpdate(s.q(ctx)).Where("id = ?", id).Take(&a).Error; err != nil {
		return nil, translate(err)
	}
	return &a, nil
}

// OperationCount is one group of the transfer audit log.
type OperationCount struct {
	Operation string
	Status    string
	Count     int64
	Bytes     int64
}

// CountOperations groups the whole audit log by operation and status,
// with the uploads being published (status committing).
func (s *Store) CountOperations(ctx context.Context) ([]OperationCount, error) {
	var out, pending []OperationCount
	const cols = "operation, status, COUNT(*) AS count, COALESCE(SUM(bytes), 0) AS bytes"
	if err := s.q(ctx).Table(intentsTable).Select(cols).Group("operation, status").Scan(&pending).Error; err != nil {
		return nil, translate(err)
	}
	err := s.q(ctx).Model(&Transfer{}).Select(cols).Group("operation, status").Order("operation, status").Scan(&out).Error
	if err != nil {
		return nil, translate(err)
	}
	if len(pending) == 0 {
		return out, nil
	}
	out = append(out, pending...)
	slices.SortStableFunc(out, func(a, b OperationCount) int {
		return cmp.Or(strings.Compare(a.Operation, b.Operation), strings.Compare(a.Status, b.Status))
	})
	return out, nil
}

// EnabledCount counts rows by their enabled flag.
type EnabledCount struct{ Enabled, Disabled int64 }

func (s *Store) countEnabled(ctx context.Context, model any) (EnabledCount, error) {
	var rows []struct {
		Enabled bool
		N       int64
	}
	if err := s.q(ctx).Model(model).Select("enabled, COUNT(*) AS n").Group("enabled").Scan(&rows).Error; err != nil {
		return EnabledCount{}, translate(err)
	}
	var c EnabledCount
	for _, r := range rows {
		if r.Enabled {
			c.Enabled += r.N
		} else {
			c.Disabled += r.N
		}
	}
	return c, nil
}

// CountPartners counts partners, enabled and disabled.
func (s *Store) CountPartners(ctx context.Context) (EnabledCount, error) {
	return s.countEnabled(ctx, &Partner{})
}

// CountAccounts counts accounts, enabled and disabled.
func (s *Store) CountAccounts(ctx context.Context) (EnabledCount, error) {
	return s.countEnabled(ctx, &Account{})
}

// CountActiveBans counts client addresses banned at now.
func (s *Store) CountActiveBans(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	if err := s.q(ctx).Table("bans").Where("banned_until > ?", now.UTC()).Count(&n).Error; err != nil {
		return 0, translate(err)
	}
	return n, nil
}
