package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// Every class of error the API answers, each a problem document (the
// validating transport checks them against the OpenAPI document).
func TestErrorClasses(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b, harnessOpts{maxBody: 256})
			h.createPartner("acme")
			etag := h.do("GET", "/api/v1/partners/acme", h.admin, nil).header.Get("ETag")
			for _, c := range []struct {
				name         string
				method, path string
				body         any
				hdr          []string
				status       int
				field        string // a field the problem must name
				detail       string // a part of the detail
			}{
				{"cut short", "POST", "/api/v1/partners", `{"slug":`, nil, 400, "", "cut short"},
				{"syntax", "POST", "/api/v1/partners", `{"slug": "a",}`, nil, 400, "", "malformed JSON"},
				{"wrong type", "POST", "/api/v1/partners", `{"slug": 5}`, nil, 400, "slug", ""},
				{"nested wrong type", "POST", "/api/v1/partners", `{"slug": "b", "quota": {"bytes": "lots"}}`, nil, 400, "quota.bytes", ""},
				{"unknown field", "POST", "/api/v1/partners", `{"slug": "b", "colour": "red"}`, nil, 400, "colour", ""},
				{"two objects", "POST", "/api/v1/partners", `{"slug": "b"} {"slug": "c"}`, nil, 400, "", "one JSON object"},
				{"not an object", "POST", "/api/v1/partners", `["b"]`, nil, 400, "", "JSON object"},
				{"empty body", "POST", "/api/v1/partners", "", nil, 400, "", "empty"},
				{"unknown query parameter", "GET", "/api/v1/partners?sort=name", nil, nil, 400, "sort", ""},
				{"too large", "POST", "/api/v1/partners", `{"slug": "` + strings.Repeat("x", 300) + `"}`, nil, 413, "", "larger than 256 bytes"},
				{"not JSON", "POST", "/api/v1/partners", "slug=b", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "", "application/json"},
				{"no content type", "PATCH", "/api/v1/partners/acme", `{}`, []string{"Content-Type", ""}, 415, "", ""},
				{"invalid", "POST", "/api/v1/partners", `{"slug": "B A D"}`, nil, 422, "slug", ""},
				{"unknown partner", "GET", "/api/v1/partners/nobody", nil, nil, 404, "", "nobody"},
				{"unknown account", "PATCH", "/api/v1/partners/acme/accounts/nobody", `{}`, nil, 404, "", "nobody"},
				{"unknown session", "DELETE", "/api/v1/sessions/ftp-999", nil, nil, 404, "", "ftp-999"},
				{"unknown route", "GET", "/api/v1/nowhere", nil, nil, 404, "", ""},
				{"unknown method", "PUT", "/api/v1/partners/acme", `{}`, nil, 405, "", ""},
				{"conflict", "POST", "/api/v1/partners", `{"slug": "acme"}`, nil, 409, "", "already exists"},
				{"precondition", "PATCH", "/api/v1/partners/acme", `{"name": "x"}`, []string{"If-Match", `"0000"`}, 412, "", "If-Match"},
				{"weak never matches", "PATCH", "/api/v1/partners/acme", `{"name": "x"}`, []string{"If-Match", "W/" + etag}, 412, "", ""},
			} {
				t.Run(c.name, func(t *testing.T) {
					r := h.do(c.method, c.path, h.admin, c.body, c.hdr...).want(t, c.status)
					p := r.problem(t)
					if p.Type != "about:blank" || p.Title != http.StatusText(c.status) || p.Instance != strings.Split(c.path, "?")[0] {
						t.Errorf("problem: %+v", p)
					}
					if c.field != "" && !p.hasField(c.field) {
						t.Errorf("problem does not name %s: %+v", c.field, p)
					}
					if !strings.Contains(p.Detail, c.detail) {
						t.Errorf("detail %q does not say %q", p.Detail, c.detail)
					}
				})
			}
			if allow := h.do("PUT", "/api/v1/partners/acme", h.admin, `{}`).header.Get("Allow"); !strings.Contains(allow, "PATCH") || !strings.Contains(allow, "DELETE") {
				t.Errorf("405 Allow: %q", allow)
			}
			// Nothing of the refused requests was stored.
			var pg pageDoc[partnerDoc]
			h.do("GET", "/api/v1/partners", h.admin, nil).want(t, http.StatusOK).decode(t, &pg)
			if len(pg.Items) != 1 || pg.Items[0].Name != "acme" {
				t.Errorf("partners after refused requests: %+v", pg.Items)
			}

			// The database goes away: 500 without internals, 503 from /readyz.
			h.st.Close()
			p := h.do("GET", "/api/v1/partners", h.admin, nil).want(t, http.StatusInternalServerError).problem(t)
			if strings.Contains(p.Detail, "sql") || strings.Contains(p.Detail, "database") {
				t.Errorf("500 shows internals: %q", p.Detail)
			}
			var ready struct {
				Status string
				Checks map[string]string
			}
			h.do("GET", "/readyz", "", nil).want(t, http.StatusServiceUnavailable).decode(t, &ready)
			if ready.Status != "unavailable" || ready.Checks["database"] != "failed" {
				t.Errorf("readyz: %+v", ready)
			}
			h.do("GET", "/healthz", "", nil).want(t, http.StatusOK)
		})
	}
}

func TestOpenAPIDocument(t *testing.T) {
	h := newHarness(t, storetest.Backends()[0], harnessOpts{})
	// specValidator (in newHarness) has checked it against the OpenAPI 3.1
	// schema; the server serves exactly the embedded document.
	r := h.do("GET", "/api/v1/openapi.json", "", nil).want(t, http.StatusOK)
	if !bytes.Equal(r.body, api.OpenAPI()) {
		t.Fatal("served document differs from the embedded one")
	}
	if !bytes.Contains(r.body, []byte(`"openapi": "3.1.0"`)) {
		t.Fatal("not an OpenAPI 3.1 document")
	}
	// The enums of the document follow the code they describe.
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum  []string `json:"enum"`
					Items struct {
						Enum []string `json:"enum"`
					} `json:"items"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc.Components.Schemas
	if got := schemas["Account"].Properties["permissions"].Items.Enum; !slices.Equal(got, partners.PermNames()) {
		t.Errorf("Account.permissions enum %v, partners.PermNames() %v", got, partners.PermNames())
	}
	if got := schemas["AccountCreate"].Properties["permissions"].Items.Enum; !slices.Equal(got, append(partners.PermNames(), "all")) {
		t.Errorf("AccountCreate.permissions enum %v", got)
	}
	ops := []string{store.OpLogin, store.OpUpload, store.OpDownload, store.OpDelete, store.OpRename, store.OpMkdir, store.OpRmdir}
	if got := schemas["Transfer"].Properties["operation"].Enum; !slices.Equal(got, ops) {
		t.Errorf("Transfer.operation enum %v, want %v", got, ops)
	}
	if got := schemas["Transfer"].Properties["status"].Enum; !slices.Equal(got, []string{store.StatusOK, store.StatusFailed, store.StatusCommitting}) {
		t.Errorf("Transfer.status enum %v", got)
	}
}
