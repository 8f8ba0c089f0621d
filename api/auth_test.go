package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/adminauth"
	"github.com/ferryhq/ferry/store/storetest"
)

func TestAuthAndRoles(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			env := "env-admin-token-0123456789"
			h := newHarness(t, b, harnessOpts{envToken: env})

			// Health and the document need no token.
			h.do("GET", "/healthz", "", nil).want(t, http.StatusOK)
			h.do("GET", "/readyz", "", nil).want(t, http.StatusOK)
			h.do("GET", "/api/v1/openapi.json", "", nil).want(t, http.StatusOK)

			// 401: missing, malformed, unknown, revoked.
			for _, c := range []struct{ name, header, challenge string }{
				{"missing", "", `Bearer realm="ferry"`},
				{"basic", "Basic YWRtaW46YWRtaW4=", `Bearer realm="ferry", error="invalid_request"`},
				{"empty bearer", "Bearer ", `Bearer realm="ferry", error="invalid_request"`},
				{"unknown", "Bearer ferry_nope", `Bearer realm="ferry", error="invalid_token"`},
			} {
				for _, path := range []string{"/api/v1/partners", "/metrics", "/api/v1/transfers/x"} {
					r := h.do("GET", path, "", nil, "Authorization", c.header).want(t, http.StatusUnauthorized)
					r.problem(t)
					if got := r.header.Get("WWW-Authenticate"); got != c.challenge {
						t.Errorf("%s %s: WWW-Authenticate %q, want %q", c.name, path, got, c.challenge)
					}
				}
			}
			h.do("POST", "/api/v1/partners", "", map[string]any{"slug": "x"}).want(t, http.StatusUnauthorized)

			// The scheme is case-insensitive; the environment token is an admin.
			h.do("GET", "/api/v1/partners", "", nil, "Authorization", "bearer "+h.admin).want(t, http.StatusOK)
			h.do("POST", "/api/v1/partners", env, map[string]any{"slug": "by-env"}).want(t, http.StatusCreated)

			// The auditor reads everything and changes nothing (403).
			for _, path := range []string{"/api/v1/partners", "/api/v1/partners/by-env", "/api/v1/partners/by-env/accounts",
				"/api/v1/transfers", "/api/v1/sessions", "/api/v1/admin-audit", "/metrics"} {
				h.do("GET", path, h.auditor, nil).want(t, http.StatusOK)
			}
			for _, c := range []struct{ method, path string }{
				{"POST", "/api/v1/partners"}, {"PATCH", "/api/v1/partners/by-env"}, {"DELETE", "/api/v1/partners/by-env"},
				{"POST", "/api/v1/partners/by-env/accounts"}, {"PATCH", "/api/v1/partners/by-env/accounts/x"},
				{"DELETE", "/api/v1/partners/by-env/accounts/x"}, {"DELETE", "/api/v1/sessions/ftp-1"},
			} {
				var body any
				if c.method != "DELETE" {
					body = map[string]any{"slug": "nope"}
				}
				p := h.do(c.method, c.path, h.auditor, body).want(t, http.StatusForbidden).problem(t)
				if !strings.Contains(p.Detail, "auditor") {
					t.Errorf("403 detail: %q", p.Detail)
				}
			}

			// A revoked token stops working at once.
			tok, rec, err := adminauth.CreateToken(context.Background(), h.st, "short-lived", adminauth.RoleAdmin)
			if err != nil {
				t.Fatal(err)
			}
			h.do("GET", "/api/v1/partners", tok, nil).want(t, http.StatusOK)
			if err := h.st.RevokeAPIToken(context.Background(), rec.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
			h.do("GET", "/api/v1/partners", tok, nil).want(t, http.StatusUnauthorized)
			// Its use was recorded.
			tokens, err := h.st.ListAPITokens(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range tokens {
				if tk.ID == rec.ID && (tk.LastUsedAt == nil || tk.RevokedAt == nil) {
					t.Errorf("token after use and revocation: %+v", tk)
				}
			}
		})
	}
}

