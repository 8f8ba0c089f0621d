package web_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/web"
)

// addUser creates an admin user as `ferry admin create` does.
func (e *env) addUser(name, pw, role string) *store.AdminUser {
	e.t.Helper()
	h, err := e.svc.HashPassword(context.Background(), pw)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &store.AdminUser{Username: name, PasswordHash: h, Role: role}
	if err := e.st.CreateAdminUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// signInUser posts the username form; it returns the response.
func (c *client) signInUser(user, pw string) resp {
	c.t.Helper()
	return c.post("/login", "/login", url.Values{"username": {user}, "password": {pw}})
}

// failures is how many failed logins the guard holds for 127.0.0.1
// (counting one more, which this records).
func failures(t *testing.T, e *env) int64 {
	t.Helper()
	n, err := e.st.RecordAuthFailure(context.Background(), &store.AuthFailure{IP: "127.0.0.1", Protocol: "test", CreatedAt: time.Now().UTC()},
		time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return n - 1
}

func TestUserSignIn(t *testing.T) {
	e := newEnv(t, sqlite())
	ctx := context.Background()
	alice := e.addUser("alice", "correct horse", "admin")
	e.addUser("bob", "bob's password", "auditor")

	page := e.client().get("/login")
	mustContain(t, page.body, `id="login-username"`, `id="login-password"`, `autocomplete="current-password"`, `id="token"`)

	// Wrong password, unknown user, empty password: 401, one answer, each
	// counted toward the address's ban.
	c := e.client()
	before := failures(t, e)
	for _, try := range [][2]string{{"alice", "wrong horse"}, {"mallory", "correct horse"}, {"alice", ""}} {
		r := c.signInUser(try[0], try[1])
		if r.status != http.StatusUnauthorized {
			t.Fatalf("sign in as %q/%q: %d", try[0], try[1], r.status)
		}
		if try[1] != "" {
			mustContain(t, r.body, "Wrong username or password", `value="`+try[0]+`"`)
		}
		if got := c.get("/"); got.status != http.StatusSeeOther {
			t.Fatalf("signed in after a failure: %d", got.status)
		}
	}
	if got := failures(t, e) - before - 1; got != 3 { // less the row the first failures() added
		t.Errorf("failed sign-ins counted: %d, want 3", got)
	}
	// Without the sign-in form's CSRF value: refused before any check.
	if r := c.do(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {"correct horse"}}); r.status != http.StatusForbidden {
		t.Fatalf("sign-in without CSRF: %d", r.status)
	}

	r := c.signInUser("alice", "correct horse")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("sign in alice: %d %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	// The good sign-in forgets alice's failures only; mallory's stays,
	// with the two rows failures() added.
	if got := failures(t, e); got != 3 {
		t.Errorf("failures after alice's good sign-in: %d, want 3 (mallory's and two of failures())", got)
	}
	var cookie string
	for _, sc := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "ferry_session=") {
			cookie = sc
		}
	}
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") || strings.Contains(cookie, "Secure") ||
		strings.Contains(cookie, "correct") {
		t.Errorf("session cookie: %s", cookie)
	}
	d := c.get("/")
	if d.status != http.StatusOK {
		t.Fatalf("dashboard: %d", d.status)
	}
	mustContain(t, d.body, "alice", `<span class="badge">admin</span>`)
	if u, _ := e.st.AdminUserByID(ctx, alice.ID); u.LastLoginAt == nil {
		t.Error("last login not recorded")
	}

	// An admin user changes things; the audit log names the user.
	if r := c.post("/partners/new", "/partners", url.Values{"slug": {"acme"}, "name": {"Acme"}}); r.status != http.StatusSeeOther {
		t.Fatalf("create partner: %d\n%s", r.status, r.body)
	}
	audit, err := e.st.ListAdminAudit(ctx, store.AdminAuditFilter{Action: "partner.create"})
	if err != nil || len(audit) != 1 || audit[0].TokenID != "user:"+alice.ID || audit[0].TokenName != "alice" ||
		audit[0].Role != "admin" || !strings.Contains(audit[0].Detail, `"user":"alice"`) || audit[0].Status != http.StatusSeeOther {
		t.Fatalf("audit: %+v %v", audit, err)
	}

	// A second session of alice, on another "node" (the same database):
	// a password change ends both at once.
	c2 := e.client()
	if r := c2.signInUser("alice", "correct horse"); r.status != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", r.status)
	}
	h, _ := e.svc.HashPassword(context.Background(), "correct horse") // the same password, a new hash
	if err := e.st.SetAdminUserPassword(ctx, "alice", h); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client{c, c2} {
		if r := cl.get("/"); r.status != http.StatusSeeOther {
			t.Errorf("session outlived a password change: %d", r.status)
		}
	}
	if r := c.signInUser("alice", "correct horse"); r.status != http.StatusSeeOther {
		t.Fatalf("sign in after passwd: %d", r.status)
	}

	// Disabling ends the session, and the user cannot sign in again.
	if err := e.st.SetAdminUserDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("session of a disabled user: %d", r.status)
	}
	if r := c.signInUser("alice", "correct horse"); r.status != http.StatusUnauthorized {
		t.Errorf("sign in as a disabled user: %d", r.status)
	}
	if err := e.st.SetAdminUserDisabled(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	if r := c.signInUser("alice", "correct horse"); r.status != http.StatusSeeOther {
		t.Fatalf("sign in after enable: %d", r.status)
	}
	// Deleting ends it too.
	if err := e.st.DeleteAdminUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("session of a deleted user: %d", r.status)
	}
	// A POST with the old session: 401, not a change.
	if r := c.do(http.MethodPost, "/partners", url.Values{"slug": {"evil"}}); r.status != http.StatusUnauthorized {
		t.Errorf("POST of a deleted user: %d", r.status)
	}
}

