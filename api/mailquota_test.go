package api_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

type mailQuotaDoc struct {
	Bytes     int64 `json:"bytes"`
	UsedBytes int64 `json:"used_bytes"`
}

// The mailbox quota round-trips through the partner JSON (validated against
// the OpenAPI document by the harness) and shows in the mailbox summary.
func TestPartnerMailQuota(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		h := newHarnessOn(t, st, harnessOpts{})
		ctx := context.Background()
		var p struct {
			ID        string       `json:"id"`
			MailQuota mailQuotaDoc `json:"mail_quota"`
		}
		h.do("POST", "/api/v1/partners", h.admin, map[string]any{"slug": "acme", "mail_quota": map[string]any{"bytes": 1000}}).
			want(t, http.StatusCreated).decode(t, &p)
		if p.MailQuota != (mailQuotaDoc{Bytes: 1000}) {
			t.Fatalf("created: %+v", p.MailQuota)
		}
		raw := rawMail(1)
		if _, err := h.mail.Deliver(ctx, "acme", raw); err != nil {
			t.Fatal(err)
		}
		h.do("GET", "/api/v1/partners/acme", h.auditor, nil).want(t, http.StatusOK).decode(t, &p)
		if p.MailQuota != (mailQuotaDoc{Bytes: 1000, UsedBytes: int64(len(raw))}) {
			t.Fatalf("after a delivery: %+v", p.MailQuota)
		}
		var mb struct {
			Bytes int64        `json:"bytes"`
			Quota mailQuotaDoc `json:"quota"`
		}
		h.do("GET", "/api/v1/partners/acme/mailbox", h.auditor, nil).want(t, http.StatusOK).decode(t, &mb)
		if mb.Quota != p.MailQuota || mb.Bytes != int64(len(raw)) {
			t.Fatalf("summary: %+v", mb)
		}

		// Lower it below the usage: the next delivery is refused.
		h.do("PATCH", "/api/v1/partners/acme", h.admin, map[string]any{"mail_quota": map[string]any{"bytes": 10}}).
			want(t, http.StatusOK).decode(t, &p)
		if p.MailQuota.Bytes != 10 {
			t.Fatalf("patched: %+v", p.MailQuota)
		}
		if _, err := h.mail.Deliver(ctx, "acme", raw); !errors.Is(err, mailbox.ErrOverQuota) {
			t.Fatalf("over quota: %v", err)
		}
		// The FTP quota patch leaves the mailbox quota alone.
		h.do("PATCH", "/api/v1/partners/acme", h.admin, map[string]any{"quota": map[string]any{"bytes": 5}}).
			want(t, http.StatusOK).decode(t, &p)
		if p.MailQuota.Bytes != 10 {
			t.Fatalf("after an FTP quota change: %+v", p.MailQuota)
		}
		pr := h.do("PATCH", "/api/v1/partners/acme", h.admin, map[string]any{"mail_quota": map[string]any{"bytes": -1}}).
			want(t, http.StatusUnprocessableEntity).problem(t)
		if !pr.hasField("mail_quota.bytes") {
			t.Fatalf("problem: %+v", pr)
		}
		h.do("PATCH", "/api/v1/partners/acme", h.admin, map[string]any{"mail_quota": map[string]any{"used_bytes": 0}}).
			want(t, http.StatusBadRequest)
	})
}
