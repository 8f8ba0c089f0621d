package api_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/store/storetest"
)

func TestPartnerLifecycle(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b, harnessOpts{})

			// Create: 201 with Location and ETag; defaults filled in.
			r := h.do("POST", "/api/v1/partners", h.admin, map[string]any{
				"slug": "acme", "name": "ACME Corp", "contacts": []string{"ops@acme.example", "it@acme.example"},
				"quota": map[string]any{"bytes": 1 << 30}, "allowed_cidrs": []string{"203.0.113.7", "198.51.100.0/24"},
			}).want(t, http.StatusCreated)
			var p partnerDoc
			r.decode(t, &p)
			if p.Slug != "acme" || p.Name != "ACME Corp" || !p.Enabled || p.TLSRequired || p.Quota.Bytes != 1<<30 || p.Quota.Files != 0 ||
				!slices.Equal(p.Contacts, []string{"it@acme.example", "ops@acme.example"}) ||
				!slices.Equal(p.AllowedCIDRs, []string{"203.0.113.7/32", "198.51.100.0/24"}) {
				t.Fatalf("created partner: %+v", p)
			}
			if loc := r.header.Get("Location"); loc != "/api/v1/partners/"+p.ID {
				t.Errorf("Location %q", loc)
			}
			etag := r.header.Get("ETag")
			if fi, err := os.Stat(filepath.Join(h.files, "acme")); err != nil || !fi.IsDir() {
				t.Errorf("partner folder not created: %v", err)
			}

			// Read by ID and by slug: same representation, same ETag.
			byID := h.do("GET", "/api/v1/partners/"+p.ID, h.auditor, nil).want(t, http.StatusOK)
			bySlug := h.do("GET", "/api/v1/partners/acme", h.auditor, nil).want(t, http.StatusOK)
			if byID.header.Get("ETag") != etag || bySlug.header.Get("ETag") != etag || string(byID.body) != string(r.body) {
				t.Fatalf("GET differs from the create reply:\n%s\n%s (%s vs %s)", byID.body, r.body, byID.header.Get("ETag"), etag)
			}

			// Duplicate slug: 409.
			h.do("POST", "/api/v1/partners", h.admin, map[string]any{"slug": "acme"}).want(t, http.StatusConflict).problem(t)

			// PATCH with the current ETag changes only the given fields.
			r = h.do("PATCH", "/api/v1/partners/"+p.ID, h.admin, map[string]any{
				"name": "ACME Corporation", "contacts": []string{"it@acme.example", "new@acme.example"},
				"quota": map[string]any{"files": 1000}, "tls_required": true, "totp_required": true,
			}, "If-Match", etag).want(t, http.StatusOK)
			var p2 partnerDoc
			r.decode(t, &p2)
			if p2.Name != "ACME Corporation" || !p2.TLSRequired || !p2.TOTPRequired || p.TOTPRequired || p2.Quota.Bytes != 1<<30 || p2.Quota.Files != 1000 ||
				!slices.Equal(p2.Contacts, []string{"it@acme.example", "new@acme.example"}) || len(p2.AllowedCIDRs) != 2 ||
				!p2.UpdatedAt.After(p.UpdatedAt) || !p2.CreatedAt.Equal(p.CreatedAt) {
				t.Fatalf("patched partner: %+v", p2)
			}
			etag2 := r.header.Get("ETag")
			if etag2 == etag || h.do("GET", "/api/v1/partners/acme", h.admin, nil).header.Get("ETag") != etag2 {
				t.Fatalf("ETag after PATCH: %s (was %s)", etag2, etag)
			}
			// The stale ETag: 412, and nothing changes.
			h.do("PATCH", "/api/v1/partners/"+p.ID, h.admin, map[string]any{"name": "Lost update"}, "If-Match", etag).
				want(t, http.StatusPreconditionFailed).problem(t)
			h.do("DELETE", "/api/v1/partners/"+p.ID, h.admin, nil, "If-Match", etag).want(t, http.StatusPreconditionFailed)
			var now partnerDoc
			h.do("GET", "/api/v1/partners/"+p.ID, h.admin, nil).want(t, http.StatusOK).decode(t, &now)
			if now.Name != "ACME Corporation" {
				t.Fatalf("a refused PATCH changed the partner: %+v", now)
			}
			// Empty lists clear; * matches any ETag; merge-patch content type.
			h.do("PATCH", "/api/v1/partners/acme", h.admin, `{"allowed_cidrs": [], "enabled": false}`,
				"If-Match", "*", "Content-Type", "application/merge-patch+json").want(t, http.StatusOK).decode(t, &now)
			if len(now.AllowedCIDRs) != 0 || now.Enabled {
				t.Fatalf("after clearing ranges and disabling: %+v", now)
			}

			// Invalid changes: 422 listing every bad field; the slug is fixed.
			pr := h.do("PATCH", "/api/v1/partners/acme", h.admin, map[string]any{
				"slug": "acme2", "contacts": []string{"not an address"}, "quota": map[string]any{"bytes": -1},
				"allowed_cidrs": []string{"10.0.0.0/33"}, "name": "",
			}).want(t, http.StatusUnprocessableEntity).problem(t)
			for _, f := range []string{"slug", "contacts[0]", "quota.bytes", "allowed_cidrs[0]", "name"} {
				if !pr.hasField(f) {
					t.Errorf("422 does not name %s: %+v", f, pr.Errors)
				}
			}
			h.do("PATCH", "/api/v1/partners/acme", h.admin, map[string]any{"slug": "acme"}).want(t, http.StatusOK)

			// List: filter by name, page by cursor.
			for _, s := range []string{"beta", "gamma", "delta", "acme-two"} {
				h.createPartner(s)
			}
			var pg pageDoc[partnerDoc]
			h.do("GET", "/api/v1/partners?q=ACME", h.auditor, nil).want(t, http.StatusOK).decode(t, &pg)
			if len(pg.Items) != 2 || pg.Items[0].Slug != "acme" || pg.Items[1].Slug != "acme-two" || pg.NextCursor != nil {
				t.Fatalf("q=ACME: %+v", pg)
			}
			var slugs []string
			path := "/api/v1/partners?limit=2"
			for pages := 0; ; pages++ {
				var pg pageDoc[partnerDoc]
				h.do("GET", path, h.auditor, nil).want(t, http.StatusOK).decode(t, &pg)
				if len(pg.Items) > 2 || pages > 5 {
					t.Fatalf("page %d: %+v", pages, pg)
				}
				for _, it := range pg.Items {
					slugs = append(slugs, it.Slug)
				}
				if pg.NextCursor == nil {
					break
				}
				path = "/api/v1/partners?limit=2&cursor=" + *pg.NextCursor
			}
			if strings.Join(slugs, ",") != "acme,acme-two,beta,delta,gamma" {
				t.Fatalf("paged slugs: %v", slugs)
			}

			// Delete: a partner with files needs purge=true.
			if err := os.WriteFile(filepath.Join(h.files, "acme", "report.csv"), []byte("a,b\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			h.do("DELETE", "/api/v1/partners/acme", h.admin, nil).want(t, http.StatusConflict).problem(t)
			h.do("DELETE", "/api/v1/partners/acme?purge=maybe", h.admin, nil).want(t, http.StatusBadRequest)
			h.do("DELETE", "/api/v1/partners/acme?purge=true", h.admin, nil).want(t, http.StatusNoContent)
			if _, err := os.Stat(filepath.Join(h.files, "acme")); !os.IsNotExist(err) {
				t.Errorf("purged folder still there: %v", err)
			}
			h.do("GET", "/api/v1/partners/"+p.ID, h.admin, nil).want(t, http.StatusNotFound).problem(t)
			h.do("DELETE", "/api/v1/partners/"+p.ID, h.admin, nil).want(t, http.StatusNotFound)
			h.do("PATCH", "/api/v1/partners/"+p.ID, h.admin, map[string]any{"name": "x"}).want(t, http.StatusNotFound)
			// Without files no purge is needed.
			h.do("DELETE", "/api/v1/partners/beta", h.admin, nil).want(t, http.StatusNoContent)
		})
	}
}

