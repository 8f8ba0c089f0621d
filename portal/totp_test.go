package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

var secretRE = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)

// code is the code an authenticator app shows now on the portal's clock.
func (e *env) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, time.Now().Add(e.shift))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode is a code that is not secret's now (nor a step either side).
func wrongCode(t *testing.T, secret string) string {
	t.Helper()
	for _, c := range []string{"000000", "111111", "222222"} {
		ok := false
		for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
			if g, _ := totp.GenerateCode(secret, time.Now().Add(d)); g == c {
				ok = true
			}
		}
		if !ok {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// An account turns the second factor on in its account page; from then
// on the password alone opens nothing but the code page, a wrong code is
// refused and counted for the bans, and the right one gives a new session.
func TestTOTP(t *testing.T) {
	e := newEnv(t, sqlite())
	a := e.partner("acme", "alice", "", "")
	c := e.client()
	c.mustSignIn("alice")
	page := c.get("/portal/account")
	m := secretRE.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no secret on the account page:\n%s", page.body)
	}
	mustContain(t, page.body, `id="qr"`, `src="data:image/png;base64,`)
	secret, token := m[1], csrfOf(t, page.body)
	if r := c.postForm("/portal/account/totp", url.Values{"csrf": {token}, "action": {"on"}, "secret": {secret}, "code": {wrongCode(t, secret)}}); r.status != http.StatusBadRequest {
		t.Fatalf("wrong code turns it on: %d", r.status)
	}
	if r := c.postForm("/portal/account/totp", url.Values{"csrf": {token}, "action": {"on"}, "secret": {secret}, "code": {e.code(t, secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("turn on: %d %s", r.status, r.body)
	}
	if got, _ := e.st.AccountByID(context.Background(), a.ID); got.TOTPSecret != secret {
		t.Fatal("the secret was not stored")
	}
	mustContain(t, c.get("/portal/account").body, "On: signing in asks for a code")
	e.shift += time.Minute // the next code

	// A new sign-in: the password leads to the code page only.
	b := e.client()
	r := b.signIn("alice", testPassword)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/portal/signin/code") {
		t.Fatalf("sign-in with a second factor: %d %s", r.status, r.header.Get("Location"))
	}
	pendingCookie := b.cookie("ferry_portal")
	if r := b.get("/portal/files/"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/portal/signin/code") {
		t.Fatalf("files before the code: %d %s", r.status, r.header.Get("Location"))
	}
	codePage := b.get("/portal/signin/code?next=%2Fportal%2Ffiles%2F")
	ctoken := csrfOf(t, codePage.body)
	if r := b.postForm("/portal/mkdir", url.Values{"csrf": {ctoken}, "dir": {"/"}, "name": {"x"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("a change before the code: %d", r.status)
	}
	r = b.postForm("/portal/signin/code", url.Values{"csrf": {ctoken}, "next": {"/portal/files/"}, "code": {wrongCode(t, secret)}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `id="code-error"`) {
		t.Fatalf("wrong code: %d", r.status)
	}
	used := e.code(t, secret)
	r = b.postForm("/portal/signin/code", url.Values{"csrf": {ctoken}, "next": {"/portal/files/"}, "code": {used}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/portal/files/" {
		t.Fatalf("right code: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	// A code is good once: someone who saw it cannot sign in with it.
	thief := e.client()
	if r := thief.signIn("alice", testPassword); r.status != http.StatusSeeOther {
		t.Fatalf("thief's password step: %d", r.status)
	}
	tp := thief.get("/portal/signin/code")
	if r := thief.postForm("/portal/signin/code", url.Values{"csrf": {csrfOf(t, tp.body)}, "code": {used}}); r.status != http.StatusUnauthorized {
		t.Fatalf("a used code again: %d", r.status)
	}
	if b.cookie("ferry_portal") == pendingCookie {
		t.Fatal("the session after the code is the pending one")
	}
	if r := b.get("/portal/files/"); r.status != http.StatusOK {
		t.Fatalf("files after the code: %d", r.status)
	}
	// The pending cookie is worth nothing now.
	old := e.client()
	old.http.Jar.SetCookies(mustURL(e.base+"/portal/"), []*http.Cookie{{Name: "ferry_portal", Value: pendingCookie, Path: "/portal/"}})
	if r := old.get("/portal/signin/code"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/portal/signin" {
		t.Fatalf("the pending cookie after sign-in: %d %s", r.status, r.header.Get("Location"))
	}
	failed := 0
	for _, row := range e.rows(store.TransferFilter{Operation: store.OpLogin}) {
		if row.Status == store.StatusFailed && strings.Contains(row.Error, "second-factor") {
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("failed second-factor rows: %d", failed)
	}
	// Turning it off needs a current code.
	e.shift += time.Minute
	acct := c.get("/portal/account")
	if r := c.postForm("/portal/account/totp", url.Values{"csrf": {csrfOf(t, acct.body)}, "action": {"off"}, "code": {e.code(t, secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("turn off: %d %s", r.status, r.body)
	}
	if got, _ := e.st.AccountByID(context.Background(), a.ID); got.TOTPSecret != "" {
		t.Fatal("the secret is still there")
	}
}

// A partner that demands the second factor has its accounts set one up
// at their next sign-in, and they cannot turn it off.
func TestTOTPRequiredByPartner(t *testing.T) {
	e := newEnv(t, sqlite())
	a := e.partner("acme", "alice", "", "")
	on := true
	if _, err := e.svc.UpdatePartner(context.Background(), "acme", partners.PartnerPatch{TOTPRequired: &on}, nil); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	r := c.signIn("alice", testPassword)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/portal/signin/setup") {
		t.Fatalf("sign-in: %d %s", r.status, r.header.Get("Location"))
	}
	page := c.get(r.header.Get("Location"))
	m := secretRE.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no secret on the setup page:\n%s", page.body)
	}
	mustContain(t, page.body, "Your company asks for a second step", `id="qr"`)
	r = c.postForm("/portal/signin/setup", url.Values{"csrf": {csrfOf(t, page.body)}, "next": {"/portal/files/"}, "secret": {m[1]}, "code": {e.code(t, m[1])}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/portal/files/" {
		t.Fatalf("setup: %d %s", r.status, r.body)
	}
	if got, _ := e.st.AccountByID(context.Background(), a.ID); got.TOTPSecret != m[1] {
		t.Fatal("the secret was not stored")
	}
	acct := c.get("/portal/account")
	mustContain(t, acct.body, "Your company requires it.")
	e.shift += time.Minute
	if r := c.postForm("/portal/account/totp", url.Values{"csrf": {csrfOf(t, acct.body)}, "action": {"off"}, "code": {e.code(t, m[1])}}); r.status != http.StatusBadRequest {
		t.Fatalf("turn off a required second factor: %d", r.status)
	}
}
