package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/expect"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// The partner page lists expected deliveries with their latest outcomes
// and takes new ones (a bad schedule is refused naming it); the dashboard
// shows the week strip; the webhooks page lists dead deliveries and
// re-drives one.
func TestExpectationsAndWebhooksPages(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	ctx := context.Background()
	pt, err := e.svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Name: "ACME Corp", Enabled: true,
		Contacts: []string{"ops@acme.example"}})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.signIn(e.admin)

	r := c.post("/partners/acme", "/partners/acme/expectations", url.Values{"folder": {"/in"}, "pattern": {"*.csv"},
		"count": {"1"}, "schedule": {"0 6 * *"}, "time_zone": {"Europe/Berlin"}, "grace": {"30m"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad schedule: %d", r.status)
	}
	mustContain(t, r.body, "The expectation was not saved", "schedule:")
	r = c.post("/partners/acme", "/partners/acme/expectations", url.Values{"folder": {"/in"}, "pattern": {"*.csv"},
		"count": {"1"}, "schedule": {"every day by 06:00"}, "time_zone": {"Europe/Berlin"}, "grace": {"30m"},
		"notify_contacts": {"1"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.status, r.body)
	}
	xs, err := e.st.ListExpectations(ctx, pt.ID)
	if err != nil || len(xs) != 1 {
		t.Fatalf("expectations: %v %v", xs, err)
	}
	// Two days judged: yesterday missed, today met... as the evaluator
	// records them (its clock set past both deadlines).
	today := time.Now().UTC()
	for _, ev := range []store.Evaluation{
		{ExpectationID: xs[0].ID, PartnerID: pt.ID, Deadline: today.Add(-time.Hour), Outcome: store.OutcomeMet, Files: 1},
		{ExpectationID: xs[0].ID, PartnerID: pt.ID, Deadline: today.Add(-25 * time.Hour), Outcome: store.OutcomeMissed},
	} {
		ev.WindowStart, ev.EvaluatedAt = ev.Deadline.Add(-24*time.Hour), ev.Deadline
		if _, err := e.st.InsertEvaluation(ctx, &ev); err != nil {
			t.Fatal(err)
		}
	}
	page := c.get("/partners/acme").body
	mustContain(t, page, "Expected deliveries", "1 × /in/*.csv", "every day by 06:00", "(Europe/Berlin)",
		`<span class="badge ok">1 met</span>`, `<span class="badge bad">1 missed</span>`, `title="`)
	dash := c.get("/").body
	mustContain(t, dash, `id="week"`, `<span class="badge ok">1 met</span>`, `<span class="badge bad">1 missed</span>`)

	// A webhook whose delivery is dead: listed, re-driven once.
	ob := &notify.Outbox{Store: e.st, AllowPrivateWebhooks: true}
	sec := "0123456789abcdef"
	u := "http://127.0.0.1:9/hook"
	w, err := ob.CreateWebhook(ctx, notify.WebhookInput{URL: &u, Events: []string{"expectation.missed"}, Secret: &sec})
	if err != nil {
		t.Fatal(err)
	}
	v := &expect.Evaluator{Store: e.st, Outbox: ob, Now: func() time.Time { return xs[0].StartsAt.Add(49 * time.Hour) }}
	if _, err := v.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	s := &notify.WebhookSender{Outbox: ob, MaxAttempts: 1} // 127.0.0.1 is refused: dead at once
	if _, err := s.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	dead, _, err := ob.Deliveries(ctx, store.WebhookDeliveryFilter{WebhookID: w.ID, Status: store.NotifyDead})
	if err != nil || len(dead) == 0 {
		t.Fatalf("dead deliveries: %v %v", dead, err)
	}
	hooks := c.get("/webhooks").body
	mustContain(t, hooks, u, "expectation.missed", dead[0].EventID, "loopback address", "/webhooks/deliveries/"+dead[0].ID+"/retry")
	if r := c.post("/webhooks", "/webhooks/deliveries/"+dead[0].ID+"/retry", nil); r.status != http.StatusSeeOther {
		t.Fatalf("retry: %d", r.status)
	}
	if d, _ := e.st.WebhookDeliveryByID(ctx, dead[0].ID); d.Status != store.NotifyPending {
		t.Fatalf("after retry: %s", d.Status)
	}
	if r := c.post("/webhooks", "/webhooks/deliveries/"+dead[0].ID+"/retry", nil); r.status != http.StatusConflict {
		t.Fatalf("retry a pending one: %d", r.status)
	}
	// Auditors see the page, without the buttons.
	a := e.client()
	a.signIn(e.auditor)
	if body := a.get("/webhooks").body; strings.Contains(body, "/retry") {
		t.Error("an auditor gets a Retry button")
	}

	// A webhook made with the page's form: a loopback URL is refused; the
	// made-up secret is shown on the answer to the POST and never again.
	r = c.post("/webhooks", "/webhooks", url.Values{"url": {"http://127.0.0.1:8/x"}, "event": {"upload.finished"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "loopback") {
		t.Fatalf("loopback webhook: %d", r.status)
	}
	r = c.post("/webhooks", "/webhooks", url.Values{"url": {"https://hooks.example.com/ferry"},
		"event": {"upload.finished", "expectation.missed"}, "partner": {"acme"}})
	if r.status != http.StatusOK {
		t.Fatalf("create webhook: %d\n%s", r.status, r.body)
	}
	m := regexp.MustCompile(`id="secret">(whsec_[0-9a-f]+)<`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no secret shown:\n%s", r.body)
	}
	if body := c.get("/webhooks").body; strings.Contains(body, m[1]) || !strings.Contains(body, "https://hooks.example.com/ferry") {
		t.Fatal("the secret is shown again, or the webhook is not listed")
	}
	hooks2, err := e.st.ListWebhooks(ctx)
	if err != nil || len(hooks2) != 2 || hooks2[1].PartnerID == nil || *hooks2[1].PartnerID != pt.ID {
		t.Fatalf("webhooks: %+v %v", hooks2, err)
	}
	if r := c.post("/webhooks", "/webhooks/"+hooks2[1].ID+"/delete", nil); r.status != http.StatusSeeOther {
		t.Fatalf("delete webhook: %d", r.status)
	}

	// Pause it, and resume it.
	if r := c.post("/partners/acme", "/partners/acme/expectations/"+xs[0].ID+"/enabled", url.Values{"enabled": {"false"}}); r.status != http.StatusSeeOther {
		t.Fatalf("pause: %d", r.status)
	}
	mustContain(t, c.get("/partners/acme").body, `<span class="badge">paused</span>`, ">Resume</button>")
	if x, _ := e.st.ExpectationByID(ctx, xs[0].ID); x.Enabled {
		t.Fatal("still enabled after Pause")
	}
	c.post("/partners/acme", "/partners/acme/expectations/"+xs[0].ID+"/enabled", url.Values{"enabled": {"true"}})
	if x, _ := e.st.ExpectationByID(ctx, xs[0].ID); !x.Enabled {
		t.Fatal("not enabled after Resume")
	}

	// Delete the expectation from its page.
	if r := c.post("/partners/acme", "/partners/acme/expectations/"+xs[0].ID+"/delete", nil); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	mustContain(t, c.get("/partners/acme").body, "No expected deliveries.")
}
