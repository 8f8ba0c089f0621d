package web

// Expected deliveries on the partner page and the dashboard, and the
// webhooks page with its dead deliveries.

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/expect"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
)

// dayOutcomes is one day of the week strip.
type dayOutcomes struct {
	Day               time.Time
	Met, Late, Missed int
}

// weekStrip counts the outcomes of the deadlines of the last seven days
// (UTC), of one partner ("" for all), oldest day first.
func (s *Server) weekStrip(ctx context.Context, partnerID string) ([]dayOutcomes, error) {
	now := s.now().UTC()
	first := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -6)
	list, err := s.Store.ListEvaluations(ctx, store.EvaluationFilter{PartnerID: partnerID, Since: first, Limit: 100_000})
	if err != nil {
		return nil, err
	}
	days := make([]dayOutcomes, 7)
	for i := range days {
		days[i].Day = first.AddDate(0, 0, i)
	}
	for _, e := range list {
		i := int(e.Deadline.UTC().Sub(first) / (24 * time.Hour))
		if i < 0 || i >= len(days) {
			continue
		}
		switch e.Outcome {
		case store.OutcomeMet:
			days[i].Met++
		case store.OutcomeLate:
			days[i].Late++
		case store.OutcomeMissed:
			days[i].Missed++
		}
	}
	return days, nil
}

// expectationRow is an expectation as the partner page lists it.
type expectationRow struct {
	X            store.Expectation
	Grace        string
	Emails       string
	NextDeadline string
	Last         []store.Evaluation // the latest deadlines, newest first
}

