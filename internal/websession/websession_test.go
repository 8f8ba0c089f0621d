package websession_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/websession"
)

// A sign-in's next page stays on this site, under the front end's prefix.
func TestSafeNext(t *testing.T) {
	for _, c := range []struct{ next, within, want string }{
		{"/partners", "/", "/partners"},
		{"/partners/acme?tab=x", "/", "/partners/acme?tab=x"},
		{"", "/", "/"},
		{"https://evil.example/", "/", "/"},
		{"//evil.example", "/", "/"},
		{"/\\evil.example", "/", "/"},
		{"/\t/evil.example", "/", "/"},
		{"/\n/evil.example", "/", "/"},
		{"/%09/evil.example", "/", "/%09/evil.example"}, // percent-encoded stays a path on this site
		{"/\x7f", "/", "/"},
		{"javascript:alert(1)", "/", "/"},
		{"/portal/files/in", "/portal/", "/portal/files/in"},
		{"/partners", "/portal/", "/portal/files/"},
		{"/portal/../partners", "/portal/", "/portal/files/"},
		{"/portal//evil.example", "/portal/", "/portal//evil.example"}, // a path on this site, not a host
	} {
		fallback := "/"
		if c.within == "/portal/" {
			fallback = "/portal/files/"
		}
		if got := websession.SafeNext(c.next, c.within, fallback); got != c.want {
			t.Errorf("SafeNext(%q, %q) = %q, want %q", c.next, c.within, got, c.want)
		}
	}
}

func TestSetCookie(t *testing.T) {
	w := httptest.NewRecorder()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	websession.SetCookie(w, "s", "v", "/portal/", true, exp)
	websession.SetCookie(w, "old", "", "/", false, time.Time{})
	cs := (&http.Response{Header: w.Header()}).Cookies()
	if len(cs) != 2 {
		t.Fatalf("cookies: %v", cs)
	}
	if c := cs[0]; c.Value != "v" || c.Path != "/portal/" || !c.HttpOnly || !c.Secure ||
		c.SameSite != http.SameSiteStrictMode || !c.Expires.Equal(exp) {
		t.Errorf("session cookie: %+v", c)
	}
	if c := cs[1]; c.MaxAge != -1 || c.Secure {
		t.Errorf("deleted cookie: %+v", c)
	}
}

func TestValidTokenAndRowID(t *testing.T) {
	if !websession.ValidToken("abc", "abc") || websession.ValidToken("abc", "abd") ||
		websession.ValidToken("", "") || websession.ValidToken("abc", "") {
		t.Error("ValidToken")
	}
	if a, b := websession.RowID("x"), websession.RowID("y"); a == b || len(a) != 64 || a == "x" {
		t.Errorf("RowID: %q %q", a, b)
	}
}

func TestFormTokenAndNewSecret(t *testing.T) {
	r := httptest.NewRequest("GET", "/login", nil)
	tok, fresh := websession.FormToken(r, "form")
	if !fresh || len(tok) != 24 {
		t.Fatalf("no cookie: %q fresh %v", tok, fresh)
	}
	// The browser's token is kept while it is well-formed.
	r.AddCookie(&http.Cookie{Name: "form", Value: tok})
	if got, fresh := websession.FormToken(r, "form"); got != tok || fresh {
		t.Fatalf("with the cookie: %q fresh %v, want %q", got, fresh, tok)
	}
	bad := httptest.NewRequest("GET", "/login", nil)
	bad.AddCookie(&http.Cookie{Name: "form", Value: "short"})
	if got, fresh := websession.FormToken(bad, "form"); !fresh || got == "short" || len(got) != 24 {
		t.Fatalf("a malformed cookie was kept: %q fresh %v", got, fresh)
	}
	a, err := websession.NewSecret()
	b, err2 := websession.NewSecret()
	if err != nil || err2 != nil || a == b || len(a) != 43 {
		t.Fatalf("NewSecret: %q %q %v %v", a, b, err, err2)
	}
}
