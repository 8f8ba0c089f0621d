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

func TestAccountLifecycle(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b, harnessOpts{})
			acme := h.createPartner("acme")
			h.createPartner("other")
			base := "/api/v1/partners/" + acme.ID + "/accounts"

			// Without a password one is generated and shown once.
			r := h.do("POST", base, h.admin, map[string]any{
				"username": "alice", "home_dir": "inbox", "permissions": []string{"list", "upload", "mail"},
			}).want(t, http.StatusCreated)
			var alice accountDoc
			r.decode(t, &alice)
			if len(alice.Password) < 16 || alice.Username != "alice" || alice.PartnerID != acme.ID || alice.HomeDir != "/inbox" ||
				!slices.Equal(alice.Permissions, []string{"list", "upload", "mail"}) || !alice.Enabled || alice.LastLoginAt != nil {
				t.Fatalf("created account: %+v", alice)
			}
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Location") != base+"/"+alice.ID {
				t.Errorf("headers of a reply with a password: %v", r.header)
			}
			if fi, err := os.Stat(filepath.Join(h.files, "acme", "inbox")); err != nil || !fi.IsDir() {
				t.Errorf("home folder: %v", err)
			}
			// The password is never shown again.
			g := h.do("GET", base+"/"+alice.ID, h.auditor, nil).want(t, http.StatusOK)
			var got accountDoc
			g.decode(t, &got)
			if got.Password != "" || g.header.Get("ETag") != r.header.Get("ETag") {
				t.Fatalf("GET account: %s (ETag %s, created %s)", g.body, g.header.Get("ETag"), r.header.Get("ETag"))
			}
			c, err := h.dialFTP("alice", alice.Password)
			if err != nil {
				t.Fatalf("FTP login with the generated password: %v", err)
			}
			_ = c.Quit()
			h.do("GET", "/api/v1/partners/acme/accounts/%61lice", h.auditor, nil).want(t, http.StatusOK).decode(t, &got)
			if got.LastLoginAt == nil {
				t.Errorf("last_login_at not set after a login: %+v", got)
			}

			// A chosen password; defaults for the rest.
			bob := h.createAccount("acme", "bob")
			if bob.Password != "" || bob.HomeDir != "/" || len(bob.Permissions) != 8 {
				t.Fatalf("created bob: %+v", bob)
			}
			var list struct{ Items []accountDoc }
			h.do("GET", base, h.auditor, nil).want(t, http.StatusOK).decode(t, &list)
			if len(list.Items) != 2 || list.Items[0].Username != "alice" || list.Items[1].Username != "bob" {
				t.Fatalf("list: %+v", list)
			}
			// Conflicts, invalid input, accounts of another partner.
			h.do("POST", "/api/v1/partners/other/accounts", h.admin, map[string]any{"username": "bob", "password": ftpPassword}).
				want(t, http.StatusConflict).problem(t)
			p := h.do("POST", base, h.admin, map[string]any{"username": "-bad", "password": "short", "home_dir": "a\\b", "permissions": []string{"fly"}}).
				want(t, http.StatusUnprocessableEntity).problem(t)
			if !p.hasField("permissions") {
				t.Errorf("422: %+v", p)
			}
			p = h.do("POST", base, h.admin, map[string]any{"username": "-bad", "password": "short", "home_dir": "a\\b"}).
				want(t, http.StatusUnprocessableEntity).problem(t)
			for _, f := range []string{"username", "password", "home_dir"} {
				if !p.hasField(f) {
					t.Errorf("422 does not name %s: %+v", f, p)
				}
			}
			h.do("POST", base, h.admin, map[string]any{"username": "carol", "password": ""}).want(t, http.StatusUnprocessableEntity)
			h.do("POST", base, h.admin, map[string]any{"username": "carol", "permissions": []string{}}).want(t, http.StatusUnprocessableEntity)
			h.do("POST", "/api/v1/partners/nobody/accounts", h.admin, map[string]any{"username": "carol"}).want(t, http.StatusNotFound)
			h.do("GET", "/api/v1/partners/other/accounts/"+bob.ID, h.admin, nil).want(t, http.StatusNotFound).problem(t)
			h.do("GET", "/api/v1/partners/nobody/accounts", h.admin, nil).want(t, http.StatusNotFound)

			// Rotation: a generated password replaces the old one at once.
			c, err = h.dialFTP("bob", ftpPassword)
			if err != nil {
				t.Fatal(err)
			}
			_ = c.Quit()
			var rotated accountDoc
			r = h.do("PATCH", base+"/bob", h.admin, map[string]any{"generate_password": true}).want(t, http.StatusOK)
			r.decode(t, &rotated)
			if len(rotated.Password) < 16 || rotated.ID != bob.ID {
				t.Fatalf("rotation reply: %s", r.body)
			}
			if _, err := h.dialFTP("bob", ftpPassword); err == nil {
				t.Fatal("the old password still logs in after rotation")
			}
			if _, err := h.dialFTP("bob", rotated.Password); err != nil {
				t.Fatalf("the rotated password: %v", err)
			}
			// And a chosen one, with If-Match.
			etag := h.do("GET", base+"/bob", h.admin, nil).header.Get("ETag")
			r = h.do("PATCH", base+"/bob", h.admin, map[string]any{"password": "another passw0rd"}, "If-Match", etag).want(t, http.StatusOK)
			var chosen accountDoc
			r.decode(t, &chosen)
			if chosen.Password != "" {
				t.Errorf("a chosen password is echoed: %s", r.body)
			}
			h.do("PATCH", base+"/bob", h.admin, map[string]any{"enabled": false}, "If-Match", etag).want(t, http.StatusPreconditionFailed)
			h.do("PATCH", base+"/bob", h.admin, map[string]any{"password": "x", "generate_password": true}).want(t, http.StatusUnprocessableEntity)
			h.do("PATCH", base+"/bob", h.admin, map[string]any{"username": "alice"}).want(t, http.StatusConflict)
			h.do("PATCH", base+"/bob", h.admin, map[string]any{"permissions": []string{}}).want(t, http.StatusUnprocessableEntity)

			// Disabling closes the live session and refuses new logins.
			live, err := h.dialFTP("bob", "another passw0rd")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := live.List("/"); err != nil {
				t.Fatal(err)
			}
			var off accountDoc
			h.do("PATCH", base+"/"+bob.ID, h.admin, map[string]any{"enabled": false, "permissions": []string{"list", "download"}, "home_dir": "/out"}).
				want(t, http.StatusOK).decode(t, &off)
			if off.Enabled || off.HomeDir != "/out" || !slices.Equal(off.Permissions, []string{"list", "download"}) {
				t.Fatalf("after PATCH: %+v", off)
			}
			waitClosed(t, live)
			if _, err := h.dialFTP("bob", "another passw0rd"); err == nil {
				t.Fatal("a disabled account logs in")
			}
			h.do("PATCH", base+"/bob", h.admin, map[string]any{"enabled": true}).want(t, http.StatusOK)
			if _, err := h.dialFTP("bob", "another passw0rd"); err != nil {
				t.Fatalf("re-enabled account: %v", err)
			}

			// Disabling the partner closes its accounts' sessions too.
			live, err = h.dialFTP("alice", alice.Password)
			if err != nil {
				t.Fatal(err)
			}
			h.do("PATCH", "/api/v1/partners/acme", h.admin, map[string]any{"enabled": false}).want(t, http.StatusOK)
			waitClosed(t, live)
			h.do("PATCH", "/api/v1/partners/acme", h.admin, map[string]any{"enabled": true}).want(t, http.StatusOK)

			// Deleting closes the session and the login is gone.
			live, err = h.dialFTP("bob", "another passw0rd")
			if err != nil {
				t.Fatal(err)
			}
			h.do("DELETE", base+"/bob", h.admin, nil, "If-Match", `W/"weak"`).want(t, http.StatusPreconditionFailed)
			h.do("DELETE", base+"/bob", h.admin, nil).want(t, http.StatusNoContent)
			waitClosed(t, live)
			h.do("GET", base+"/bob", h.admin, nil).want(t, http.StatusNotFound)
			h.do("DELETE", base+"/bob", h.admin, nil).want(t, http.StatusNotFound)
			if _, err := h.dialFTP("bob", "another passw0rd"); err == nil {
				t.Fatal("a deleted account logs in")
			}
		})
	}
}