func (s *Server) expectationRows(ctx context.Context, partnerID string) ([]expectationRow, error) {
	list, err := s.Store.ListExpectations(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	var out []expectationRow
	for _, x := range list {
		row := expectationRow{X: x, Grace: expect.Grace(&x).String(), Emails: strings.Join(expect.Emails(&x), ", "), NextDeadline: "-"}
		if sc, err := expect.ParseSchedule(x.Schedule, x.TimeZone); err == nil && x.Enabled {
			row.NextDeadline = sc.Next(s.now()).Format("Mon 2006-01-02 15:04 MST")
		}
		row.Last, err = s.Store.ListEvaluations(ctx, store.EvaluationFilter{ExpectationID: x.ID, Limit: 7})
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, nil
}

func (s *Server) expectationCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	pt, err := s.Partners.Partner(ctx, r.PathValue("slug"))
	if err != nil {
		return err
	}
	f := r.PostForm
	str := func(k string) *string { v := f.Get(k); return &v }
	in := expect.Input{Name: str("name"), Folder: str("folder"), Pattern: str("pattern"), Schedule: str("schedule"),
		TimeZone: str("time_zone"), Grace: str("grace")}
	count, cerr := strconv.Atoi(strings.TrimSpace(f.Get("count")))
	if cerr != nil {
		count = 0 // refused below, naming the field
	}
	in.Count = &count
	contacts := f.Get("notify_contacts") == "1"
	in.NotifyContacts = &contacts
	in.NotifyEmails = list(f.Get("notify_emails"))
	_, err = (&expect.Service{Store: s.Store, Now: s.now}).Create(ctx, pt.ID, in)
	if err == nil {
		http.Redirect(w, r, "/partners/"+urlPath(pt.Slug)+"?done=expectation-created#expectations", http.StatusSeeOther)
		return nil
	}
	fields := fieldErrors(err)
	if fields == nil {
		return err
	}
	d, err := s.partnerData(ctx, pt.ID, "")
	if err != nil {
		return err
	}
	d.NewExpect = expectForm{Folder: f.Get("folder"), Pattern: f.Get("pattern"), Count: f.Get("count"),
		Schedule: f.Get("schedule"), TimeZone: f.Get("time_zone"), Grace: f.Get("grace"), Emails: f.Get("notify_emails"),
		Contacts: contacts}
	var msgs []string
	for k, v := range fields {
		msgs = append(msgs, k+": "+v)
	}
	s.renderPage(w, r, http.StatusUnprocessableEntity, "partner", &page{Title: d.Partner.Name, Nav: "partners", User: p,
		Error: "The expectation was not saved: " + strings.Join(msgs, "; "), Fields: fields, Data: d})
	return nil
}

func (s *Server) expectationDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	pt, err := s.Partners.Partner(ctx, r.PathValue("slug"))
	if err != nil {
		return err
	}
	if err := (&expect.Service{Store: s.Store}).Delete(ctx, pt.ID, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/partners/"+urlPath(pt.Slug)+"?done=expectation-deleted#expectations", http.StatusSeeOther)
	return nil
}

// expectationEnabled pauses or resumes an expectation.
func (s *Server) expectationEnabled(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	pt, err := s.Partners.Partner(ctx, r.PathValue("slug"))
	if err != nil {
		return err
	}
	on := r.PostForm.Get("enabled") == "true"
	if _, err := (&expect.Service{Store: s.Store}).Update(ctx, pt.ID, r.PathValue("id"), expect.Input{Enabled: &on}); err != nil {
		return err
	}
	http.Redirect(w, r, "/partners/"+urlPath(pt.Slug)+"?done=expectation-saved#expectations", http.StatusSeeOther)
	return nil
}

// expectForm keeps the new-expectation form's values across a refusal.
type expectForm struct {
	Folder, Pattern, Count, Schedule, TimeZone, Grace, Emails string
	Contacts                                                  bool
}

type webhookRow struct {
	Hook    store.Webhook
	Partner string // slug, "" for every partner
	Dead    []store.WebhookDelivery
	Recent  []store.WebhookDelivery
}

// webhooksData is the webhooks page: the hooks, the events a new one may
// take, and after a creation its secret, shown this once.
type webhooksData struct {
	Hooks     []webhookRow
	Events    []string
	NewSecret string
	NewURL    string
}

func (s *Server) webhooks(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Outbox == nil {
		return &httpError{status: http.StatusNotFound, msg: "Webhooks are not configured on this server."}
	}
	d, err := s.webhooksData(r.Context())
	if err != nil {
		return err
	}
	s.renderPage(w, r, http.StatusOK, "webhooks", &page{Title: "Webhooks", User: p, Data: d})
	return nil
}

func (s *Server) webhooksData(ctx context.Context) (*webhooksData, error) {
	hooks, err := s.Store.ListWebhooks(ctx)
	if err != nil {
		return nil, err
	}
	var rows []webhookRow
	for _, h := range hooks {
		row := webhookRow{Hook: h}
		if h.PartnerID != nil {
			if pt, err := s.Store.PartnerByID(ctx, *h.PartnerID); err == nil {
				row.Partner = pt.Slug
			}
		}
		if row.Dead, _, err = s.Outbox.Deliveries(ctx, store.WebhookDeliveryFilter{WebhookID: h.ID, Status: store.NotifyDead, Limit: 50}); err != nil {
			return nil, err
		}
		if row.Recent, _, err = s.Outbox.Deliveries(ctx, store.WebhookDeliveryFilter{WebhookID: h.ID, Limit: 5}); err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return &webhooksData{Hooks: rows, Events: notify.Events()}, nil
}

// webhookCreate makes a webhook with the rules the API applies and shows
// its made-up secret once, on the page this POST answers (not after a
// redirect, so that no URL or reload brings it back).
func (s *Server) webhookCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Outbox == nil {
		return &httpError{status: http.StatusNotFound, msg: "Webhooks are not configured on this server."}
	}
	ctx := r.Context()
	f := r.PostForm
	url := strings.TrimSpace(f.Get("url"))
	in := notify.WebhookInput{URL: &url, Events: f["event"]}
	if in.Events == nil {
		in.Events = []string{}
	}
	var fields map[string]string
	if slug := strings.TrimSpace(f.Get("partner")); slug != "" {
		pt, err := s.Partners.Partner(ctx, slug)
		if err != nil {
			fields = map[string]string{"partner": "no partner " + slug}
		} else {
			in.PartnerID = &pt.ID
		}
	}
	var hook *store.Webhook
	var err error
	if fields == nil {
		hook, err = s.Outbox.CreateWebhook(ctx, in)
		if err != nil {
			if fields = fieldErrors(err); fields == nil {
				return err
			}
		}
	}
	d, derr := s.webhooksData(ctx)
	if derr != nil {
		return derr
	}
	if fields != nil {
		var msgs []string
		for k, v := range fields {
			msgs = append(msgs, k+": "+v)
		}
		s.renderPage(w, r, http.StatusUnprocessableEntity, "webhooks", &page{Title: "Webhooks", User: p, Fields: fields,
			Error: "The webhook was not created: " + strings.Join(msgs, "; "), Data: d})
		return nil
	}
	d.NewSecret, d.NewURL = hook.Secret, hook.URL
	s.renderPage(w, r, http.StatusOK, "webhooks", &page{Title: "Webhooks", User: p, Data: d})
	return nil
}

func (s *Server) webhookDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Outbox == nil {
		return &httpError{status: http.StatusNotFound, msg: "Webhooks are not configured on this server."}
	}
	if err := s.Outbox.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/webhooks?done=webhook-deleted", http.StatusSeeOther)
	return nil
}

func (s *Server) webhookRetry(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Outbox == nil {
		return &httpError{status: http.StatusNotFound, msg: "Webhooks are not configured on this server."}
	}
	if _, err := s.Outbox.RetryDelivery(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/webhooks?done=delivery-retried", http.StatusSeeOther)
	return nil
}
