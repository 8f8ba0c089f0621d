package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// In Chromium: an expectation made with the partner page's form (first
// with a bad schedule), the dashboard's week strip, and a dead webhook
// delivery re-driven with the Webhooks page's button.
func TestBrowserExpectationsAndWebhooks(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, sqlite())
	base := e.base
	bg := context.Background()
	if _, err := e.svc.CreatePartner(bg, partners.PartnerInput{Slug: "acme", Name: "ACME Corp", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), e.admin), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#week")))
	if s := text(t, ctx, "#week"); !strings.Contains(s, "Expected deliveries, last 7 days") {
		t.Fatalf("week strip: %q", s)
	}

	run(t, ctx, chromedp.Navigate(base+"/partners/acme"), chromedp.WaitVisible(chromedp.CSS("#x-folder")),
		chromedp.SendKeys(chromedp.CSS("#x-folder"), "/in"), chromedp.SendKeys(chromedp.CSS("#x-pattern"), "*.csv"),
		chromedp.SendKeys(chromedp.CSS("#x-schedule"), "every weekday by 25:00"),
		chromedp.SetValue(chromedp.CSS("#x-zone"), "Europe/Berlin"),
		chromedp.Click(chromedp.CSS(`form[action="/partners/acme/expectations"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".alert")))
	if s := text(t, ctx, ".alert"); !strings.Contains(s, "schedule") {
		t.Fatalf("refusal: %q", s)
	}
	if v := eval[string](t, ctx, `document.querySelector("#x-schedule").getAttribute("aria-invalid")`); v != "true" {
		t.Errorf("schedule field not marked invalid: %q", v)
	}
	run(t, ctx, chromedp.SetValue(chromedp.CSS("#x-schedule"), "every weekday by 06:00"),
		chromedp.Click(chromedp.CSS(`form[action="/partners/acme/expectations"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if s := text(t, ctx, ".flash"); s != "Expectation saved." {
		t.Fatalf("flash %q", s)
	}
	if s := text(t, ctx, "#expectations table"); !strings.Contains(s, "1 × /in/*.csv") || !strings.Contains(s, "CET") && !strings.Contains(s, "CEST") {
		t.Fatalf("expectations table: %q", s)
	}
	shot(t, ctx, "30-partner-expectations")

	// A dead delivery (127.0.0.1 is refused without the allow setting).
	ob := &notify.Outbox{Store: e.st, AllowPrivateWebhooks: true}
	u, sec := "http://127.0.0.1:9/hook", "0123456789abcdef"
	w, err := ob.CreateWebhook(bg, notify.WebhookInput{URL: &u, Events: []string{notify.EventFileDeleted}, Secret: &sec})
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.EventNow(bg, notify.EventFileDeleted, "", map[string]string{"path": "/x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := (&notify.WebhookSender{Outbox: ob, MaxAttempts: 1}).RunOnce(bg); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Navigate(base+"/webhooks"), chromedp.WaitVisible(chromedp.CSS(".dead-deliveries")))
	shot(t, ctx, "31-webhooks-dead")
	run(t, ctx, chromedp.Click(chromedp.CSS(`.dead-deliveries button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if s := text(t, ctx, ".flash"); s != "Webhook delivery queued again." {
		t.Fatalf("flash %q", s)
	}
	ds, err := e.st.ListWebhookDeliveries(bg, store.WebhookDeliveryFilter{WebhookID: w.ID})
	if err != nil || len(ds) != 1 || ds[0].Status != store.NotifyPending {
		t.Fatalf("after Retry: %+v %v", ds, err)
	}
}
