package store

import (
	"context"
	"time"
)

// AdminAudit is one mutating call of the admin API: who made it (token),
// what it did (action, target, HTTP status), when, and from where.
type AdminAudit struct {
	ID         string
	TokenID    string // "env" for FERRY_ADMIN_TOKEN
	TokenName  string
	Role       string
	Method     string
	Path       string
	Action     string // e.g. partner.create
	Target     string // ID of the resource acted on, when known
	Status     int
	RemoteAddr string
	Detail     string // the request's fields, secrets removed (JSON)
	CreatedAt  time.Time
}

// TableName keeps gorm on the migration's table name.
func (AdminAudit) TableName() string { return "admin_audit" }

// RecordAdminAudit appends a to the admin audit log.
func (s *Store) RecordAdminAudit(ctx context.Context, a *AdminAudit) error {
	if a.ID == "" {
		a.ID = NewID()
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now().UTC()
	}
	return translate(s.q(ctx).Create(a).Error)
}

// AdminAuditFilter selects admin audit rows, newest first.
type AdminAuditFilter struct {
	TokenID string
	Action  string
	Target  string
	Since   time.Time
	Until   time.Time
	Before  string // cursor: the ID of the last row of the previous page
	Limit   int
}

// ListAdminAudit returns admin audit rows matching f, newest first.
func (s *Store) ListAdminAudit(ctx context.Context, f AdminAuditFilter) ([]AdminAudit, error) {
	q := s.q(ctx)
	if f.TokenID != "" {
		q = q.Where("token_id = ?", f.TokenID)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Target != "" {
		q = q.Where("target = ?", f.Target)
	}
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", f.Until.UTC())
	}
	return newestFirst[AdminAudit](q, f.Before, f.Limit)
}
