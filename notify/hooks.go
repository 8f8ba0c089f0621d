package notify

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// WebhookInput is a webhook as an administrator sets it (API, CLI, web).
// On update, nil fields stay as they are.
type WebhookInput struct {
	URL    *string
	Events []string // nil: unchanged (on create: required)
	// PartnerID limits the hook to one partner's events; a pointer to ""
	// removes the filter.
	PartnerID *string
	// Secret keys the signatures: at least 16 characters; "" on create
	// makes one up (shown once).
	Secret  *string
	Enabled *bool
}

// MinSecretLen is the shortest webhook secret accepted.
const MinSecretLen = 16

// NewSecret returns a fresh random webhook secret.
func NewSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + hex.EncodeToString(b[:])
}

// apply checks in and applies it to w.
func (o *Outbox) apply(w *store.Webhook, in WebhookInput) error {
	var v partners.ValidationError
	if in.URL != nil {
		u := strings.TrimSpace(*in.URL)
		if err := CheckWebhookURL(u, o.AllowPrivateWebhooks); err != nil {
			v.Fields = append(v.Fields, partners.FieldError{Field: "url", Message: strings.TrimPrefix(err.Error(), ErrBadWebhookURL.Error()+": ")})
		}
		w.URL = u
	}
	if in.Events != nil {
		var evs []string
		for _, e := range in.Events {
			e = strings.TrimSpace(e)
			if !slices.Contains(Events(), e) {
				v.Fields = append(v.Fields, partners.FieldError{Field: "events",
					Message: fmt.Sprintf("%q is not one of %s", e, strings.Join(Events(), ", "))})
				continue
			}
			if !slices.Contains(evs, e) {
				evs = append(evs, e)
			}
		}
		if len(in.Events) == 0 {
			v.Fields = append(v.Fields, partners.FieldError{Field: "events", Message: "name at least one event"})
		}
		w.Events = strings.Join(evs, ",")
	}
	if in.Secret != nil {
		if len(*in.Secret) < MinSecretLen {
			v.Fields = append(v.Fields, partners.FieldError{Field: "secret",
				Message: fmt.Sprintf("must be at least %d characters", MinSecretLen)})
		}
		w.Secret = *in.Secret
	}
	if in.PartnerID != nil {
		w.PartnerID = nil
		if *in.PartnerID != "" {
			w.PartnerID = in.PartnerID
		}
	}
	if in.Enabled != nil {
		w.Enabled = *in.Enabled
	}
	if len(v.Fields) > 0 {
		return &v
	}
	return nil
}

// CheckWebhook reports what is wrong with in as a new webhook
// (*partners.ValidationError), without storing anything.
func (o *Outbox) CheckWebhook(in WebhookInput) error {
	if in.Secret != nil && *in.Secret == "" {
		in.Secret = nil
	}
	if in.URL == nil {
		in.URL = new(string)
	}
	if in.Events == nil {
		in.Events = []string{}
	}
	return o.apply(&store.Webhook{}, in)
}

// CreateWebhook checks and stores a new webhook. The returned row holds
// the secret, which the caller shows once.
func (o *Outbox) CreateWebhook(ctx context.Context, in WebhookInput) (*store.Webhook, error) {
	w := &store.Webhook{Enabled: true}
	if in.URL == nil {
		in.URL = new(string)
	}
	if in.Events == nil {
		in.Events = []string{}
	}
	if in.Secret == nil || *in.Secret == "" {
		s := NewSecret()
		in.Secret = &s
	}
	if err := o.apply(w, in); err != nil {
		return nil, err
	}
	if err := o.Store.CreateWebhook(ctx, w); err != nil {
		return nil, err
	}
	return w, nil
}

// UpdateWebhook changes the fields in sets.
func (o *Outbox) UpdateWebhook(ctx context.Context, id string, in WebhookInput) (*store.Webhook, error) {
	w, err := o.Webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := o.apply(w, in); err != nil {
		return nil, err
	}
	if err := o.Store.UpdateWebhook(ctx, w); err != nil {
		return nil, err
	}
	return w, nil
}

// Webhook returns one webhook (ErrNotFound).
func (o *Outbox) Webhook(ctx context.Context, id string) (*store.Webhook, error) {
	w, err := o.Store.WebhookByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: webhook %s", ErrNotFound, id)
	}
	return w, err
}

// DeleteWebhook deletes a webhook and its deliveries.
func (o *Outbox) DeleteWebhook(ctx context.Context, id string) error {
	err := o.Store.DeleteWebhook(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: webhook %s", ErrNotFound, id)
	}
	return err
}

// Deliveries lists webhook deliveries, newest first, and the next page's
// cursor.
func (o *Outbox) Deliveries(ctx context.Context, f store.WebhookDeliveryFilter) ([]store.WebhookDelivery, string, error) {
	if f.Status != "" && !slices.Contains([]string{store.NotifyPending, store.NotifySending, store.NotifySent, store.NotifyDead}, f.Status) {
		return nil, "", fmt.Errorf("%w: status %q is not one of pending, sending, sent, dead", ErrInvalid, f.Status)
	}
	limit := cmp.Or(f.Limit, 50)
	f.Limit = limit + 1
	rows, err := o.Store.ListWebhookDeliveries(ctx, f)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = rows[len(rows)-1].ID
	}
	return rows, next, nil
}

// RetryDelivery re-drives a dead delivery: the same event, body and event
// ID, due now. ErrNotDead for any other status.
func (o *Outbox) RetryDelivery(ctx context.Context, id string) (*store.WebhookDelivery, error) {
	d, err := o.Store.RetryWebhookDelivery(ctx, id)
	if err != nil {
		return nil, retryError(err, id)
	}
	o.pokeHooks()
	return d, nil
}
