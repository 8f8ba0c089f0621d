package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// webhookJSON is a webhook as the API shows it: the secret only in the
// reply that created it (or set a new one).
type webhookJSON struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	PartnerID *string   `json:"partner_id"`
	Enabled   bool      `json:"enabled"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func webhookView(w *store.Webhook) webhookJSON {
	evs := w.EventList()
	if evs == nil {
		evs = []string{}
	}
	return webhookJSON{ID: w.ID, URL: w.URL, Events: evs, PartnerID: w.PartnerID, Enabled: w.Enabled,
		CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC()}
}

// webhookInput is the body of POST and PATCH /webhooks.
type webhookInput struct {
	URL     *string  `json:"url"`
	Events  []string `json:"events"`
	Partner *string  `json:"partner"` // ID or slug; "" or null on PATCH: no filter
	Secret  *string  `json:"secret"`
	Enabled *bool    `json:"enabled"`
}

// webhookInput resolves the partner (ID or slug). An unknown partner is
// reported together with what else notify finds wrong (check).
func (s *Server) webhookInput(c echo.Context, in webhookInput, check func(notify.WebhookInput) error) (notify.WebhookInput, error) {
	out := notify.WebhookInput{URL: in.URL, Events: in.Events, Secret: in.Secret, Enabled: in.Enabled}
	if in.Partner == nil {
		return out, nil
	}
	id := ""
	if *in.Partner != "" {
		p, err := s.Partners.Partner(c.Request().Context(), *in.Partner)
		if errors.Is(err, store.ErrNotFound) {
			bad := partners.FieldError{Field: "partner", Message: "no partner " + *in.Partner}
			var v *partners.ValidationError
			if err := check(out); errors.As(err, &v) {
				return out, &partners.ValidationError{Fields: append(v.Fields, bad)}
			}
			return out, &partners.ValidationError{Fields: []partners.FieldError{bad}}
		}
		if err != nil {
			return out, err
		}
		id = p.ID
	}
	out.PartnerID = &id
	return out, nil
}

func (s *Server) createWebhook(c echo.Context) error {
	var in webhookInput
	if err := s.decode(c, &in); err != nil {
		return err
	}
	if s.Outbox == nil {
		return notConfigured("webhooks")
	}
	wi, err := s.webhookInput(c, in, s.Outbox.CheckWebhook)
	if err != nil {
		return err
	}
	w, err := s.Outbox.CreateWebhook(c.Request().Context(), wi)
	if err != nil {
		return err
	}
	setTarget(c, w.ID)
	v := webhookView(w)
	v.Secret = w.Secret
	c.Response().Header().Set("Location", location("webhooks", w.ID))
	return writeJSON(c, http.StatusCreated, v)
}

func (s *Server) listWebhooks(c echo.Context) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	if s.Outbox == nil {
		return notConfigured("webhooks")
	}
	list, err := s.Store.ListWebhooks(c.Request().Context())
	if err != nil {
		return err
	}
	out := struct {
		Items []webhookJSON `json:"items"`
	}{Items: []webhookJSON{}}
	for i := range list {
		out.Items = append(out.Items, webhookView(&list[i]))
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) getWebhook(c echo.Context) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	if s.Outbox == nil {
		return notConfigured("webhooks")
	}
	w, err := s.Outbox.Webhook(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	v := webhookView(w)
	c.Response().Header().Set("ETag", etagOf(v))
	return writeJSON(c, http.StatusOK, v)
}

func (s *Server) updateWebhook(c echo.Context) error {
	ctx := c.Request().Context()
	var in webhookInput
	if err := s.decode(c, &in); err != nil {
		return err
	}
	if s.Outbox == nil {
		return notConfigured("webhooks")
	}
	id := param(c, "id")
	setTarget(c, id)
	if match := ifMatch(c); match != nil {
		w, err := s.Outbox.Webhook(ctx, id)
		if err != nil {
			return err
		}
		if err := match(webhookView(w)); err != nil {
			return err
		}
	}
	wi, err := s.webhookInput(c, in, func(notify.WebhookInput) error { return nil })
	if err != nil {
		return err
	}
	w, err := s.Outbox.UpdateWebhook(ctx, id, wi)
	if err != nil {
		return err
	}
	v := webhookView(w)
	c.Response().Header().Set("ETag", etagOf(v))
	if in.Secret != nil {
		v.Secret = w.Secret
	}
	return writeJSON(c, http.StatusOK, v)
}

func (s *Server) deleteWebhook(c echo.Context) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	if s.Outbox == nil {
		return notConfigured("webhooks")
	}
	id := param(c, "id")
	setTarget(c, id)
	if err := s.Outbox.DeleteWebhook(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// deliveryJSON is one row of the webhook outbox.
type deliveryJSON struct {
	ID            string          `json:"id"`
	WebhookID     string          `json:"webhook_id"`
	EventID       string          `json:"event_id"`
	Event         string          `json:"event"`
	Status        string          `json:"status"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt *time.Time      `json:"next_attempt_at"`
	LastError     string          `json:"last_error"`
	ResponseCode  int             `json:"response_code"`
	Body          json.RawMessage `json:"body"`
	CreatedAt     time.Time       `json:"created_at"`
	SentAt        *time.Time      `json:"sent_at"`
}