func TestUserAuditor(t *testing.T) {
	e := newEnv(t, sqlite())
	ctx := context.Background()
	if _, err := e.svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	bob := e.addUser("bob", "bob's password", "auditor")
	c := e.client()
	if r := c.signInUser("bob", "bob's password"); r.status != http.StatusSeeOther {
		t.Fatalf("sign in bob: %d\n%s", r.status, r.body)
	}
	action := regexp.MustCompile(`<form[^>]*method="post"[^>]*action="([^"]+)"`)
	for _, path := range []string{"/", "/partners", "/partners/acme", "/partners/acme/files", "/transfers", "/sessions", "/notifications"} {
		r := c.get(path)
		if r.status != http.StatusOK {
			t.Fatalf("auditor GET %s: %d", path, r.status)
		}
		for _, m := range action.FindAllStringSubmatch(r.body, -1) {
			if m[1] != "/logout" {
				t.Errorf("auditor user sees a control posting to %s on %s", m[1], path)
			}
		}
		if strings.Contains(r.body, "New partner") || strings.Contains(r.body, ">Retry<") {
			t.Errorf("auditor user sees a mutating control on %s", path)
		}
	}
	for _, path := range []string{"/partners", "/partners/acme/enabled"} {
		r := c.post("/", path, url.Values{"slug": {"evil"}, "enabled": {"false"}})
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "may only read") {
			t.Errorf("auditor user POST %s: %d\n%s", path, r.status, r.body)
		}
	}
	if p := mustPartner(t, e, "acme"); !p.Enabled {
		t.Error("auditor user disabled the partner")
	}
	audit, err := e.st.ListAdminAudit(ctx, store.AdminAuditFilter{TokenID: "user:" + bob.ID})
	if err != nil || len(audit) != 2 || audit[0].Status != http.StatusForbidden || audit[0].TokenName != "bob" {
		t.Fatalf("audit of refused posts: %+v %v", audit, err)
	}
}

// FERRY_WEB_SECURE_COOKIE: the cookies are Secure even on plain HTTP.
func TestSecureCookieSetting(t *testing.T) {
	for _, secure := range []bool{false, true} {
		w := &web.Server{Secure: secure}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/login", nil)
		req.RemoteAddr = net.JoinHostPort(netip.MustParseAddr("192.0.2.1").String(), "1234")
		w.Handler().ServeHTTP(rec, req)
		sc := rec.Header().Get("Set-Cookie")
		if !strings.HasPrefix(sc, "ferry_login=") || strings.Contains(sc, "Secure") != secure || !strings.Contains(sc, "HttpOnly") {
			t.Errorf("Secure=%v: %s", secure, sc)
		}
	}
}
