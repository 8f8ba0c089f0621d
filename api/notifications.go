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

// notificationJSON is one row of the outbox as the API shows it.
type notificationJSON struct {
	ID        string          `json:"id"`
	PartnerID string          `json:"partner_id"`
	Kind      string          `json:"kind"`
	Status    string          `json:"status"`
	BatchID   string          `json:"batch_id"`
	MessageID string          `json:"message_id"`
	Payload   json.RawMessage `json:"payload"`
	Attempts  int             `json:"attempts"`
	// NextAttemptAt is when a pending row is due, or when a sending row's
	// claim runs out; null once the row is sent or dead.
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LastError     string     `json:"last_error"`
	Recipients    []string   `json:"recipients"`
	RelayedAt     *time.Time `json:"relayed_at"`
	MailboxAt     *time.Time `json:"mailbox_at"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at"`
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func notificationView(n *store.Notification) notificationJSON {
	v := notificationJSON{
		ID: n.ID, PartnerID: n.PartnerID, Kind: n.Kind, Status: n.Status, BatchID: n.BatchID, MessageID: n.MessageID,
		Payload: json.RawMessage(`{}`), Attempts: n.Attempts, LastError: n.LastError, Recipients: []string{},
		RelayedAt: utcPtr(n.RelayedAt), MailboxAt: utcPtr(n.MailboxAt), CreatedAt: n.CreatedAt.UTC(), SentAt: utcPtr(n.SentAt),
	}
	if p := strings.TrimSpace(n.Payload); strings.HasPrefix(p, "{") && json.Valid([]byte(p)) {
		v.Payload = json.RawMessage(p)
	}
	if n.Status == store.NotifyPending || n.Status == store.NotifySending || n.Status == store.NotifyBlocked {
		v.NextAttemptAt = utcPtr(&n.NextAt)
	}
	for _, r := range strings.Split(n.Recipients, ",") {
		if r = strings.TrimSpace(r); r != "" {
			v.Recipients = append(v.Recipients, r)
		}
	}
	return v
}

// sendNotification replies with one notification and its ETag.
func sendNotification(c echo.Context, status int, n *store.Notification) error {
	v := notificationView(n)
	c.Response().Header().Set("ETag", etagOf(v))
	if status == http.StatusAccepted {
		c.Response().Header().Set("Location", location("notifications", n.ID))
	}
	return writeJSON(c, status, v)
}

// Statuses and kinds a notifications filter accepts.
func notifyStatuses() []string {
	return []string{store.NotifyPending, store.NotifySending, store.NotifySent, store.NotifyDead, store.NotifyBlocked}
}

func notifyKinds() []string {
	return []string{store.NotifyKindUpload, store.NotifyKindQuota, store.NotifyKindTest, store.NotifyKindExpectation, store.NotifyKindMail}
}

func (s *Server) listNotifications(c echo.Context) error {
	ctx := c.Request().Context()
	q, err := queryParams(c, "partner", "status", "kind", "limit", "cursor")
	if err != nil {
		return err
	}
	if s.Outbox == nil {
		return notConfigured("notifications")
	}
	var fields []partners.FieldError
	fields = append(fields, oneOf(q, "status", notifyStatuses())...)
	fields = append(fields, oneOf(q, "kind", notifyKinds())...)
	limit, bad := pageLimit(q)
	fields = append(fields, bad...)
	cursor, bad := pageCursor(q, cursorID)
	fields = append(fields, bad...)
	if len(fields) > 0 {
		return badRequest("the query string has invalid parameters", fields...)
	}
	partnerID, err := s.partnerFilter(c, q.Get("partner"))
	if err != nil {
		return err
	}
	// notify.ErrInvalid (a filter notify refuses) is a 400 through toProblem.
	list, next, err := s.Outbox.List(ctx, notify.Filter{
		PartnerID: partnerID, Status: q.Get("status"), Kind: q.Get("kind"), Before: cursor, Limit: limit,
	})
	if err != nil {
		return err
	}
	out := page[notificationJSON]{Items: []notificationJSON{}}
	for i := range list {
		out.Items = append(out.Items, notificationView(&list[i]))
	}
	if next != "" {
		out.NextCursor = &next
	}
	return writeJSON(c, http.StatusOK, out)
}

// partnerFilter turns a partner filter (ID or slug) into a partner ID; an
// unknown one is kept as it is and matches nothing.
func (s *Server) partnerFilter(c echo.Context, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	p, err := s.Partners.Partner(c.Request().Context(), v)
	if errors.Is(err, store.ErrNotFound) {
		return v, nil
	}
	if err != nil {
		return "", err
	}
	return p.ID, nil
}

func (s *Server) getNotification(c echo.Context) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	if s.Outbox == nil {
		return notConfigured("notifications")
	}
	n, err := s.Outbox.Get(c.Request().Context(), param(c, "id"))
	if err != nil {
		return err
	}
	return sendNotification(c, http.StatusOK, n)
}

