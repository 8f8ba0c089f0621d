package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/ferryhq/ferry/migrations"
)

// Notification is one row of the outbox: an alert waiting for, or done
// with, its mail. The notify package owns its meaning; the store only keeps
// it and hands it out to one worker at a time.
type Notification struct {
	ID         string     `json:"id"`
	PartnerID  string     `json:"partner_id"`
	Kind       string     `json:"kind"`   // see the NotifyKind constants
	Status     string     `json:"status"` // see the Notify status constants
	BatchID    string     `json:"batch_id"`
	MessageID  string     `json:"message_id"` // without angle brackets
	Payload    string     `json:"payload"`    // JSON, by kind
	Attempts   int        `json:"attempts"`
	NextAt     time.Time  `json:"next_attempt_at" gorm:"column:next_attempt_at"`
	Token      string     `json:"-" gorm:"column:claim_token"`
	LastError  string     `json:"last_error"`
	Recipients string     `json:"recipients"` // addresses the relay accepted, comma-separated
	MailboxAt  *time.Time `json:"mailbox_at"` // when the copy reached the partner mailbox
	RelayedAt  *time.Time `json:"relayed_at"` // when the relay accepted the mail
	CreatedAt  time.Time  `json:"created_at"`
	SentAt     *time.Time `json:"sent_at"`
	// ClaimedOnce: the row has been claimed (or folded into a claimed
	// batch) at least once, so its batch's content is fixed for good.
	ClaimedOnce bool `json:"-" gorm:"column:claimed_once"`
}

// Notification kinds.
const (
	NotifyKindUpload = "upload"
	NotifyKindQuota  = "quota"
	NotifyKindTest   = "test"
	// NotifyKindExpectation: an expected delivery was missed, or came
	// after a miss.
	NotifyKindExpectation = "expectation"
	NotifyKindMail        = "mail" // a message a partner sent outside Ferry (portal, SMTP submission)
)

// Notification statuses.
const (
	NotifyPending = "pending"
	NotifySending = "sending"
	NotifySent    = "sent"
	NotifyDead    = "dead"
	// NotifyBlocked: the partner requires encrypted alerts and a recipient
	// has no usable key; the notifier checks again at next_attempt_at, and
	// at once when a key is added (UnblockNotifications). Nothing is sent
	// meanwhile.
	NotifyBlocked = "blocked"
)

// dbTime is the store's form of outbox times: UTC at microsecond precision,
// which PostgreSQL keeps exactly, so both databases compare alike.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// InsertNotification adds n to the outbox as pending. ID, BatchID,
// CreatedAt and NextAt (now) are filled in when empty; MessageID must be
// set. Call it on the transaction that makes the alert true.
func (s *Store) InsertNotification(ctx context.Context, n *Notification) error {
	now := dbTime(time.Now())
	if n.ID == "" {
		n.ID = NewID()
	}
	if n.BatchID == "" {
		n.BatchID = n.ID
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = now
	}
	if n.NextAt.IsZero() {
		n.NextAt = now
	}
	n.CreatedAt, n.NextAt = dbTime(n.CreatedAt), dbTime(n.NextAt)
	n.Status = NotifyPending
	// A plain INSERT, not gorm's reflection over the struct: every upload
	// with an alert writes one, in the audit writer's batch.
	_, err := s.exec(ctx, `INSERT INTO notifications (`+notificationColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, n.PartnerID, n.Kind, n.Status, n.BatchID, n.MessageID, n.Payload, n.Attempts, n.NextAt, n.Token,
		n.LastError, n.Recipients, n.MailboxAt, n.RelayedAt, n.CreatedAt, n.SentAt, n.ClaimedOnce)
	return translate(err)
}

// notificationColumns are Notification's stored columns, in the order
// InsertNotification binds them.
const notificationColumns = `id, partner_id, kind, status, batch_id, message_id, payload, attempts,
	next_attempt_at, claim_token, last_error, recipients, mailbox_at, relayed_at, created_at, sent_at, claimed_once`

// NotificationFilter selects outbox rows, newest first.
type NotificationFilter struct {
	PartnerID string
	Status    string
	Kind      string
	BatchID   string
	Before    string // cursor: the ID of the last row of the previous page
	Limit     int
}

