package web_test

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/ferryhq/ferry/store/storetest"
	"github.com/ferryhq/ferry/web"
)

// secondNode starts another web admin on e's database, as a second Ferry
// node would run it, and returns an env whose clients talk to it.
func (e *env) secondNode() *env {
	e.t.Helper()
	w := &web.Server{Store: e.st, Partners: e.svc}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	srv := &http.Server{Handler: w.Handler()}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	e.t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			e.t.Errorf("second node: %v", err)
		}
	})
	n := *e
	n.base = "http://" + ln.Addr().String()
	return &n
}

// withCookies returns a new client of e holding the cookies c has for its
// own server: a copy of the cookie taken from the browser.
func (e *env) withCookies(c *client) *client {
	from, _ := url.Parse(c.e.base)
	to, _ := url.Parse(e.base)
	n := e.client()
	n.http.Jar.SetCookies(to, c.http.Jar.Cookies(from))
	return n
}

// Signing out ends the session on the server: a copy of the cookie taken
// before is refused afterwards, by this node and by another node on the
// same database, while another session of the same principal lives on.
func TestSignOutEndsTheSessionOnEveryNode(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			node2 := e.secondNode()
			e.addUser("alice", "correct horse", "admin")
			for _, kind := range []string{"token", "user"} {
				signIn := func(c *client) {
					t.Helper()
					if kind == "token" {
						c.signIn(e.admin)
						return
					}
					if r := c.signInUser("alice", "correct horse"); r.status != http.StatusSeeOther {
						t.Fatalf("sign in as alice: %d\n%s", r.status, r.body)
					}
				}
				browser, other := e.client(), e.client()
				signIn(browser)
				signIn(other)
				stolen, stolen2 := e.withCookies(browser), node2.withCookies(browser)
				for name, c := range map[string]*client{"the copy": stolen, "the copy on node 2": stolen2} {
					if r := c.get("/partners"); r.status != http.StatusOK {
						t.Fatalf("%s: %s before sign-out: %d", kind, name, r.status)
					}
				}
				page := stolen.get("/partners/new") // a form the copy could still post
				if r := browser.post("/", "/logout", nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
					t.Fatalf("%s: logout: %d %q", kind, r.status, r.header.Get("Location"))
				}
				for name, c := range map[string]*client{"the browser": browser, "the copy": stolen, "the copy on node 2": stolen2} {
					if r := c.get("/partners"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fpartners" {
						t.Errorf("%s: %s after sign-out: %d %q", kind, name, r.status, r.header.Get("Location"))
					}
				}
				r := stolen.do(http.MethodPost, "/partners", url.Values{"slug": {"mallory-" + kind}, "csrf": {csrfOf(t, page.body)}})
				if r.status != http.StatusUnauthorized {
					t.Errorf("%s: a post with the copy after sign-out: %d", kind, r.status)
				}
				if r := stolen.get("/login"); r.status != http.StatusOK {
					t.Errorf("%s: sign-in page for the copy: %d", kind, r.status)
				}
				// The other session of the same principal is not touched.
				if r := other.get("/partners"); r.status != http.StatusOK {
					t.Errorf("%s: another session ended with this one: %d", kind, r.status)
				}
			}
		})
	}
}