// retryNotification sends a dead notification again: 409 for any other
// status; with If-Match, only if the row is still as the caller saw it.
func (s *Server) retryNotification(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := queryParams(c); err != nil {
		return err
	}
	if s.Outbox == nil {
		return notConfigured("notifications")
	}
	id := param(c, "id")
	if match := ifMatch(c); match != nil {
		n, err := s.Outbox.Get(ctx, id)
		if err != nil {
			return err
		}
		if err := match(notificationView(n)); err != nil {
			return err
		}
	}
	n, err := s.Outbox.Retry(ctx, id)
	if err != nil {
		return err
	}
	return sendNotification(c, http.StatusAccepted, n)
}

// testNotification queues a test mail to the partner's recipients now.
func (s *Server) testNotification(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := queryParams(c); err != nil {
		return err
	}
	if s.Outbox == nil {
		return notConfigured("notifications")
	}
	p, err := s.Partners.Partner(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	setTarget(c, p.ID)
	n, err := s.Outbox.SendTest(ctx, p.ID)
	if err != nil {
		return err
	}
	return sendNotification(c, http.StatusAccepted, n)
}

type subscriberJSON struct {
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

// Subscribers are rows of the store only: they work without an Outbox
// (the notifier of another node may be the one that mails them).

func (s *Server) listSubscribers(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := queryParams(c); err != nil {
		return err
	}
	p, err := s.Partners.Partner(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	list, err := s.Store.Subscribers(ctx, p.ID)
	if err != nil {
		return err
	}
	out := struct {
		Items []subscriberJSON `json:"items"`
	}{Items: []subscriberJSON{}}
	for _, sub := range list {
		out.Items = append(out.Items, subscriberJSON{Email: sub.Email, CreatedAt: sub.CreatedAt.UTC()})
	}
	return writeJSON(c, http.StatusOK, out)
}

// findSubscriber returns the stored form of email among a partner's
// subscribers, compared without regard to case ("" if absent).
func (s *Server) findSubscriber(c echo.Context, partnerID, email string) (string, error) {
	list, err := s.Store.Subscribers(c.Request().Context(), partnerID)
	if err != nil {
		return "", err
	}
	for _, sub := range list {
		if strings.EqualFold(sub.Email, email) {
			return sub.Email, nil
		}
	}
	return "", nil
}

func (s *Server) addSubscriber(c echo.Context) error {
	ctx := c.Request().Context()
	var in struct {
		Email string `json:"email"`
	}
	if err := s.decode(c, &in); err != nil {
		return err
	}
	p, err := s.Partners.Partner(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	setTarget(c, p.ID)
	email, err := partners.ParseEmail(in.Email)
	if err != nil {
		return &partners.ValidationError{Fields: []partners.FieldError{{Field: "email", Message: err.Error()}}}
	}
	if have, err := s.findSubscriber(c, p.ID, email); err != nil {
		return err
	} else if have != "" {
		return newProblem(http.StatusConflict, have+" already subscribes to the alerts of "+p.Slug)
	}
	if err := s.Store.AddSubscriber(ctx, p.ID, email); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return newProblem(http.StatusConflict, email+" already subscribes to the alerts of "+p.Slug)
		}
		return err
	}
	list, err := s.Store.Subscribers(ctx, p.ID)
	if err != nil {
		return err
	}
	out := subscriberJSON{Email: email, CreatedAt: time.Now().UTC()}
	for _, sub := range list {
		if sub.Email == email {
			out.CreatedAt = sub.CreatedAt.UTC()
		}
	}
	c.Response().Header().Set("Location", location("partners", p.ID, "subscribers", email))
	return writeJSON(c, http.StatusCreated, out)
}

func (s *Server) removeSubscriber(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := queryParams(c); err != nil {
		return err
	}
	p, err := s.Partners.Partner(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	email := param(c, "email")
	setTarget(c, p.ID+"/"+email)
	have, err := s.findSubscriber(c, p.ID, email)
	if err != nil {
		return err
	}
	if have == "" {
		return newProblem(http.StatusNotFound, email+" does not subscribe to the alerts of "+p.Slug)
	}
	if err := s.Store.RemoveSubscriber(ctx, p.ID, have); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