// ListNotifications returns outbox rows matching f, newest first.
func (s *Store) ListNotifications(ctx context.Context, f NotificationFilter) ([]Notification, error) {
	q := s.q(ctx)
	if f.PartnerID != "" {
		q = q.Where("partner_id = ?", f.PartnerID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if f.BatchID != "" {
		q = q.Where("batch_id = ?", f.BatchID)
	}
	return newestFirst[Notification](q, f.Before, f.Limit)
}

// NotificationByID returns one outbox row.
func (s *Store) NotificationByID(ctx context.Context, id string) (*Notification, error) {
	var n Notification
	if err := s.q(ctx).Where("id = ?", id).Take(&n).Error; err != nil {
		return nil, translate(err)
	}
	return &n, nil
}

// NotificationBatch returns the rows one mail carries: the batch row
// itself and the uploads folded into it, oldest first.
func (s *Store) NotificationBatch(ctx context.Context, batchID string) ([]Notification, error) {
	// A prepared statement and a plain scan: a burst's mail reads hundreds
	// of rows.
	var out []Notification
	err := s.queryRows(ctx, `SELECT id, partner_id, kind, status, batch_id, message_id, payload, attempts,
		next_attempt_at, claim_token, last_error, recipients, mailbox_at, relayed_at, created_at, sent_at, claimed_once
		FROM notifications WHERE batch_id = ? ORDER BY created_at, id`, []any{batchID}, func(r *sql.Rows) error {
		var n Notification
		if err := r.Scan(&n.ID, &n.PartnerID, &n.Kind, &n.Status, &n.BatchID, &n.MessageID, &n.Payload, &n.Attempts,
			&n.NextAt, &n.Token, &n.LastError, &n.Recipients, &n.MailboxAt, &n.RelayedAt, &n.CreatedAt, &n.SentAt,
			&n.ClaimedOnce); err != nil {
			return err
		}
		out = append(out, n)
		return nil
	})
	if err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// ClaimOptions tune ClaimNotifications.
type ClaimOptions struct {
	Now   time.Time     // the claimer's clock
	Lease time.Duration // how long the claim holds before another worker may take the rows
	Limit int           // batches per claim
	// Digest, when positive, folds into each newly claimed upload the
	// partner's other pending uploads created within Digest of it. At 0,
	// the partner's other uploads already due (queued up in a burst while
	// earlier mail was being sent) are folded in.
	Digest    time.Duration
	DigestMax int // rows per digest mail; 0: 1000
	// DigestBytes bounds the payloads of a digest's rows together (0: 1
	// MiB): a row of uploads finished together lists many (a few hundred
	// at most), and the notifier builds the mail from all of its rows in
	// memory. A thousand rows of one upload each come to about 400 KB.
	DigestBytes int

	betweenHeads func() // tests: runs after a batch is claimed, before the next (see export_test.go)
	betweenFolds func() // tests: runs before each transaction of a fold after the claim's
}

// ClaimNotifications hands out due batches to one worker: rows pending
// whose time has come, and rows whose previous claimer's lease has run out
// (a crashed or stuck node). Each returned row is the head of its batch,
// marked sending with a fresh claim token and attempts counted; settle it
// with SettleNotification and that token.
//
// On PostgreSQL the candidates are locked FOR UPDATE SKIP LOCKED, so the
// workers of several nodes claim disjoint rows without waiting on each
// other. On SQLite transactions are IMMEDIATE (one writer at a time), and
// the UPDATE re-checks the claim condition, so a row is never claimed twice.
// A digest's uploads beyond the first foldChunk are folded into it after
// the claim's transaction, before the call returns.
func (s *Store) ClaimNotifications(ctx context.Context, o ClaimOptions) ([]Notification, error) {
	if o.Limit <= 0 {
		o.Limit = 50
	}
	if o.DigestMax <= 0 {
		o.DigestMax = 1000
	}
	if o.DigestBytes <= 0 {
		o.DigestBytes = 1 << 20
	}
	now := dbTime(o.Now)
	if o.Now.IsZero() {
		now = dbTime(time.Now())
	}
	leaseEnd := dbTime(now.Add(o.Lease))
	token := NewID()
	active := []string{NotifyPending, NotifySending, NotifyBlocked}
	var out []Notification
	var later []laterFold
	err := s.Tx(ctx, func(tx *Store) error {
		q := tx.q(ctx).Model(&Notification{}).
			Where("status IN ? AND next_attempt_at <= ? AND batch_id = id", active, now).
			Order("next_attempt_at, id").Limit(o.Limit)
		q = tx.lockSkip(q)
		var ids []string
		if err := q.Pluck("id", &ids).Error; err != nil {
			return translate(err)
		}
		if len(ids) == 0 {
			return nil
		}
		claim := map[string]any{"status": NotifySending, "claim_token": token, "next_attempt_at": leaseEnd,
			"attempts": gorm.Expr("attempts + 1")}
		// Rows folded into a batch earlier follow it under the new claim.
		follow := func(heads []string) error {
			return translate(tx.q(ctx).Model(&Notification{}).Where("batch_id IN ? AND id <> batch_id", heads).
				Updates(map[string]any{"status": NotifySending, "claim_token": token, "next_attempt_at": leaseEnd}).Error)
		}
		// Claim one head at a time: an upload folded into an earlier head
		// of this round is no head of its own any more (after an outage, or
		// in a burst, every upload is due at once).
		for _, id := range ids {
			if len(out) > 0 {
				if o.betweenHeads != nil {
					o.betweenHeads()
				}
				if tx.othersWait() {
					// On SQLite every transaction waits for this one, an
					// upload's reservation before its 226 among them: the
					// rest is claimed in the next round.
					break
				}
			}
			res := tx.q(ctx).Model(&Notification{}).
				Where("id = ? AND status IN ? AND next_attempt_at <= ? AND batch_id = id", id, active, now).
				Updates(claim)
			if res.Error != nil {
				return translate(res.Error)
			}
			if res.RowsAffected == 0 {
				continue
			}
			// Is this the batch's first claim ever? attempts cannot tell:
			// RetryNotification resets them.
			first := tx.q(ctx).Model(&Notification{}).Where("id = ? AND claimed_once = ?", id, false).
				Update("claimed_once", true)
			if first.Error != nil {
				return translate(first.Error)
			}
			var n Notification
			if err := tx.q(ctx).Where("id = ?", id).Take(&n).Error; err != nil {
				return translate(err)
			}
			out = append(out, n)
			if err := follow([]string{id}); err != nil {
				return err
			}
			// Fold only on a batch's first claim ever: a resend after a
			// crash, or after an operator's retry of a dead batch, must
			// carry the same content (under the same Message-ID) as the
			// first try.
			if n.Kind != NotifyKindUpload || first.RowsAffected == 0 {
				continue
			}
			// Only uploads never claimed themselves: a retried dead upload
			// keeps its own mail.
			fq := tx.q(ctx).Model(&Notification{}).
				Where("partner_id = ? AND kind = ? AND status = ? AND batch_id = id AND attempts = 0 AND claimed_once = ? AND id <> ?",
					n.PartnerID, NotifyKindUpload, NotifyPending, false, n.ID).
				Order("created_at, id").Limit(o.DigestMax - 1)
			if o.Digest > 0 {
				fq = fq.Where("created_at < ?", dbTime(n.CreatedAt.Add(o.Digest)))
			} else {
				// No window: only what has queued up by now (a burst that
				// arrived while earlier mail was being sent).
				fq = fq.Where("next_attempt_at <= ?", now)
			}
			fq = tx.lockSkip(fq)
			var cands []struct {
				ID    string
				Bytes int64
			}
			if err := fq.Select("id, length(payload) AS bytes").Scan(&cands).Error; err != nil {
				return translate(err)
			}
			// The oldest first, as long as the payloads fit DigestBytes.
			var fold []string
			room := int64(o.DigestBytes - len(n.Payload))
			for _, c := range cands {
				if room -= c.Bytes; room < 0 {
					break
				}
				fold = append(fold, c.ID)
			}
			if len(fold) == 0 {
				continue
			}
			// The first rows now, the rest after this transaction (see
			// foldChunk).
			k := min(len(fold), foldChunk)
			if err := tx.foldInto(ctx, &n, token, leaseEnd, fold[:k]); err != nil {
				return err
			}
			if k < len(fold) {
				later = append(later, laterFold{head: n, ids: fold[k:]})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range later {
		for ids := f.ids; len(ids) > 0; {
			if o.betweenFolds != nil {
				o.betweenFolds()
			}
			k := min(len(ids), foldChunk)
			if err := s.Tx(ctx, func(tx *Store) error { return tx.foldInto(ctx, &f.head, token, leaseEnd, ids[:k]) }); err != nil {
				// The batches are claimed: they go out when their lease ends,
				// with what was folded (the rest gets mails of its own).
				return nil, err
			}
			ids = ids[k:]
		}
	}
	return out, nil
}

// foldChunk is the most uploads a claim folds into a digest in one
// transaction. A digest of a thousand uploads folded in the claim's own
// transaction held SQLite's writer for 4-15 ms, once a second in a burst,
// and an upload's reservation that came meanwhile waited for all of it
// (up to 14 ms, 2026-12-07; up to 6 since); the rest of the fold now takes
// turns with them. A crash in between sends the digest with what it holds by then:
// its first send, so its content stays what every retry sends.
const foldChunk = 128

// laterFold is the rest of a digest's fold, after the claim's transaction.
type laterFold struct {
	head Notification
	ids  []string
}

// foldInto folds the pending uploads ids into head's batch, under its
// claim. A row claimed or folded elsewhere since it was chosen (another
// node's claim, between the transactions of a fold) is left as it is.
func (s *Store) foldInto(ctx context.Context, head *Notification, token string, leaseEnd time.Time, ids []string) error {
	return translate(s.q(ctx).Model(&Notification{}).
		Where("id IN ? AND status = ? AND batch_id = id", ids, NotifyPending).
		Updates(map[string]any{"batch_id": head.ID, "status": NotifySending, "claim_token": token,
			"next_attempt_at": leaseEnd, "attempts": head.Attempts, "claimed_once": true}).Error)
}

// lockSkip adds FOR UPDATE SKIP LOCKED on PostgreSQL.
func (s *Store) lockSkip(q *gorm.DB) *gorm.DB {
	if s.dialect == migrations.Postgres {
		return q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
	}
	return q
}

// ExtendNotificationLease pushes the end of a claim's lease (a slow relay).
func (s *Store) ExtendNotificationLease(ctx context.Context, batchID, token string, until time.Time) error {
	return s.settle(ctx, batchID, token, map[string]any{"next_attempt_at": dbTime(until)})
}

// Settlement is the outcome of one attempt at a batch.
type Settlement struct {
	Status     string    // NotifySent, NotifyPending (retry at NextAt), NotifyBlocked (check at NextAt) or NotifyDead
	NextAt     time.Time // for NotifyPending and NotifyBlocked
	LastError  string
	Recipients []string   // accepted by the relay
	RelayedAt  *time.Time // when the relay accepted the mail
	// MailboxAt is when the attempt's copy reached the partner mailbox,
	// recorded so that a retry does not store it twice (nil: no copy).
	MailboxAt *time.Time
}

// SettleNotification ends a claim. It returns ErrNotFound when the claim
// was lost (the lease ran out and another worker holds the batch now).
func (s *Store) SettleNotification(ctx context.Context, batchID, token string, r Settlement) error {
	now := dbTime(time.Now())
	up := map[string]any{"status": r.Status, "last_error": r.LastError, "claim_token": ""}
	switch r.Status {
	case NotifySent:
		up["sent_at"] = now
		up["next_attempt_at"] = now
	case NotifyPending:
		up["next_attempt_at"] = dbTime(r.NextAt)
	case NotifyBlocked:
		// Waiting for a key is no failed attempt: it never turns dead.
		up["next_attempt_at"] = dbTime(r.NextAt)
		up["attempts"] = 0
	case NotifyDead:
		up["next_attempt_at"] = now
	}
	if r.Recipients != nil {
		up["recipients"] = strings.Join(r.Recipients, ", ")
	}
	if r.RelayedAt != nil {
		up["relayed_at"] = dbTime(*r.RelayedAt)
	}
	if r.MailboxAt != nil {
		up["mailbox_at"] = dbTime(*r.MailboxAt)
	}
	return s.settle(ctx, batchID, token, up)
}

func (s *Store) settle(ctx context.Context, batchID, token string, up map[string]any) error {
	return s.write(ctx, func(tx *Store) error {
		res := tx.q(ctx).Model(&Notification{}).Where("batch_id = ? AND claim_token = ?", batchID, token).Updates(up)
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// RetryNotification sends a dead notification's mail again: its batch
// goes back to pending, due now, with its attempts reset. It returns
// ErrNotFound for an unknown id and ErrConflict when the batch is not dead.
func (s *Store) RetryNotification(ctx context.Context, id string) (*Notification, error) {
	var out *Notification
	err := s.Tx(ctx, func(tx *Store) error {
		n, err := tx.NotificationByID(ctx, id)
		if err != nil {
			return err
		}
		res := tx.q(ctx).Model(&Notification{}).Where("batch_id = ? AND status = ?", n.BatchID, NotifyDead).
			Updates(map[string]any{"status": NotifyPending, "attempts": 0, "next_attempt_at": dbTime(time.Now()),
				"last_error": "", "claim_token": ""})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrConflict
		}
		out, err = tx.NotificationByID(ctx, id)
		return err
	})
	return out, err
}

// HasMailMessageID reports whether a partner's mailbox already holds a
// message with this Message-ID (without angle brackets).
func (s *Store) HasMailMessageID(ctx context.Context, partnerID, messageID string) (bool, error) {
	var n int64
	err := s.q(ctx).Model(&MailMessage{}).Where("partner_id = ? AND message_id = ?", partnerID, messageID).
		Count(&n).Error
	return n > 0, translate(err)
}

// Subscriber is an internal address that gets a partner's alerts besides
// the partner's contacts.
type Subscriber struct {
	PartnerID string    `json:"partner_id" gorm:"primaryKey"`
	Email     string    `json:"email" gorm:"primaryKey"`
	CreatedAt time.Time `json:"created_at"`
}

// TableName keeps gorm on the migration's table name.
func (Subscriber) TableName() string { return "partner_subscribers" }

// Subscribers returns a partner's internal subscribers in order.
func (s *Store) Subscribers(ctx context.Context, partnerID string) ([]Subscriber, error) {
	var out []Subscriber
	if err := s.q(ctx).Where("partner_id = ?", partnerID).Order("email").Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// AddSubscriber adds an internal subscriber (ErrConflict if present).
func (s *Store) AddSubscriber(ctx context.Context, partnerID, email string) error {
	return translate(s.q(ctx).Create(&Subscriber{PartnerID: partnerID, Email: email,
		CreatedAt: dbTime(time.Now())}).Error)
}

// RemoveSubscriber removes an internal subscriber (ErrNotFound if absent).
func (s *Store) RemoveSubscriber(ctx context.Context, partnerID, email string) error {
	res := s.q(ctx).Where("partner_id = ? AND email = ?", partnerID, email).Delete(&Subscriber{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// quotaAlertLevel is the highest quota threshold a partner was alerted about.
type quotaAlertLevel struct {
	PartnerID string `gorm:"primaryKey"`
	Level     int
	UpdatedAt time.Time
}

func (quotaAlertLevel) TableName() string { return "quota_alert_levels" }

// LowerQuotaAlertLevel re-arms thresholds above level: usage fell below
// them since they were alerted, so crossing them again alerts again.
func (s *Store) LowerQuotaAlertLevel(ctx context.Context, partnerID string, level int) error {
	return translate(s.q(ctx).Model(&quotaAlertLevel{}).Where("partner_id = ? AND level > ?", partnerID, level).
		Updates(map[string]any{"level": level, "updated_at": dbTime(time.Now())}).Error)
}

// RaiseQuotaAlertLevel records level as alerted and reports whether it was
// above the recorded one, i.e. whether this caller must send the alert.
// It is one atomic statement, so concurrent uploads alert once.
func (s *Store) RaiseQuotaAlertLevel(ctx context.Context, partnerID string, level int) (bool, error) {
	now := dbTime(time.Now())
	res := s.q(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "partner_id"}},
		DoUpdates: clause.Assignments(map[string]any{"level": level, "updated_at": now}),
		Where: clause.Where{Exprs: []clause.Expression{
			clause.Expr{SQL: "quota_alert_levels.level < ?", Vars: []any{level}},
		}},
	}).Create(&quotaAlertLevel{PartnerID: partnerID, Level: level, UpdatedAt: now})
	if res.Error != nil {
		return false, translate(res.Error)
	}
	return res.RowsAffected > 0, nil
}
