package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

type webhookDoc struct {
	ID        string   `json:"id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	PartnerID *string  `json:"partner_id"`
	Enabled   bool     `json:"enabled"`
	Secret    string   `json:"secret"`
}

type deliveryDoc struct {
	ID        string `json:"id"`
	WebhookID string `json:"webhook_id"`
	EventID   string `json:"event_id"`
	Event     string `json:"event"`
	Status    string `json:"status"`
	LastError string `json:"last_error"`
	Attempts  int    `json:"attempts"`
}

func TestWebhooksAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarnessOn(t, st, harnessOpts{})
		acme := h.createPartner("acme")
		h.createAccount("acme", "alice")

		// Refused: loopback (without FERRY_WEBHOOK_ALLOW_PRIVATE), unknown
		// event, short secret, unknown partner; auditors may not create.
		p := h.do("POST", "/api/v1/webhooks", h.admin, map[string]any{"url": "http://127.0.0.1:9/x",
			"events": []string{"upload.finished", "upload.started"}, "secret": "short", "partner": "nobody"}).
			want(t, http.StatusUnprocessableEntity).problem(t)
		for _, f := range []string{"url", "events", "secret", "partner"} {
			if !p.hasField(f) {
				t.Errorf("no field error for %s: %+v", f, p.Errors)
			}
		}
		h.do("POST", "/api/v1/webhooks", h.admin, map[string]any{"url": "http://127.0.0.1:9/x", "events": []string{"upload.finished"}}).
			want(t, http.StatusUnprocessableEntity)
		h.do("POST", "/api/v1/webhooks", h.auditor, map[string]any{"url": "https://hooks.invalid/", "events": []string{"upload.finished"}}).
			want(t, http.StatusForbidden)

		var w webhookDoc
		r := h.do("POST", "/api/v1/webhooks", h.admin, map[string]any{"url": "https://hooks.invalid/ferry",
			"events": []string{"upload.finished", "expectation.missed"}, "partner": "acme", "secret": "0123456789abcdef-secret"}).
			want(t, http.StatusCreated)
		r.decode(t, &w)
		if w.Secret != "0123456789abcdef-secret" || w.PartnerID == nil || *w.PartnerID != acme.ID || len(w.Events) != 2 ||
			r.header.Get("Location") != "/api/v1/webhooks/"+w.ID {
			t.Fatalf("created: %+v", w)
		}
		var got webhookDoc
		h.do("GET", "/api/v1/webhooks/"+w.ID, h.auditor, nil).want(t, http.StatusOK).decode(t, &got)
		if got.Secret != "" || got.URL != w.URL {
			t.Fatalf("GET shows %+v", got)
		}
		var list struct{ Items []webhookDoc }
		h.do("GET", "/api/v1/webhooks", h.auditor, nil).want(t, http.StatusOK).decode(t, &list)
		if len(list.Items) != 1 || list.Items[0].Secret != "" {
			t.Fatalf("list: %+v", list)
		}
		// The secret is in no admin audit row.
		if body := string(h.do("GET", "/api/v1/admin-audit", h.admin, nil).want(t, http.StatusOK).body); strings.Contains(body, "0123456789abcdef-secret") {
			t.Fatalf("the admin audit log shows the secret: %s", body)
		}
		// A made-up secret is shown once.
		var gen webhookDoc
		h.do("POST", "/api/v1/webhooks", h.admin, map[string]any{"url": "https://other.invalid/", "events": []string{"file.deleted"}}).
			want(t, http.StatusCreated).decode(t, &gen)
		if !strings.HasPrefix(gen.Secret, "whsec_") || len(gen.Secret) < 40 {
			t.Fatalf("generated secret %q", gen.Secret)
		}
		h.do("PATCH", "/api/v1/webhooks/"+gen.ID, h.admin, map[string]any{"events": []string{}}).want(t, http.StatusUnprocessableEntity)
		var patched webhookDoc
		h.do("PATCH", "/api/v1/webhooks/"+gen.ID, h.admin, map[string]any{"enabled": false, "partner": "acme"}).
			want(t, http.StatusOK).decode(t, &patched)
		if patched.Enabled || patched.Secret != "" || patched.PartnerID == nil {
			t.Fatalf("patched: %+v", patched)
		}
		h.do("DELETE", "/api/v1/webhooks/"+gen.ID, h.admin, nil).want(t, http.StatusNoContent)
		h.do("GET", "/api/v1/webhooks/"+gen.ID, h.admin, nil).want(t, http.StatusNotFound).problem(t)

		// An upload queues a delivery; one that fails past its attempts is
		// dead, listed, and re-driven once.
		c, err := h.dialFTP("alice", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Stor("a.csv", strings.NewReader("1")); err != nil {
			t.Fatal(err)
		}
		_ = c.Quit()
		// Its delivery is queued when the upload is marked done, after the
		// 226, in the FTP server's background writer.
		storetest.WaitUploadsFinished(t, h.st)
		s := &notify.WebhookSender{Outbox: h.outbox, MaxAttempts: 1, Timeout: 5 * time.Second}
		if _, err := s.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		ds := listAll[deliveryDoc](t, h, "/api/v1/webhooks/"+w.ID+"/deliveries?status=dead")
		if len(ds) != 1 || ds[0].Event != "upload.finished" || ds[0].EventID == "" || ds[0].LastError == "" {
			t.Fatalf("dead deliveries: %+v", ds)
		}
		h.do("GET", "/api/v1/webhooks/"+w.ID+"/deliveries?status=lost", h.auditor, nil).want(t, http.StatusBadRequest)
		if m := string(h.do("GET", "/metrics", h.auditor, nil).want(t, http.StatusOK).body); !strings.Contains(m, `ferry_webhook_deliveries{status="dead"} 1`+"\n") {
			t.Errorf("metrics lack the dead delivery:\n%s", m)
		}
		var re deliveryDoc
		h.do("POST", "/api/v1/webhooks/"+w.ID+"/deliveries/"+ds[0].ID+"/retry", h.admin, nil).want(t, http.StatusAccepted).decode(t, &re)
		if re.Status != "pending" || re.Attempts != 0 || re.EventID != ds[0].EventID {
			t.Fatalf("re-driven: %+v", re)
		}
		h.do("POST", "/api/v1/webhooks/"+w.ID+"/deliveries/"+ds[0].ID+"/retry", h.admin, nil).want(t, http.StatusConflict)
		h.do("POST", "/api/v1/webhooks/"+w.ID+"/deliveries/nope/retry", h.admin, nil).want(t, http.StatusNotFound)
	})
}