func deliveryView(d *store.WebhookDelivery) deliveryJSON {
	v := deliveryJSON{ID: d.ID, WebhookID: d.WebhookID, EventID: d.EventID, Event: d.Event, Status: d.Status,
		Attempts: d.Attempts, LastError: d.LastError, ResponseCode: d.ResponseCode, Body: json.RawMessage(`{}`),
		CreatedAt: d.CreatedAt.UTC(), SentAt: utcPtr(d.SentAt)}
	if p := strings.TrimSpace(d.Payload); strings.HasPrefix(p, "{") && json.Valid([]byte(p)) {
		v.Body = json.RawMessage(p)
	}
	if d.Status == store.NotifyPending || d.Status == store.NotifySending {
		v.NextAttemptAt = utcPtr(&d.NextAt)
	}
	return v
}

func (s *Server) listDeliveries(c echo.Context) error {
	ctx := c.Request().Context()
	q, err := queryParams(c, "status", "limit", "cursor")
	if err != nil {
		return err
	}
	if s.Outbox == nil {
		return notConfigured("webhooks")
	}
	var fields []partners.FieldError
	fields = append(fields, oneOf(q, "status", notifyStatuses())...)
	limit, bad := pageLimit(q)
	fields = append(fields, bad...)
	cursor, bad := pageCursor(q, cursorID)
	fields = append(fields, bad...)
	if len(fields) > 0 {
		return badRequest("the query string has invalid parameters", fields...)
	}
	w, err := s.Outbox.Webhook(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	list, next, err := s.Outbox.Deliveries(ctx, store.WebhookDeliveryFilter{WebhookID: w.ID, Status: q.Get("status"),
		Before: cursor, Limit: limit})
	if err != nil {
		return err
	}
	out := page[deliveryJSON]{Items: []deliveryJSON{}}
	for i := range list {
		out.Items = append(out.Items, deliveryView(&list[i]))
	}
	if next != "" {
		out.NextCursor = &next
	}
	return writeJSON(c, http.StatusOK, out)
}

// retryDelivery re-drives a dead delivery: 409 for any other status.
func (s *Server) retryDelivery(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := queryParams(c); err != nil {
		return err
	}
	if s.Outbox == nil {
		return notConfigured("webhooks")
	}
	id := param(c, "delivery")
	setTarget(c, id)
	cur, err := s.Store.WebhookDeliveryByID(ctx, id)
	if err != nil || cur.WebhookID != param(c, "id") {
		return newProblem(http.StatusNotFound, "webhook "+param(c, "id")+" has no delivery "+id)
	}
	d, err := s.Outbox.RetryDelivery(ctx, id)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusAccepted, deliveryView(d))
}
