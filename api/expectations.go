package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/expect"
	"github.com/ferryhq/ferry/store"
)

// expectationJSON is an expected delivery as the API shows it.
type expectationJSON struct {
	ID             string   `json:"id"`
	PartnerID      string   `json:"partner_id"`
	Name           string   `json:"name"`
	Folder         string   `json:"folder"`
	Pattern        string   `json:"pattern"`
	Count          int      `json:"count"`
	Schedule       string   `json:"schedule"`
	Cron           string   `json:"cron"` // the schedule as a cron expression
	TimeZone       string   `json:"time_zone"`
	Grace          string   `json:"grace"`
	NotifyContacts bool     `json:"notify_contacts"`
	NotifyEmails   []string `json:"notify_emails"`
	NotifyWebhooks bool     `json:"notify_webhooks"`
	Enabled        bool     `json:"enabled"`
	// NextDeadline is the next deadline from now (null when disabled).
	NextDeadline *time.Time `json:"next_deadline"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

func expectationView(x *store.Expectation, now time.Time) expectationJSON {
	v := expectationJSON{ID: x.ID, PartnerID: x.PartnerID, Name: x.Name, Folder: x.Folder, Pattern: x.Pattern,
		Count: x.FileCount, Schedule: x.Schedule, TimeZone: x.TimeZone, Grace: expect.Grace(x).String(),
		NotifyContacts: x.NotifyContacts, NotifyEmails: expect.Emails(x), NotifyWebhooks: x.NotifyWebhooks,
		Enabled: x.Enabled, CreatedAt: x.CreatedAt.UTC(), UpdatedAt: x.UpdatedAt.UTC()}
	if v.NotifyEmails == nil {
		v.NotifyEmails = []string{}
	}
	if s, err := expect.ParseSchedule(x.Schedule, x.TimeZone); err == nil {
		v.Cron = s.Spec
		if next := s.Next(now); x.Enabled && !next.IsZero() {
			n := next.UTC()
			v.NextDeadline = &n
		}
	}
	return v
}

// expectationInput is the body of POST and PATCH .../expectations.
type expectationInput struct {
	Name           *string  `json:"name"`
	Folder         *string  `json:"folder"`
	Pattern        *string  `json:"pattern"`
	Count          *int     `json:"count"`
	Schedule       *string  `json:"schedule"`
	TimeZone       *string  `json:"time_zone"`
	Grace          *string  `json:"grace"`
	NotifyContacts *bool    `json:"notify_contacts"`
	NotifyEmails   []string `json:"notify_emails"`
	NotifyWebhooks *bool    `json:"notify_webhooks"`
	Enabled        *bool    `json:"enabled"`
}

func (in expectationInput) input() expect.Input {
	return expect.Input{Name: in.Name, Folder: in.Folder, Pattern: in.Pattern, Count: in.Count, Schedule: in.Schedule,
		TimeZone: in.TimeZone, Grace: in.Grace, NotifyContacts: in.NotifyContacts, NotifyEmails: in.NotifyEmails,
		NotifyWebhooks: in.NotifyWebhooks, Enabled: in.Enabled}
}

func (s *Server) expectations() *expect.Service { return &expect.Service{Store: s.Store} }

func (s *Server) createExpectation(c echo.Context) error {
	ctx := c.Request().Context()
	var in expectationInput
	if err := s.decode(c, &in); err != nil {
		return err
	}
	p, err := s.Partners.Partner(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	x, err := s.expectations().Create(ctx, p.ID, in.input())
	if err != nil {
		return err
	}
	setTarget(c, p.ID+"/"+x.ID)
	v := expectationView(x, time.Now())
	c.Response().Header().Set("Location", location("partners", p.ID, "expectations", x.ID))
	c.Response().Header().Set("ETag", etagOf(v))
	return writeJSON(c, http.StatusCreated, v)
}

func (s *Server) listExpectations(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := queryParams(c); err != nil {
		return err
	}
	p, err := s.Partners.Partner(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	list, err := s.expectations().List(ctx, p.ID)
	if err != nil {
		return err
	}
	now := time.Now()
	out := struct {
		Items []expectationJSON `json:"items"`
	}{Items: []expectationJSON{}}
	for i := range list {
		out.Items = append(out.Items, expectationView(&list[i], now))
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) getExpectation(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := queryParams(c); err != nil {
		return err
	}
	p, err := s.Partners.Partner(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	x, err := s.expectations().Get(ctx, p.ID, param(c, "expectation"))
	if err != nil {
		return err
	}
	v := expectationView(x, time.Now())
	c.Response().Header().Set("ETag", etagOf(v))
	return writeJSON(c, http.StatusOK, v)
}

func (s *Server) updateExpectation(c echo.Context) error {
	ctx := c.Request().Context()
	var in expectationInput
	if err := s.decode(c, &in); err != nil {
		return err
	}
	p, err := s.Partners.Partner(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	svc := s.expectations()
	id := param(c, "expectation")
	setTarget(c, p.ID+"/"+id)
	if match := ifMatch(c); match != nil {
		x, err := svc.Get(ctx, p.ID, id)
		if err != nil {
			return err
		}
		if err := match(expectationView(x, time.Now())); err != nil {
			return err
		}
	}
	x, err := svc.Update(ctx, p.ID, id, in.input())
	if err != nil {
		return err
	}
	v := expectationView(x, time.Now())
	c.Response().Header().Set("ETag", etagOf(v))
	return writeJSON(c, http.StatusOK, v)
}

func (s *Server) deleteExpectation(c echo.Context) error {
	ctx := c.Request().Context()
	if _, err := queryParams(c); err != nil {
		return err
	}
	p, err := s.Partners.Partner(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	id := param(c, "expectation")
	setTarget(c, p.ID+"/"+id)
	if err := s.expectations().Delete(ctx, p.ID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type evaluationJSON struct {
	ExpectationID  string     `json:"expectation_id"`
	Deadline       time.Time  `json:"deadline"`
	WindowStart    time.Time  `json:"window_start"`
	Outcome        string     `json:"outcome"`
	Files          int        `json:"files"`
	EvaluatedAt    time.Time  `json:"evaluated_at"`
	LateDeliveryAt *time.Time `json:"late_delivery_at"`
	LatePath       string     `json:"late_path"`
}

// listEvaluations lists the outcomes of a partner's deadlines, latest
// first: of one expectation (.../expectations/{expectation}/evaluations)
// or of all (.../evaluations), optionally since/until a time.
func (s *Server) listEvaluations(c echo.Context) error {
	ctx := c.Request().Context()
	q, err := queryParams(c, "since", "until", "limit")
	if err != nil {
		return err
	}
	since, until, fields := timeRange(q, nil)
	limit, bad := pageLimit(q)
	fields = append(fields, bad...)
	if len(fields) > 0 {
		return badRequest("the query string has invalid parameters", fields...)
	}
	partner, err := s.Partners.Partner(ctx, param(c, "id"))
	if err != nil {
		return err
	}
	f := store.EvaluationFilter{PartnerID: partner.ID, Since: since, Until: until, Limit: limit}
	if id := param(c, "expectation"); id != "" {
		if _, err := s.expectations().Get(ctx, partner.ID, id); err != nil {
			return err
		}
		f.ExpectationID = id
	}
	list, err := s.Store.ListEvaluations(ctx, f)
	if err != nil {
		return err
	}
	out := struct {
		Items []evaluationJSON `json:"items"`
	}{Items: []evaluationJSON{}}
	for _, e := range list {
		out.Items = append(out.Items, evaluationJSON{ExpectationID: e.ExpectationID, Deadline: e.Deadline.UTC(),
			WindowStart: e.WindowStart.UTC(), Outcome: e.Outcome, Files: e.Files, EvaluatedAt: e.EvaluatedAt.UTC(),
			LateDeliveryAt: utcPtr(e.LateDeliveryAt), LatePath: e.LatePath})
	}
	return writeJSON(c, http.StatusOK, out)
}
