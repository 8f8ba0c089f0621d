// Package notify sends Ferry's alerts by email: a finished upload, a
// partner's quota passing a threshold, a test mail. Alerts are rows of a
// durable outbox (store.Notification) written in the transaction that makes
// them true; the Notifier claims due rows, renders a MIME message, sends it
// through an SMTP relay and stores a copy in the partner's own mailbox,
// retrying with backoff until it is delivered or declared dead. Nothing
// lives only in memory: a crash or a relay outage delays mail, never loses
// it, and a resend carries the same Message-ID.
//
// Webhooks take the same road: an event (an upload, a missed expected
// delivery, ...) is a row per interested hook in the webhook outbox
// (store.WebhookDelivery), queued in the transaction of what it reports
// (events.go); the WebhookSender POSTs it signed, retries it and declares
// it dead (webhook.go); hooks.go holds the rules of creating them and of
// re-driving a dead delivery.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ferryhq/ferry/store"
)

// UploadPayload is the payload of an upload notification.
type UploadPayload struct {
	TransferID string    `json:"transfer_id"`
	Path       string    `json:"path"` // in the partner's tree
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256"`
	Username   string    `json:"username"`
	AccountID  string    `json:"account_id,omitempty"`
	Protocol   string    `json:"protocol,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Partner files (mailsec): the keys the stored file is encrypted to
	// (then Size is the ciphertext's, SHA256 the plaintext's), and the
	// check of its detached signature.
	EncryptedTo string `json:"encrypted_to,omitempty"`
	Signature   string `json:"signature,omitempty"`
	Signer      string `json:"signer,omitempty"`
}

// QuotaPayload is the payload of a quota notification.
type QuotaPayload struct {
	Threshold  int   `json:"threshold"` // percent
	UsedBytes  int64 `json:"used_bytes"`
	QuotaBytes int64 `json:"quota_bytes"`
	UsedFiles  int64 `json:"used_files"`
	QuotaFiles int64 `json:"quota_files"`
}

// TestPayload is the payload of a test notification.
type TestPayload struct {
	RequestedAt time.Time `json:"requested_at"`
}

// Errors of the Outbox methods the API maps to replies.
var (
	ErrNotFound = errors.New("notify: no such notification")
	ErrNotDead  = errors.New("notify: only a dead notification can be retried")
	ErrInvalid  = errors.New("notify: invalid request")
)

// Outbox is the writing side of notifications: the upload hook, quota
// alerts, and what the admin API offers (list, retry, test). It is safe for
// concurrent use; set the fields before first use.
type Outbox struct {
	Store *store.Store
	// Domain is the right-hand side of Message-IDs (the mail domain).
	Domain string
	// Digest, when positive, holds upload alerts for this long and folds
	// each partner's uploads of that window into one mail. 0 (default): a
	// mail per upload within a second or two; uploads that queue up
	// between two polls of the notifier or while earlier mail is being sent
	// go out together in the next mail, so a thousand files do not make a
	// thousand mails (see also UploadSpacing).
	Digest time.Duration
	// UploadSpacing, when positive and Digest is 0, is the least time
	// between two upload mails of a partner: an upload within it of the
	// partner's last mail waits for its end, so that a burst makes a mail
	// per UploadSpacing. Without it the notifier mails whatever came since
	// each of its rounds: 58 mails for 2,000 files stored in 1.2 seconds
	// (2026-12-07). `ferry serve` sets a second. The last mails are kept
	// in this process: a notifier on another node spaces nothing.
	UploadSpacing time.Duration
	// QuotaThresholds are percentages of a partner's quota (bytes or files,
	// whichever is fuller) whose crossing mails the partner and operators,
	// once per crossing. Empty: no quota alerts.
	QuotaThresholds []int
	// AllowPrivateWebhooks lets webhooks be created for loopback,
	// link-local and private addresses (FERRY_WEBHOOK_ALLOW_PRIVATE; the
	// WebhookSender checks each connection again).
	AllowPrivateWebhooks bool

	spacingMu sync.Mutex
	lastMail  map[string]time.Time // partner ID -> when its last upload mail was claimed

	wakeOnce sync.Once
	wake     chan struct{}
	hookOnce sync.Once
	hookWake chan struct{}
}

func (o *Outbox) wakeC() chan struct{} {
	o.wakeOnce.Do(func() { o.wake = make(chan struct{}, 1) })
	return o.wake
}

// uploadDue is when an upload alert of the partner, made at now, is due.
func (o *Outbox) uploadDue(partnerID string, now time.Time) time.Time {
	if o.Digest > 0 {
		return now.Add(o.Digest)
	}
	if o.UploadSpacing <= 0 {
		return now
	}
	o.spacingMu.Lock()
	defer o.spacingMu.Unlock()
	if next := o.lastMail[partnerID].Add(o.UploadSpacing); next.After(now) {
		return next
	}
	return now
}

// mailed notes that an upload mail of the partner was claimed now (a
// Notifier calls it). Entries older than the spacing are dropped once
// there are many.
func (o *Outbox) mailed(partnerID string) {
	if o.UploadSpacing <= 0 || o.Digest > 0 {
		return
	}
	now := time.Now()
	o.spacingMu.Lock()
	defer o.spacingMu.Unlock()
	if o.lastMail == nil {
		o.lastMail = map[string]time.Time{}
	}
	if len(o.lastMail) >= 1024 {
		for p, at := range o.lastMail {
			if now.Sub(at) >= o.UploadSpacing {
				delete(o.lastMail, p)
			}
		}
	}
	o.lastMail[partnerID] = now
}

// poke tells a Notifier in this process that a row is due now.
func (o *Outbox) poke() {
	select {
	case o.wakeC() <- struct{}{}:
	default:
	}
}

func (o *Outbox) domain() string {
	if o.Domain != "" {
		return o.Domain
	}
	return "ferry.localhost"
}

func (o *Outbox) insert(ctx context.Context, tx *store.Store, partnerID, kind string, payload any, due time.Time) (*store.Notification, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("notify: encode %s payload: %w", kind, err)
	}
	id := store.NewID()
	n := &store.Notification{ID: id, PartnerID: partnerID, Kind: kind, MessageID: id + "@" + o.domain(),
		Payload: string(b), NextAt: due}
	if err := tx.InsertNotification(ctx, n); err != nil {
		return nil, fmt.Errorf("notify: queue %s alert: %w", kind, err)
	}
	return n, nil
}

// OnUpload queues the alert of a finished upload, and a quota alert when
// the upload crossed a threshold, on tx: the transaction that marks the
// upload done (it has the shape of files.UploadHook). An error rolls the
// upload record back to "committing", for recovery to finish later.
func (o *Outbox) OnUpload(ctx context.Context, tx *store.Store, t *store.Transfer) error {
	if t.PartnerID == nil {
		return nil
	}
	pid := *t.PartnerID
	now := time.Now().UTC()
	p := UploadPayload{TransferID: t.ID, Path: t.Path, Size: t.FileSize, SHA256: t.SHA256, Username: t.Username,
		Protocol: t.Protocol, StartedAt: t.StartedAt.UTC(), FinishedAt: now,
		EncryptedTo: t.EncryptedTo, Signature: t.Signature, Signer: t.Signer}
	if t.FinishedAt != nil {
		p.FinishedAt = t.FinishedAt.UTC()
	}
	if t.AccountID != nil {
		p.AccountID = *t.AccountID
	}
	due := o.uploadDue(pid, now)
	if b, ok := tx.Batch(alertsKey{o}, func() store.Batcher { return &uploadAlerts{o: o} }).(*uploadAlerts); ok {
		b.add(pid, p, due)
	} else if _, err := o.insert(ctx, tx, pid, store.NotifyKindUpload, p, due); err != nil {
		return err
	}
	if err := o.Event(ctx, tx, EventUploadFinished, pid, p); err != nil {
		return err
	}
	return o.checkQuota(ctx, tx, pid, t.UsageBytes, t.UsageFiles, t.Reserved)
}

// UploadsPayload is the payload of the alert of several uploads finished
// in one transaction (an audit writer's batch); the alert of one upload
// has an UploadPayload.
type UploadsPayload struct {
	Uploads []UploadPayload `json:"uploads"`
}

// UploadsOf reads the uploads of an upload alert's payload: an
// UploadPayload, or an UploadsPayload.
func UploadsOf(payload string) ([]UploadPayload, error) {
	var p struct {
		UploadPayload
		UploadsPayload
	}
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		return nil, err
	}
	if len(p.Uploads) == 0 {
		return []UploadPayload{p.UploadPayload}, nil
	}
	return p.Uploads, nil
}

// alertsKey keys an Outbox's uploadAlerts in a transaction.
type alertsKey struct{ o *Outbox }

// uploadAlerts gathers the upload alerts of one transaction and writes
// them at its end as one outbox row per partner (a store.Batcher). A
// burst of small uploads finished a few dozen at a time by the audit
// writer wrote, folded into its mail and settled a row per upload: about
// a tenth of the CPU of each upload (2026-12-07).
type uploadAlerts struct {
	o     *Outbox
	order []string // partner IDs, in the order of their first upload
	by    map[string]*partnerUploads
}

type partnerUploads struct {
	uploads []UploadPayload
	due     time.Time // the earliest
}

func (a *uploadAlerts) add(partnerID string, p UploadPayload, due time.Time) {
	if a.by == nil {
		a.by = map[string]*partnerUploads{}
	}
	pu := a.by[partnerID]
	if pu == nil {
		pu = &partnerUploads{due: due}
		a.by[partnerID] = pu
		a.order = append(a.order, partnerID)
	}
	pu.uploads = append(pu.uploads, p)
	if due.Before(pu.due) {
		pu.due = due
	}
}

func (a *uploadAlerts) Flush(ctx context.Context, tx *store.Store) error {
	for _, pid := range a.order {
		pu := a.by[pid]
		var payload any = pu.uploads[0]
		if len(pu.uploads) > 1 {
			payload = UploadsPayload{Uploads: pu.uploads}
		}
		if _, err := a.o.insert(ctx, tx, pid, store.NotifyKindUpload, payload, pu.due); err != nil {
			return err
		}
	}
	return nil
}

// checkQuota compares the partner's usage before and after a change of
// (dBytes, dFiles), already counted in the partner row, against the
// thresholds. after is the quota and usage the change left, when the
// change's own statement returned them (an upload's reservation); nil
// reads them now.
func (o *Outbox) checkQuota(ctx context.Context, tx *store.Store, partnerID string, dBytes, dFiles int64, after *store.Usage) error {
	if len(o.QuotaThresholds) == 0 {
		return nil
	}
	if after == nil {
		u, err := tx.PartnerUsage(ctx, partnerID)
		if err != nil {
			return fmt.Errorf("notify: quota check: %w", err)
		}
		after = &u
	}
	p := *after
	if p.QuotaBytes <= 0 && p.QuotaFiles <= 0 {
		return nil
	}
	cur := max(level(p.UsedBytes, p.QuotaBytes, o.QuotaThresholds), level(p.UsedFiles, p.QuotaFiles, o.QuotaThresholds))
	prev := max(level(p.UsedBytes-dBytes, p.QuotaBytes, o.QuotaThresholds),
		level(p.UsedFiles-dFiles, p.QuotaFiles, o.QuotaThresholds))
	// Usage was at prev just before this upload: thresholds above it were
	// left since their alert (files deleted) and may alert again.
	if err := tx.LowerQuotaAlertLevel(ctx, partnerID, prev); err != nil {
		return fmt.Errorf("notify: quota check: %w", err)
	}
	if cur == 0 {
		return nil
	}
	raised, err := tx.RaiseQuotaAlertLevel(ctx, partnerID, cur)
	if err != nil {
		return fmt.Errorf("notify: quota check: %w", err)
	}
	if !raised {
		return nil
	}
	_, err = o.insert(ctx, tx, partnerID, store.NotifyKindQuota, QuotaPayload{Threshold: cur,
		UsedBytes: p.UsedBytes, QuotaBytes: p.QuotaBytes, UsedFiles: p.UsedFiles, QuotaFiles: p.QuotaFiles}, time.Now())
	return err
}

// level is the highest threshold (percent) that used has reached of quota.
func level(used, quota int64, thresholds []int) int {
	if quota <= 0 || used <= 0 {
		return 0
	}
	best := 0
	for _, t := range thresholds {
		// used/quota >= t/100, in integers.
		if used*100 >= int64(t)*quota && t > best {
			best = t
		}
	}
	return best
}

// Filter selects notifications for List.
type Filter struct {
	PartnerID string
	Status    string // pending, sending, sent, dead, blocked; "" for all
	Kind      string // upload, quota, test; "" for all
	Before    string // cursor: the last ID of the previous page
	Limit     int    // 1-500; 0 means 50
}

// List returns notifications, newest first, and the cursor of the next
// page ("" on the last).
func (o *Outbox) List(ctx context.Context, f Filter) ([]store.Notification, string, error) {
	if f.Status != "" && !slices.Contains([]string{store.NotifyPending, store.NotifySending, store.NotifySent, store.NotifyDead, store.NotifyBlocked}, f.Status) {
		return nil, "", fmt.Errorf("%w: status %q is not one of pending, sending, sent, dead, blocked", ErrInvalid, f.Status)
	}
	if f.Kind != "" && !slices.Contains(templateKinds, f.Kind) {
		return nil, "", fmt.Errorf("%w: kind %q is not one of upload, quota, test, expectation", ErrInvalid, f.Kind)
	}
	if f.Limit < 0 || f.Limit > 500 {
		return nil, "", fmt.Errorf("%w: limit must be 1-500", ErrInvalid)
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	rows, err := o.Store.ListNotifications(ctx, store.NotificationFilter{PartnerID: f.PartnerID, Status: f.Status,
		Kind: f.Kind, Before: f.Before, Limit: f.Limit + 1})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		next = rows[len(rows)-1].ID
	}
	return rows, next, nil
}

// Get returns one notification.
func (o *Outbox) Get(ctx context.Context, id string) (*store.Notification, error) {
	n, err := o.Store.NotificationByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return n, err
}

// Retry sends a dead notification again (with the uploads folded into the
// same digest mail, and the same Message-ID). ErrNotDead for any other
// status.
func (o *Outbox) Retry(ctx context.Context, id string) (*store.Notification, error) {
	n, err := o.Store.RetryNotification(ctx, id)
	if err != nil {
		return nil, retryError(err, id)
	}
	o.poke()
	return n, nil
}

// retryError is the error of a re-drive of id (a notification or a
// webhook delivery) the store refused: ErrNotFound, ErrNotDead for a row
// that is not dead, or the store's own error.
func retryError(err error, id string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: %s", ErrNotDead, id)
	}
	return err
}

// SendTest queues a test mail to the partner's recipients, due now. It
// returns store.ErrNotFound for an unknown partner.
func (o *Outbox) SendTest(ctx context.Context, partnerID string) (*store.Notification, error) {
	if _, err := o.Store.PartnerByID(ctx, partnerID); err != nil {
		return nil, err
	}
	n, err := o.insert(ctx, o.Store, partnerID, store.NotifyKindTest, TestPayload{RequestedAt: time.Now().UTC()}, time.Now())
	if err != nil {
		return nil, err
	}
	o.poke()
	return n, nil
}

// OutboundPayload is the payload of a message a partner sent outside Ferry:
// the envelope and the message as written, relayed as is.
type OutboundPayload struct {
	From  string   `json:"from"`
	To    []string `json:"to"`
	Raw   []byte   `json:"raw"` // base64 in JSON
	Bytes int      `json:"bytes"`
}

// QueueMail queues a message a partner sends to outside recipients (the
// domains of FERRY_MAIL_OUTBOUND_DOMAINS), due now: the notifier relays it
// through FERRY_SMTP_RELAY with the outbox's retries and dead state, and
// the notifications API shows it (kind "mail"). It is mailbox.Outbound.
func (o *Outbox) QueueMail(ctx context.Context, partnerID, from string, rcpts []string, raw []byte) error {
	if _, err := o.insert(ctx, o.Store, partnerID, store.NotifyKindMail,
		OutboundPayload{From: from, To: rcpts, Raw: raw, Bytes: len(raw)}, time.Now()); err != nil {
		return err
	}
	o.poke()
	return nil
}
