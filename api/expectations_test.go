package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ferryhq/ferry/expect"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

type expectationDoc struct {
	ID           string     `json:"id"`
	Folder       string     `json:"folder"`
	Pattern      string     `json:"pattern"`
	Count        int        `json:"count"`
	Schedule     string     `json:"schedule"`
	Cron         string     `json:"cron"`
	TimeZone     string     `json:"time_zone"`
	Grace        string     `json:"grace"`
	NotifyEmails []string   `json:"notify_emails"`
	Enabled      bool       `json:"enabled"`
	NextDeadline *time.Time `json:"next_deadline"`
}

type evaluationDoc struct {
	ExpectationID string    `json:"expectation_id"`
	Deadline      time.Time `json:"deadline"`
	Outcome       string    `json:"outcome"`
	Files         int       `json:"files"`
}

func TestExpectationsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarnessOn(t, st, harnessOpts{})
		acme := h.createPartner("acme")
		base := "/api/v1/partners/acme/expectations"

		p := h.do("POST", base, h.admin, map[string]any{"folder": "/in", "pattern": "[*.csv", "count": 0,
			"schedule": "0 25 * * *", "time_zone": "Mars/Olympus", "grace": "-5m"}).want(t, http.StatusUnprocessableEntity).problem(t)
		for _, f := range []string{"pattern", "count", "schedule", "time_zone", "grace"} {
			if !p.hasField(f) {
				t.Errorf("no field error for %s: %+v", f, p.Errors)
			}
		}
		p = h.do("POST", base, h.admin, map[string]any{"pattern": "*.csv"}).want(t, http.StatusUnprocessableEntity).problem(t)
		if !p.hasField("folder") || !p.hasField("schedule") || !p.hasField("time_zone") {
			t.Errorf("missing fields not named: %+v", p.Errors)
		}
		h.do("POST", base, h.auditor, map[string]any{}).want(t, http.StatusForbidden)
		h.do("POST", "/api/v1/partners/nobody/expectations", h.admin, map[string]any{"folder": "/in"}).want(t, http.StatusNotFound)

		var x expectationDoc
		r := h.do("POST", base, h.admin, map[string]any{"folder": "/in", "pattern": "*.csv", "count": 1,
			"schedule": "0 6 * * 1-5", "time_zone": "Europe/Berlin", "grace": "30m", "notify_emails": []string{"ops@ferry.example"}}).
			want(t, http.StatusCreated)
		r.decode(t, &x)
		if x.Cron != "0 6 * * 1-5" || x.Grace != "30m0s" || x.Count != 1 || x.NextDeadline == nil || len(x.NotifyEmails) != 1 ||
			r.header.Get("Location") != "/api/v1/partners/"+acme.ID+"/expectations/"+x.ID {
			t.Fatalf("created %+v", x)
		}
		if loc, _ := time.LoadLocation("Europe/Berlin"); x.NextDeadline.In(loc).Format("15:04") != "06:00" {
			t.Fatalf("next deadline %s", x.NextDeadline)
		}
		var y expectationDoc
		h.do("POST", "/api/v1/partners/"+acme.ID+"/expectations", h.admin, map[string]any{"folder": "out", "pattern": "inv-*.xml",
			"schedule": "every day by 18:30", "time_zone": "UTC"}).want(t, http.StatusCreated).decode(t, &y)
		if y.Cron != "30 18 * * *" || y.Folder != "/out" || y.Count != 1 || y.Grace != "0s" {
			t.Fatalf("second %+v", y)
		}
		var list struct{ Items []expectationDoc }
		h.do("GET", base, h.auditor, nil).want(t, http.StatusOK).decode(t, &list)
		if len(list.Items) != 2 {
			t.Fatalf("list %+v", list)
		}
		get := h.do("GET", base+"/"+x.ID, h.auditor, nil).want(t, http.StatusOK)
		h.do("PATCH", base+"/"+x.ID, h.admin, map[string]any{"time_zone": "Berlin"}).want(t, http.StatusUnprocessableEntity)
		h.do("PATCH", base+"/"+x.ID, h.admin, map[string]any{"count": 2}, "If-Match", `"stale"`).want(t, http.StatusPreconditionFailed)
		var patched expectationDoc
		h.do("PATCH", base+"/"+x.ID, h.admin, map[string]any{"count": 2, "enabled": false}, "If-Match", get.header.Get("ETag")).
			want(t, http.StatusOK).decode(t, &patched)
		if patched.Count != 2 || patched.Enabled || patched.NextDeadline != nil {
			t.Fatalf("patched %+v", patched)
		}
		h.do("GET", "/api/v1/partners/other/expectations/"+x.ID, h.auditor, nil).want(t, http.StatusNotFound)

		// Evaluations, as the evaluator records them; a day later y was missed.
		created, err := st.ExpectationByID(context.Background(), y.ID)
		if err != nil {
			t.Fatal(err)
		}
		sched, err := expect.ParseSchedule(created.Schedule, created.TimeZone)
		if err != nil {
			t.Fatal(err)
		}
		first := sched.Next(created.StartsAt)
		v := &expect.Evaluator{Store: st, Outbox: h.outbox, Now: func() time.Time { return first.Add(time.Minute) }}
		if n, err := v.RunOnce(context.Background()); err != nil || n != 1 {
			t.Fatalf("RunOnce: %d, %v", n, err)
		}
		var evs struct{ Items []evaluationDoc }
		h.do("GET", base+"/"+y.ID+"/evaluations", h.auditor, nil).want(t, http.StatusOK).decode(t, &evs)
		if len(evs.Items) != 1 || evs.Items[0].Outcome != "missed" || evs.Items[0].Deadline.UTC().Format("15:04") != "18:30" {
			t.Fatalf("evaluations %+v", evs)
		}
		h.do("GET", "/api/v1/partners/acme/evaluations?since="+created.StartsAt.Add(48*time.Hour).UTC().Format(time.RFC3339), h.auditor, nil).
			want(t, http.StatusOK).decode(t, &evs)
		if len(evs.Items) != 0 {
			t.Fatalf("since filter: %+v", evs)
		}
		h.do("GET", "/api/v1/partners/acme/evaluations?since=yesterday", h.auditor, nil).want(t, http.StatusBadRequest)
		var ns struct{ Items []notificationDoc }
		h.do("GET", "/api/v1/notifications?kind=expectation", h.auditor, nil).want(t, http.StatusOK).decode(t, &ns)
		if len(ns.Items) != 1 {
			t.Fatalf("expectation notifications: %+v", ns)
		}

		h.do("DELETE", base+"/"+y.ID, h.admin, nil).want(t, http.StatusNoContent)
		h.do("GET", base+"/"+y.ID+"/evaluations", h.auditor, nil).want(t, http.StatusNotFound)
	})
}