// A home folder through a symbolic link that leads out of the partner's
// tree is refused with 422 naming home_dir, on create and on update, and
// nothing is stored: no account is created, the old home stays, and the
// account still logs in.
func TestAccountHomeThroughSymlinkOutOfTree(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b, harnessOpts{})
			acme := h.createPartner("acme")
			base := "/api/v1/partners/" + acme.ID + "/accounts"
			outside := t.TempDir()
			if err := os.MkdirAll(filepath.Join(h.files, "acme"), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(h.files, "acme", "out")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(h.files, "acme", "note.txt"), []byte("x"), 0o640); err != nil {
				t.Fatal(err)
			}
			for _, home := range []string{"out", "/out/inbox", "note.txt/in"} {
				p := h.do("POST", base, h.admin, map[string]any{"username": "mallory", "password": ftpPassword, "home_dir": home}).
					want(t, http.StatusUnprocessableEntity).problem(t)
				if !p.hasField("home_dir") || len(p.Errors) != 1 {
					t.Errorf("home %q: %+v", home, p)
				}
				for _, f := range p.Errors {
					if strings.Contains(f.Message, h.files) || strings.Contains(f.Message, outside) {
						t.Errorf("the reason names a server path: %q", f.Message)
					}
				}
			}
			var list struct{ Items []accountDoc }
			h.do("GET", base, h.auditor, nil).want(t, http.StatusOK).decode(t, &list)
			if len(list.Items) != 0 {
				t.Fatalf("a refused create stored an account: %+v", list.Items)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Fatalf("a folder was made outside the tree: %v", entries)
			}

			bob := h.createAccount("acme", "bob")
			p := h.do("PATCH", base+"/"+bob.ID, h.admin, map[string]any{"home_dir": "out/inbox", "username": "robert"}).
				want(t, http.StatusUnprocessableEntity).problem(t)
			if !p.hasField("home_dir") {
				t.Errorf("update: %+v", p)
			}
			var got accountDoc
			h.do("GET", base+"/"+bob.ID, h.auditor, nil).want(t, http.StatusOK).decode(t, &got)
			if got.HomeDir != "/" || got.Username != "bob" {
				t.Fatalf("a refused update changed the account: %+v", got)
			}
			c, err := h.dialFTP("bob", ftpPassword)
			if err != nil {
				t.Fatalf("login after a refused update: %v", err)
			}
			_ = c.Quit()
			// A link that stays inside the tree is a folder like any other.
			if err := os.Mkdir(filepath.Join(h.files, "acme", "real"), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("real", filepath.Join(h.files, "acme", "alias")); err != nil {
				t.Fatal(err)
			}
			h.do("PATCH", base+"/"+bob.ID, h.admin, map[string]any{"home_dir": "alias/in"}).want(t, http.StatusOK)
		})
	}
}

