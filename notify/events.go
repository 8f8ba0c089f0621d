package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ferryhq/ferry/store"
)

// The webhook events: what they carry and how they are queued, in the
// transaction of what they report where there is one.

// Webhook events.
const (
	EventUploadFinished    = "upload.finished"
	EventDownloadFinished  = "download.finished"
	EventFileDeleted       = "file.deleted"
	EventExpectationMissed = "expectation.missed"
	EventExpectationLate   = "expectation.late"
	EventMailReceived      = "mail.received"
	EventLoginFailedBan    = "login.failed_ban"
)

// Events lists every webhook event, sorted.
func Events() []string {
	return []string{EventDownloadFinished, EventExpectationLate, EventExpectationMissed, EventFileDeleted,
		EventLoginFailedBan, EventMailReceived, EventUploadFinished}
}

// WebhookEvent is the JSON body of a webhook request.
type WebhookEvent struct {
	ID        string          `json:"id"` // unique per event, the same on every retry: the receiver's idempotency key
	Event     string          `json:"event"`
	CreatedAt time.Time       `json:"created_at"`
	Partner   *EventPartner   `json:"partner,omitempty"`
	Data      json.RawMessage `json:"data"`
}

// EventPartner names the partner an event is about.
type EventPartner struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// Event queues event for every enabled webhook that wants it, on tx: the
// transaction that makes the event true, so the deliveries commit with it
// or not at all. partnerID is "" for events of no partner. data is the
// event's content (the alert's payload).
func (o *Outbox) Event(ctx context.Context, tx *store.Store, event, partnerID string, data any) error {
	hooks, err := tx.ListWebhooks(ctx)
	if err != nil {
		return fmt.Errorf("notify: webhooks for %s: %w", event, err)
	}
	return o.queueEvent(ctx, tx, hooks, nil, event, partnerID, data)
}

// queueEvent queues event for those of hooks that want it. partners caches
// the partners named by the events of one transaction; nil: none.
func (o *Outbox) queueEvent(ctx context.Context, tx *store.Store, hooks []store.Webhook, partners map[string]*EventPartner,
	event, partnerID string, data any) error {
	hooks = slices.DeleteFunc(slices.Clone(hooks), func(w store.Webhook) bool { return !w.Wants(event, partnerID) })
	if len(hooks) == 0 {
		return nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("notify: encode %s event: %w", event, err)
	}
	ev := WebhookEvent{ID: store.NewID(), Event: event, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Data: raw}
	if partnerID != "" {
		ep := partners[partnerID]
		if ep == nil {
			p, err := tx.PartnerByID(ctx, partnerID)
			if err != nil {
				return fmt.Errorf("notify: partner of %s event: %w", event, err)
			}
			ep = &EventPartner{ID: p.ID, Slug: p.Slug, Name: p.Name}
			if partners != nil {
				partners[partnerID] = ep
			}
		}
		ev.Partner = ep
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("notify: encode %s event: %w", event, err)
	}
	for _, w := range hooks {
		d := &store.WebhookDelivery{WebhookID: w.ID, EventID: ev.ID, Event: event, PartnerID: partnerID, Payload: string(body)}
		if err := tx.InsertWebhookDelivery(ctx, d); err != nil {
			return fmt.Errorf("notify: queue %s event: %w", event, err)
		}
	}
	o.pokeHooks()
	return nil
}

// EventNow queues event in a transaction of its own: for events that
// commit with nothing else (a download, a delete, a ban).
func (o *Outbox) EventNow(ctx context.Context, event, partnerID string, data any) error {
	return o.Store.Tx(ctx, func(tx *store.Store) error { return o.Event(ctx, tx, event, partnerID, data) })
}

func (o *Outbox) hookWakeC() chan struct{} {
	o.hookOnce.Do(func() { o.hookWake = make(chan struct{}, 1) })
	return o.hookWake
}

// pokeHooks tells a WebhookSender in this process that a delivery is due
// (soon: the caller's transaction may not have committed yet).
func (o *Outbox) pokeHooks() {
	select {
	case o.hookWakeC() <- struct{}{}:
	default:
	}
}

