package web_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/store"
)

// The partner list and a partner's accounts page by key (slug, username):
// Next carries the last key of the page, and following it reaches every
// row exactly once.
func TestKeysetPaging(t *testing.T) {
	e := newEnv(t, sqlite())
	ctx := context.Background()
	const nPartners, nAccounts = 120, 130 // pages of 50
	for i := range nPartners {
		p := &store.Partner{Slug: fmt.Sprintf("p%03d", i), Name: fmt.Sprintf("Partner %03d", i), Enabled: true}
		if err := e.st.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			for j := range nAccounts {
				if err := e.st.CreateAccount(ctx, &store.Account{PartnerID: p.ID, Username: fmt.Sprintf("u%03d", j),
					PasswordHash: "x", Permissions: "list", HomeDir: "/", Enabled: true}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	c := e.client()
	c.signIn(e.admin)

	follow := func(first string, row, next *regexp.Regexp, want int) {
		t.Helper()
		seen := map[string]bool{}
		path := first
		for pages := 0; path != ""; pages++ {
			if pages > want/50+1 {
				t.Fatalf("%s: too many pages", first)
			}
			r := c.get(path)
			if r.status != http.StatusOK {
				t.Fatalf("GET %s: %d", path, r.status)
			}
			for _, m := range row.FindAllStringSubmatch(r.body, -1) {
				if seen[m[1]] {
					t.Fatalf("%s: %s on two pages", first, m[1])
				}
				seen[m[1]] = true
			}
			path = ""
			if m := next.FindStringSubmatch(r.body); m != nil {
				path = strings.ReplaceAll(m[1], "&amp;", "&")
			}
		}
		if len(seen) != want {
			t.Fatalf("%s: %d rows over all pages, want %d", first, len(seen), want)
		}
	}
	follow("/partners", regexp.MustCompile(`<span class="muted mono">(p\d{3})</span>`),
		regexp.MustCompile(`<a href="(/partners\?q=&amp;after=p\d{3})">Next</a>`), nPartners)
	follow("/partners/p000", regexp.MustCompile(`<td data-label="Username" class="mono">(u\d{3})`),
		regexp.MustCompile(`<a href="(/partners/p000\?accounts_after=u\d{3})#accounts">Next accounts</a>`), nAccounts)
}
