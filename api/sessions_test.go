package api_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/store/storetest"
)

type sessionDoc struct {
	ID               string    `json:"id"`
	Protocol         string    `json:"protocol"`
	RemoteAddr       string    `json:"remote_addr"`
	Username         *string   `json:"username"`
	AccountID        *string   `json:"account_id"`
	PartnerID        *string   `json:"partner_id"`
	PartnerSlug      *string   `json:"partner_slug"`
	StartedAt        time.Time `json:"started_at"`
	TransfersRunning int64     `json:"transfers_running"`
	Bytes            *int64    `json:"bytes"`
}

func TestSessions(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b, harnessOpts{})
			acme := h.createPartner("acme")
			alice := h.createAccount("acme", "alice")
			h.createPartner("other")

			var empty struct{ Items []sessionDoc }
			h.do("GET", "/api/v1/sessions", h.auditor, nil).want(t, http.StatusOK).decode(t, &empty)
			if len(empty.Items) != 0 {
				t.Fatalf("sessions before any login: %+v", empty)
			}
			c, err := h.dialFTP("alice", ftpPassword)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Stor("a.txt", strings.NewReader("twelve bytes")); err != nil {
				t.Fatal(err)
			}
			var list struct{ Items []sessionDoc }
			h.do("GET", "/api/v1/sessions?partner=acme", h.auditor, nil).want(t, http.StatusOK).decode(t, &list)
			if len(list.Items) != 1 {
				t.Fatalf("sessions: %+v", list)
			}
			s := list.Items[0]
			if !strings.HasPrefix(s.ID, "ftp-") || s.Protocol != "ftp" || !strings.HasPrefix(s.RemoteAddr, "127.0.0.1:") ||
				s.Username == nil || *s.Username != "alice" || s.AccountID == nil || *s.AccountID != alice.ID ||
				s.PartnerID == nil || *s.PartnerID != acme.ID || s.PartnerSlug == nil || *s.PartnerSlug != "acme" ||
				time.Since(s.StartedAt) > time.Minute || s.Bytes == nil || *s.Bytes != 12 {
				t.Fatalf("session: %+v", s)
			}
			for q, n := range map[string]int{"partner=" + acme.ID: 1, "partner=other": 0, "account=alice": 1, "account=" + alice.ID: 1, "account=bob": 0} {
				h.do("GET", "/api/v1/sessions?"+q, h.auditor, nil).want(t, http.StatusOK).decode(t, &list)
				if len(list.Items) != n {
					t.Errorf("sessions?%s: %d, want %d", q, len(list.Items), n)
				}
			}

			// Metrics see the session, the upload and the partners. The login's
			// audit row is written in the background, within moments, and so
			// is the upload marked done (after its 226).
			r := h.do("GET", "/metrics", h.auditor, nil).want(t, http.StatusOK)
			testenv.Eventually(t, 5*time.Second, func() error {
				if r = h.do("GET", "/metrics", h.auditor, nil).want(t, http.StatusOK); !bytes.Contains(r.body, []byte("ferry_logins_total{status=\"ok\"} 1\n")) {
					return errors.New("metrics do not count the login yet")
				}
				if !bytes.Contains(r.body, []byte("ferry_transfers_total{operation=\"upload\",status=\"ok\"} 1\n")) {
					return errors.New("metrics do not count the upload yet")
				}
				return nil
			})
			for _, line := range []string{
				`ferry_sessions{protocol="ftp"} 1`,
				`ferry_partners{state="enabled"} 2`,
				`ferry_accounts{state="enabled"} 1`,
				`ferry_transfers_total{operation="upload",status="ok"} 1`,
				`ferry_transfers_total{operation="download",status="failed"} 0`,
				`ferry_transfer_bytes_total{operation="upload"} 12`,
				`ferry_transfer_failures_total{operation="upload"} 0`,
				`ferry_logins_total{status="ok"} 1`,
				`ferry_bans_active 0`,
			} {
				if !bytes.Contains(r.body, []byte(line+"\n")) {
					t.Errorf("metrics lack %q", line)
				}
			}
			if !regexp.MustCompile(`ferry_http_requests_total\{code="200",method="GET",route="/api/v1/sessions"\} \d+`).Match(r.body) {
				t.Errorf("metrics lack the API's request counter:\n%s", r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("metrics Content-Type %q", ct)
			}

			// Kick it.
			h.do("DELETE", "/api/v1/sessions/"+s.ID, h.admin, nil).want(t, http.StatusNoContent)
			waitClosed(t, c)
			h.do("DELETE", "/api/v1/sessions/"+s.ID, h.admin, nil).want(t, http.StatusNotFound)
			h.do("DELETE", "/api/v1/sessions/nonsense", h.admin, nil).want(t, http.StatusNotFound)
			testenv.Eventually(t, 5*time.Second, func() error {
				h.do("GET", "/api/v1/sessions", h.auditor, nil).want(t, http.StatusOK).decode(t, &list)
				if len(list.Items) != 0 {
					return fmt.Errorf("kicked session still listed: %+v", list)
				}
				return nil
			})
		})
	}
}
