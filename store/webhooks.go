package store

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Webhook is an HTTP endpoint told of events. The notify package owns the
// meaning of events and deliveries; the store keeps them.
type Webhook struct {
	ID        string
	URL       string `gorm:"column:url"`
	Events    string // comma-separated event names
	PartnerID *string
	Secret    string
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EventList returns the hook's events.
func (w *Webhook) EventList() []string {
	var out []string
	for _, e := range strings.Split(w.Events, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// Wants reports whether the hook takes event of partnerID ("" for events of
// no partner, which only hooks without a partner filter get).
func (w *Webhook) Wants(event, partnerID string) bool {
	if !w.Enabled {
		return false
	}
	if w.PartnerID != nil && *w.PartnerID != partnerID {
		return false
	}
	for _, e := range w.EventList() {
		if e == event {
			return true
		}
	}
	return false
}

// WebhookDelivery is one row of the webhook outbox: an event for one hook.
type WebhookDelivery struct {
	ID           string
	WebhookID    string
	EventID      string
	Event        string
	PartnerID    string
	Payload      string // the JSON body, fixed at insert: a retry sends the same bytes
	Status       string // the Notify status constants
	Attempts     int
	NextAt       time.Time `gorm:"column:next_attempt_at"`
	Token        string    `gorm:"column:claim_token"`
	LastError    string
	ResponseCode int
	CreatedAt    time.Time
	SentAt       *time.Time
}

// CreateWebhook stores a new hook; ID and times are filled in.
func (s *Store) CreateWebhook(ctx context.Context, w *Webhook) error {
	now := dbTime(time.Now())
	if w.ID == "" {
		w.ID = NewID()
	}
	w.CreatedAt, w.UpdatedAt = now, now
	s.hooksChanged()
	return translate(s.q(ctx).Select("*").Create(w).Error)
}

// UpdateWebhook saves every field of w.
func (s *Store) UpdateWebhook(ctx context.Context, w *Webhook) error {
	w.UpdatedAt = dbTime(time.Now())
	s.hooksChanged()
	res := s.q(ctx).Model(&Webhook{}).Where("id = ?", w.ID).Select("*").Omit("id", "created_at").Updates(w)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteWebhook deletes a hook and its deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	s.hooksChanged()
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.q(ctx).Where("webhook_id = ?", id).Delete(&WebhookDelivery{}).Error; err != nil {
			return translate(err)
		}
		res := tx.q(ctx).Where("id = ?", id).Delete(&Webhook{})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// WebhookByID returns one hook.
func (s *Store) WebhookByID(ctx context.Context, id string) (*Webhook, error) {
	var w Webhook
	if err := s.q(ctx).Where("id = ?", id).Take(&w).Error; err != nil {
		return nil, translate(err)
	}
	return &w, nil
}

// ListWebhooks returns every hook, oldest first. In a transaction the
// hooks are read once (until the transaction changes one).
func (s *Store) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	if s.memo != nil && s.memo.hooksRead {
		return slices.Clone(s.memo.hooks), nil
	}
	// A prepared statement: the audit writer's batch of upload finishes
	// reads the hooks in every transaction (for the events' deliveries).
	var out []Webhook
	err := s.queryRows(ctx, `SELECT id, url, events, partner_id, secret, enabled, created_at, updated_at
		FROM webhooks ORDER BY id`, nil, func(r *sql.Rows) error {
		var w Webhook
		if err := r.Scan(&w.ID, &w.URL, &w.Events, &w.PartnerID, &w.Secret, &w.Enabled, &w.CreatedAt, &w.UpdatedAt); err != nil {
			return err
		}
		out = append(out, w)
		return nil
	})
	if err != nil {
		return nil, translate(err)
	}
	if s.memo != nil {
		s.memo.hooks, s.memo.hooksRead = slices.Clone(out), true
	}
	return out, nil
}

// hooksChanged drops what the transaction read of the hooks.
func (s *Store) hooksChanged() {
	if s.memo != nil {
		s.memo.hooks, s.memo.hooksRead = nil, false
	}
}

// InsertWebhookDelivery adds d to the webhook outbox as pending, due now.
// Call it on the transaction that makes the event true.
func (s *Store) InsertWebhookDelivery(ctx context.Context, d *WebhookDelivery) error {
	now := dbTime(time.Now())
	if d.ID == "" {
		d.ID = NewID()
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	d.CreatedAt, d.NextAt = dbTime(d.CreatedAt), now
	d.Status = NotifyPending
	return translate(s.q(ctx).Create(d).Error)
}

// WebhookDeliveryFilter selects deliveries, newest first.
type WebhookDeliveryFilter struct {
	WebhookID string
	Status    string
	Before    string // cursor: the ID of the last row of the previous page
	Limit     int
}

// ListWebhookDeliveries returns deliveries matching f, newest first.
func (s *Store) ListWebhookDeliveries(ctx context.Context, f WebhookDeliveryFilter) ([]WebhookDelivery, error) {
	q := s.q(ctx)
	if f.WebhookID != "" {
		q = q.Where("webhook_id = ?", f.WebhookID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	return newestFirst[WebhookDelivery](q, f.Before, f.Limit)
}

// WebhookDeliveryByID returns one delivery.
func (s *Store) WebhookDeliveryByID(ctx context.Context, id string) (*WebhookDelivery, error) {
	var d WebhookDelivery
	if err := s.q(ctx).Where("id = ?", id).Take(&d).Error; err != nil {
		return nil, translate(err)
	}
	return &d, nil
}

// ClaimWebhookDeliveries hands out up to limit due deliveries to one
// worker, as ClaimNotifications does for mail: pending rows whose time has
// come and sending rows whose lease ran out, marked sending with a fresh
// claim token until now+lease, attempts counted.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]WebhookDelivery, error) {
	if limit <= 0 {
		limit = 50
	}
	now = dbTime(now)
	leaseEnd := dbTime(now.Add(lease))
	token := NewID()
	active := []string{NotifyPending, NotifySending}
	var out []WebhookDelivery
	err := s.Tx(ctx, func(tx *Store) error {
		q := tx.q(ctx).Model(&WebhookDelivery{}).Where("status IN ? AND next_attempt_at <= ?", active, now).
			Order("next_attempt_at, id").Limit(limit)
		var ids []string
		if err := tx.lockSkip(q).Pluck("id", &ids).Error; err != nil {
			return translate(err)
		}
		if len(ids) == 0 {
			return nil
		}
		// The WHERE repeats the claim condition: on SQLite, where nothing
		// is locked, a row another claimer took meanwhile is left alone.
		res := tx.q(ctx).Model(&WebhookDelivery{}).
			Where("id IN ? AND status IN ? AND next_attempt_at <= ?", ids, active, now).
			Updates(map[string]any{"status": NotifySending, "claim_token": token, "next_attempt_at": leaseEnd,
				"attempts": gorm.Expr("attempts + 1")})
		if res.Error != nil {
			return translate(res.Error)
		}
		return translate(tx.q(ctx).Where("claim_token = ?", token).Order("id").Find(&out).Error)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SettleWebhookDelivery ends a claim: status sent, pending (again at
// next) or dead. ErrNotFound when the claim was lost.
func (s *Store) SettleWebhookDelivery(ctx context.Context, id, token, status string, next time.Time, lastError string, code int) error {
	now := dbTime(time.Now())
	up := map[string]any{"status": status, "last_error": lastError, "claim_token": "", "response_code": code,
		"next_attempt_at": now}
	switch status {
	case NotifySent:
		up["sent_at"] = now
	case NotifyPending:
		up["next_attempt_at"] = dbTime(next)
	}
	return s.write(ctx, func(tx *Store) error {
		res := tx.q(ctx).Model(&WebhookDelivery{}).Where("id = ? AND claim_token = ?", id, token).Updates(up)
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// RetryWebhookDelivery makes a dead delivery pending again, due now, with
// its attempts reset. ErrNotFound for an unknown id, ErrConflict when it is
// not dead.
func (s *Store) RetryWebhookDelivery(ctx context.Context, id string) (*WebhookDelivery, error) {
	var out *WebhookDelivery
	err := s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.WebhookDeliveryByID(ctx, id); err != nil {
			return err
		}
		res := tx.q(ctx).Model(&WebhookDelivery{}).Where("id = ? AND status = ?", id, NotifyDead).
			Updates(map[string]any{"status": NotifyPending, "attempts": 0, "next_attempt_at": dbTime(time.Now()),
				"last_error": "", "claim_token": ""})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrConflict
		}
		var err error
		out, err = tx.WebhookDeliveryByID(ctx, id)
		return err
	})
	return out, err
}

// CountWebhookDeliveries returns how many deliveries have each of
// statuses (a status without rows is missing from the map): /metrics'
// webhook queue depth and dead deliveries.
func (s *Store) CountWebhookDeliveries(ctx context.Context, statuses ...string) (map[string]int64, error) {
	return s.countByStatus(ctx, &WebhookDelivery{}, statuses)
}