// FilePayload is the data of download.finished and file.deleted.
type FilePayload struct {
	TransferID string    `json:"transfer_id"`
	Path       string    `json:"path"`
	Size       int64     `json:"size"` // bytes sent (download) or the deleted file's size
	Username   string    `json:"username"`
	AccountID  string    `json:"account_id,omitempty"`
	Protocol   string    `json:"protocol,omitempty"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// OnFiles queues download.finished or file.deleted for each successful
// download or delete among rows, in tx: the transaction that writes their
// audit rows (it has the shape of files.FileHook). The webhooks are read
// once for all of them.
func (o *Outbox) OnFiles(ctx context.Context, tx *store.Store, rows []*store.Transfer) error {
	var hooks []store.Webhook
	listed := false
	partners := map[string]*EventPartner{}
	for _, t := range rows {
		if t.PartnerID == nil || t.Status != store.StatusOK ||
			(t.Operation != store.OpDownload && t.Operation != store.OpDelete) {
			continue
		}
		if !listed {
			var err error
			if hooks, err = tx.ListWebhooks(ctx); err != nil {
				return fmt.Errorf("notify: webhooks for file events: %w", err)
			}
			listed = true
		}
		if len(hooks) == 0 {
			return nil
		}
		event := EventDownloadFinished
		if t.Operation == store.OpDelete {
			event = EventFileDeleted
		}
		p := FilePayload{TransferID: t.ID, Path: t.Path, Size: t.Bytes, Username: t.Username, Protocol: t.Protocol,
			RemoteAddr: t.RemoteAddr, StartedAt: t.StartedAt.UTC()}
		if t.FinishedAt != nil {
			p.FinishedAt = t.FinishedAt.UTC()
		}
		if t.AccountID != nil {
			p.AccountID = *t.AccountID
		}
		if err := o.queueEvent(ctx, tx, hooks, partners, event, *t.PartnerID, p); err != nil {
			return err
		}
	}
	return nil
}

// MailPayload is the data of mail.received.
type MailPayload struct {
	MessageID string    `json:"message_id,omitempty"` // the Message-ID header, without angle brackets
	Subject   string    `json:"subject"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Size      int64     `json:"size"`
	Folder    string    `json:"folder"`
	UID       int64     `json:"uid"`
	Received  time.Time `json:"received_at"`
}

// OnMailReceived queues mail.received for a message that reached a
// partner's mailbox over SMTP (it has the shape of mailbox.Store's
// OnReceived).
func (o *Outbox) OnMailReceived(ctx context.Context, m *store.MailMessage) error {
	folder := store.MailInbox
	if f, err := o.Store.MailFolderByID(ctx, m.FolderID); err == nil {
		folder = f.Name
	}
	return o.EventNow(ctx, EventMailReceived, m.PartnerID, MailPayload{MessageID: m.MessageID, Subject: m.Subject,
		From: m.FromAddr, To: m.ToAddr, Size: m.Size, Folder: folder, UID: m.UID, Received: m.InternalDate.UTC()})
}

// BanPayload is the data of login.failed_ban.
type BanPayload struct {
	IP          string    `json:"ip"`
	Failures    int64     `json:"failures"`
	Reason      string    `json:"reason"`
	Protocol    string    `json:"protocol"`
	Username    string    `json:"username"` // as given at the last failed login
	BannedUntil time.Time `json:"banned_until"`
}

// OnBan queues login.failed_ban (an event of no partner: hooks without a
// partner filter get it). It has the shape of bans.Guard's OnBan.
func (o *Outbox) OnBan(ctx context.Context, b *store.Ban, protocol, username string) error {
	return o.EventNow(ctx, EventLoginFailedBan, "", BanPayload{IP: b.IP, Failures: b.Failures, Reason: b.Reason,
		Protocol: protocol, Username: username, BannedUntil: b.BannedUntil.UTC()})
}
