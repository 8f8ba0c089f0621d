package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func TestTransfersFiltersAndPaging(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b, harnessOpts{})
			ctx := context.Background()
			acme, other := h.createPartner("acme"), h.createPartner("other")
			alice, bob := h.createAccount("acme", "alice"), h.createAccount("other", "bob")

			// 30 rows: alternating partners, a mix of operations, outcomes,
			// folders and times an hour apart, oldest first.
			t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
			type row struct{ partner, account, user, op, status, path string }
			var ids []string
			for i := range 30 {
				r := row{acme.ID, alice.ID, "alice", store.OpUpload, store.StatusOK, fmt.Sprintf("/inbox/f%02d.csv", i)}
				if i%2 == 1 {
					r = row{other.ID, bob.ID, "bob", store.OpDownload, store.StatusOK, fmt.Sprintf("/outbox/f%02d.csv", i)}
				}
				if i%5 == 0 {
					r.status = store.StatusFailed
				}
				if i%7 == 0 {
					r.op, r.path = store.OpLogin, ""
				}
				tr := &store.Transfer{
					PartnerID: store.StrPtr(r.partner), AccountID: store.StrPtr(r.account), Username: r.user, Protocol: "ftp",
					Operation: r.op, Path: r.path, Status: r.status, Bytes: int64(i * 100), RemoteAddr: "127.0.0.1:1",
					StartedAt: t0.Add(time.Duration(i) * time.Hour),
				}
				if err := h.st.RecordTransfer(ctx, tr); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, tr.ID)
			}
			list := func(query string) []transferDoc {
				t.Helper()
				var all []transferDoc
				path := "/api/v1/transfers?" + query
				for pages := 0; ; pages++ {
					var pg pageDoc[transferDoc]
					h.do("GET", path, h.auditor, nil).want(t, http.StatusOK).decode(t, &pg)
					all = append(all, pg.Items...)
					if pg.NextCursor == nil {
						return all
					}
					if pages > 40 {
						t.Fatal("paging does not end")
					}
					path = "/api/v1/transfers?" + query + "&cursor=" + url.QueryEscape(*pg.NextCursor)
				}
			}

			// Everything, three at a time, newest first, each row once.
			all := list("limit=3")
			if len(all) != 30 {
				t.Fatalf("paged %d rows, want 30", len(all))
			}
			for i, tr := range all {
				if tr.ID != ids[29-i] {
					t.Fatalf("row %d is %s, want %s (newest first)", i, tr.ID, ids[29-i])
				}
			}
			count := func(query string, want int, check func(transferDoc) bool) {
				t.Helper()
				got := list(query)
				if len(got) != want {
					t.Errorf("%s: %d rows, want %d", query, len(got), want)
				}
				for _, tr := range got {
					if !check(tr) {
						t.Errorf("%s: row does not match: %+v", query, tr)
					}
				}
			}
			isAcme := func(tr transferDoc) bool { return tr.PartnerID != nil && *tr.PartnerID == acme.ID }
			count("partner=acme", 15, isAcme)
			count("partner="+acme.ID+"&limit=4", 15, isAcme)
			count("account=bob", 15, func(tr transferDoc) bool { return tr.Username == "bob" })
			count("account="+bob.ID+"&operation=download", 13, func(tr transferDoc) bool { return tr.Operation == "download" })
			count("operation=login", 5, func(tr transferDoc) bool { return tr.Operation == "login" })
			count("status=failed", 6, func(tr transferDoc) bool { return tr.Status == "failed" })
			count("path_prefix=/inbox/", 12, func(tr transferDoc) bool { return strings.HasPrefix(tr.Path, "/inbox/") })
			count("path_prefix=/inbox/f1", 4, func(tr transferDoc) bool { return strings.HasPrefix(tr.Path, "/inbox/f1") })
			since, until := t0.Add(10*time.Hour).Format(time.RFC3339), t0.Add(20*time.Hour).Format(time.RFC3339)
			count("since="+since+"&until="+until, 10, func(transferDoc) bool { return true })
			count("since="+since+"&until="+until+"&partner=other&status=ok", 4, func(tr transferDoc) bool { return tr.Status == "ok" })
			count("partner=nobody", 0, nil)

			// One row.
			var one transferDoc
			h.do("GET", "/api/v1/transfers/"+ids[4], h.auditor, nil).want(t, http.StatusOK).decode(t, &one)
			if one.ID != ids[4] || one.Path != "/inbox/f04.csv" || one.Bytes != 400 {
				t.Errorf("transfer %s: %+v", ids[4], one)
			}
			h.do("GET", "/api/v1/transfers/nope", h.auditor, nil).want(t, http.StatusNotFound).problem(t)

			// Bad filters: 400 naming each parameter.
			for q, field := range map[string]string{
				"operation=teleport": "operation", "status=maybe": "status", "since=yesterday": "since",
				"until=2025-13-01T00:00:00Z": "until", "limit=0": "limit", "limit=501": "limit", "limit=ten": "limit",
				"partner_id=x": "partner_id", "limit=1&limit=2": "limit",
				"since=2025-03-02T00:00:00Z&until=2025-03-01T00:00:00Z": "until",
			} {
				p := h.do("GET", "/api/v1/transfers?"+q, h.auditor, nil).want(t, http.StatusBadRequest).problem(t)
				if !p.hasField(field) {
					t.Errorf("%s: 400 does not name %s: %+v", q, field, p.Errors)
				}
			}
			var max pageDoc[transferDoc]
			h.do("GET", "/api/v1/transfers?limit=500", h.auditor, nil).want(t, http.StatusOK).decode(t, &max)
			if len(max.Items) != 30 || max.NextCursor != nil {
				t.Errorf("limit=500: %d rows, cursor %v", len(max.Items), max.NextCursor)
			}
		})
	}
}