// A partner's accounts come a page at a time by username (keyset paging);
// next_cursor is null on the last page and a malformed cursor is a 400.
func TestAccountsPaged(t *testing.T) {
	h := newHarness(t, storetest.Backends()[0], harnessOpts{})
	h.createPartner("acme")
	want := []string{"ann", "bea", "cid", "dan", "eve"}
	for _, u := range []string{"eve", "cid", "ann", "dan", "bea"} {
		h.createAccount("acme", u)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatalf("more pages than expected: %v", got)
		}
		var page struct {
			Items      []accountDoc
			NextCursor *string `json:"next_cursor"`
		}
		h.do("GET", "/api/v1/partners/acme/accounts?limit=2&cursor="+cursor, h.auditor, nil).want(t, http.StatusOK).decode(t, &page)
		for _, a := range page.Items {
			got = append(got, a.Username)
		}
		if page.NextCursor == nil {
			if len(page.Items) != 1 {
				t.Errorf("last page has %d accounts, want 1", len(page.Items))
			}
			break
		}
		if len(page.Items) != 2 {
			t.Fatalf("page of %d accounts, want 2", len(page.Items))
		}
		cursor = *page.NextCursor
	}
	if !slices.Equal(got, want) {
		t.Fatalf("accounts %v, want %v", got, want)
	}
	p := h.do("GET", "/api/v1/partners/acme/accounts?cursor=%20bad", h.auditor, nil).want(t, http.StatusBadRequest).problem(t)
	if !p.hasField("cursor") {
		t.Errorf("problem does not name cursor: %+v", p)
	}
}