func TestPartnerValidation(t *testing.T) {
	h := newHarness(t, storetest.Backends()[0], harnessOpts{})
	p := h.do("POST", "/api/v1/partners", h.admin, map[string]any{
		"slug": "Not A Slug", "contacts": []string{"ok@example.com", "Bob <bob@example.com>", "ok@example.com"},
		"quota": map[string]any{"bytes": -5, "files": -1}, "allowed_cidrs": []string{"nonsense"},
	}).want(t, http.StatusUnprocessableEntity).problem(t)
	for _, f := range []string{"slug", "contacts[1]", "contacts[2]", "quota.bytes", "quota.files", "allowed_cidrs[0]"} {
		if !p.hasField(f) {
			t.Errorf("422 does not name %s: %+v", f, p.Errors)
		}
	}
	h.do("POST", "/api/v1/partners", h.admin, map[string]any{}).want(t, http.StatusUnprocessableEntity)
	// Usage is read-only: it is not a field of the input.
	p = h.do("POST", "/api/v1/partners", h.admin, map[string]any{"slug": "x", "quota": map[string]any{"used_bytes": 0}}).
		want(t, http.StatusBadRequest).problem(t)
	if !p.hasField("used_bytes") {
		t.Errorf("400 does not name used_bytes: %+v", p)
	}
	var created partnerDoc
	h.do("POST", "/api/v1/partners", h.admin, map[string]any{"slug": "off", "enabled": false, "name": "  Spaces  "}).
		want(t, http.StatusCreated).decode(t, &created)
	if created.Enabled || created.Name != "Spaces" || created.Contacts == nil || created.AllowedCIDRs == nil {
		t.Errorf("created: %+v", created)
	}
}