// Every mutating call lands in the admin audit log, refused ones too, with
// who, what, when and from where, and without passwords.
func TestAdminAudit(t *testing.T) {
	env := "env-admin-token-0123456789"
	h := newHarness(t, storetest.Backends()[0], harnessOpts{envToken: env})
	start := time.Now().Add(-time.Second)
	acme := h.createPartner("acme")
	alice := h.createAccount("acme", "alice")
	h.do("PATCH", "/api/v1/partners/acme/accounts/alice", env, map[string]any{"password": "secret passw0rd", "enabled": false}).want(t, http.StatusOK)
	h.do("POST", "/api/v1/partners", h.auditor, map[string]any{"slug": "sneaky"}).want(t, http.StatusForbidden)
	h.do("POST", "/api/v1/partners", h.admin, map[string]any{"slug": "Bad Slug"}).want(t, http.StatusUnprocessableEntity)
	h.do("DELETE", "/api/v1/partners/acme?purge=true", h.admin, nil).want(t, http.StatusNoContent)
	h.do("GET", "/api/v1/partners", h.admin, nil).want(t, http.StatusOK) // reads are not logged

	type auditRow struct {
		TokenID, TokenName, Role, Method, Path, Action, Target, RemoteAddr string
		Status                                                             int
		Detail                                                             map[string]any
		CreatedAt                                                          time.Time `json:"created_at"`
	}
	var pg pageDoc[struct {
		auditRow
		TokenID    string `json:"token_id"`
		TokenName  string `json:"token_name"`
		RemoteAddr string `json:"remote_addr"`
	}]
	h.do("GET", "/api/v1/admin-audit", h.auditor, nil).want(t, http.StatusOK).decode(t, &pg)
	want := []struct {
		action, tokenName, target string
		status                    int
	}{
		{"partner.delete", "test admin", acme.ID, 204},
		{"partner.create", "test admin", "", 422},
		{"partner.create", "test auditor", "", 403},
		{"account.update", "FERRY_ADMIN_TOKEN", alice.ID, 200},
		{"account.create", "test admin", alice.ID, 201},
		{"partner.create", "test admin", acme.ID, 201},
	}
	if len(pg.Items) != len(want) {
		t.Fatalf("admin audit has %d rows, want %d: %+v", len(pg.Items), len(want), pg.Items)
	}
	for i, w := range want {
		got := pg.Items[i]
		if got.Action != w.action || got.TokenName != w.tokenName || got.Target != w.target || got.Status != w.status ||
			got.RemoteAddr != "127.0.0.1" || got.CreatedAt.Before(start) {
			t.Errorf("row %d: %+v, want %+v", i, got, w)
		}
	}
	if got := pg.Items[3]; got.TokenID != adminauth.EnvTokenID || got.Role != "admin" || got.Method != "PATCH" ||
		got.Path != "/api/v1/partners/acme/accounts/alice" {
		t.Errorf("env token row: %+v", got)
	}
	raw, _ := json.Marshal(pg.Items[3].Detail)
	if strings.Contains(string(raw), "secret passw0rd") || !strings.Contains(string(raw), "(redacted)") || !strings.Contains(string(raw), `"enabled":false`) {
		t.Errorf("detail of a password change: %s", raw)
	}
	if q, _ := pg.Items[0].Detail["query"].(map[string]any); q["purge"] != "true" {
		t.Errorf("detail of a purge: %v", pg.Items[0].Detail)
	}
	// Filters and paging.
	var f pageDoc[auditRow]
	h.do("GET", "/api/v1/admin-audit?action=partner.create&limit=2", h.auditor, nil).want(t, http.StatusOK).decode(t, &f)
	if len(f.Items) != 2 || f.NextCursor == nil {
		t.Fatalf("action filter page 1: %+v", f)
	}
	var f2 pageDoc[auditRow]
	h.do("GET", "/api/v1/admin-audit?action=partner.create&limit=2&cursor="+*f.NextCursor, h.auditor, nil).want(t, http.StatusOK).decode(t, &f2)
	if len(f2.Items) != 1 || f2.NextCursor != nil || f2.Items[0].Status != 201 {
		t.Fatalf("action filter page 2: %+v", f2)
	}
	h.do("GET", "/api/v1/admin-audit?token="+adminauth.EnvTokenID, h.auditor, nil).want(t, http.StatusOK).decode(t, &f)
	if len(f.Items) != 1 {
		t.Errorf("token filter: %+v", f)
	}
	h.do("GET", "/api/v1/admin-audit?target="+alice.ID+"&since="+start.UTC().Format(time.RFC3339Nano), h.auditor, nil).want(t, http.StatusOK).decode(t, &f)
	if len(f.Items) != 2 {
		t.Errorf("target filter: %+v", f)
	}
	h.do("GET", "/api/v1/admin-audit?until=soon", h.auditor, nil).want(t, http.StatusBadRequest)
}
