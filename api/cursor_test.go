package api_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// A malformed cursor on any list is a 400 problem naming cursor (it used
// to match nothing and answer 200 with an empty page); a cursor of the
// right form is a page, even past the end.
func TestMalformedCursorIs400(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b, harnessOpts{})
			h.createPartner("acme")
			h.createPartner("beta")
			anyList := []string{"!!", "x y", "' OR 1=1 --", "a\x00b", "NEXT"}
			lists := []struct {
				path       string
				malformed  []string
				wellFormed string
			}{
				{"/api/v1/partners", append([]string{"Acme", "-acme"}, anyList...), "zzz"},
				{"/api/v1/transfers", append([]string{"acme", "12345"}, anyList...), store.NewID()},
				{"/api/v1/admin-audit", append([]string{"acme", "{" + store.NewID() + "}"}, anyList...), store.NewID()},
				{"/api/v1/notifications", append([]string{"acme", "urn:uuid:" + store.NewID()}, anyList...), store.NewID()},
				{"/api/v1/partners/acme/mailbox/messages", append([]string{"0", "-3", "07"}, anyList...), "99"},
			}
			for _, l := range lists {
				for _, c := range l.malformed {
					p := h.do("GET", l.path+"?cursor="+url.QueryEscape(c), h.auditor, nil).want(t, http.StatusBadRequest).problem(t)
					if !p.hasField("cursor") {
						t.Errorf("%s cursor %q: 400 does not name cursor: %+v", l.path, c, p)
					}
				}
				var pg struct {
					Items      []map[string]any `json:"items"`
					NextCursor *string          `json:"next_cursor"`
				}
				h.do("GET", l.path+"?cursor="+url.QueryEscape(l.wellFormed), h.auditor, nil).want(t, http.StatusOK).decode(t, &pg)
				if pg.NextCursor != nil {
					t.Errorf("%s: a page past the end has a next_cursor %q", l.path, *pg.NextCursor)
				}
			}
			// The cursors the lists hand out are taken back.
			var pg struct {
				NextCursor *string `json:"next_cursor"`
			}
			h.do("GET", "/api/v1/partners?limit=1", h.auditor, nil).want(t, http.StatusOK).decode(t, &pg)
			if pg.NextCursor == nil {
				t.Fatal("no next_cursor with two partners and limit=1")
			}
			h.do("GET", "/api/v1/partners?limit=1&cursor="+url.QueryEscape(*pg.NextCursor), h.auditor, nil).want(t, http.StatusOK)
			h.do("GET", "/api/v1/admin-audit?limit=1", h.auditor, nil).want(t, http.StatusOK).decode(t, &pg)
			if pg.NextCursor == nil {
				t.Fatal("no admin-audit next_cursor after two changes and limit=1")
			}
			h.do("GET", "/api/v1/admin-audit?limit=1&cursor="+url.QueryEscape(*pg.NextCursor), h.auditor, nil).want(t, http.StatusOK)
		})
	}
}
