package portal_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/files"
	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/httpserver"
	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/portal"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
	"github.com/ferryhq/ferry/web"
)

// env is a running Ferry with the portal and an FTP server over one
// database and one file core, on 127.0.0.1.
type env struct {
	t      *testing.T
	st     *store.Store
	svc    *partners.Service
	fc     *files.Service
	outbox *notify.Outbox
	mail   *mailbox.Store
	// submission: partner mailboxes @ferry.test, outside mail to
	// partner-co.example through the outbox.
	submission *mailbox.Submission
	guard      *bans.Guard
	portal     *portal.Server
	ftpAddr    string
	base       string // http://127.0.0.1:port
	// shift moves the portal's clock (TOTP codes of later 30-second steps).
	shift time.Duration
	// wrap, if set, sees every request before the portal (fault injection).
	wrap func(w http.ResponseWriter, r *http.Request, next http.Handler)
}

const testPassword = "correct horse battery"

func newEnv(t *testing.T, b storetest.Backend) *env {
	t.Helper()
	st := storetest.Open(t, b)
	dir := filepath.Join(t.TempDir(), "files")
	svc := &partners.Service{Store: st, FilesDir: dir, Hash: password.Params{Memory: 1024, Time: 1, Threads: 1}}
	e := &env{t: t, st: st, svc: svc}
	e.outbox = &notify.Outbox{Store: st, Domain: "ferry.test"}
	e.fc = &files.Service{Store: st, FilesDir: dir, OnUpload: e.outbox.OnUpload}
	e.guard = &bans.Guard{Store: st, MaxFailures: 5, Window: time.Minute, BanTime: time.Minute}

	ftp := &ftpd.Server{Auth: svc, FilesDir: dir, Banner: "Ferry test", IdleTimeout: time.Minute, Store: st,
		Guard: e.guard, OnUpload: e.outbox.OnUpload}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.ftpAddr = ln.Addr().String()
	ftpDone := make(chan error, 1)
	go func() { ftpDone <- ftp.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ftp.Shutdown(ctx)
		if err := <-ftpDone; !errors.Is(err, ftpd.ErrServerClosed) {
			t.Errorf("ftp Serve: %v", err)
		}
	})

	e.mail = &mailbox.Store{DB: st, Dir: filepath.Join(t.TempDir(), "mail")}
	e.submission = &mailbox.Submission{Store: e.mail, LocalDomains: []string{"ferry.test"},
		OutboundDomains: []string{"partner-co.example"}, Outbound: e.outbox}
	e.portal = &portal.Server{Store: st, Partners: svc, Files: e.fc, Guard: e.guard, Mail: e.mail, Submission: e.submission,
		PartSize: 64 << 10}
	e.portal.Now = func() time.Time { return time.Now().Add(e.shift) }
	// The web admin beside it, as cmd/ferry mounts them: its sessions
	// open the portal's read-only "view as" pages.
	admin := &web.Server{Store: st, Partners: svc, Files: e.fc, Mail: e.mail, Outbox: e.outbox, Guard: e.guard}
	e.portal.ViewAs = admin.Admin
	h := e.portal.Handler()
	mux := http.NewServeMux()
	mux.Handle("/", admin.Handler())
	mux.Handle(portal.Prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.wrap != nil {
			e.wrap(w, r, h)
			return
		}
		h.ServeHTTP(w, r)
	}))
	srv := &httpserver.Server{Handler: mux}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.base = "http://" + hl.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(hl) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return e
}

// partner creates a partner and an account with perms ("" for all).
func (e *env) partner(slug, username, perms, home string) *store.Account {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.svc.Partner(ctx, slug); err != nil {
		if _, err := e.svc.CreatePartner(ctx, partners.PartnerInput{Slug: slug, Name: strings.ToUpper(slug[:1]) + slug[1:] + " Ltd",
			Contacts: []string{"ops@" + slug + ".example"}, Enabled: true}); err != nil {
			e.t.Fatal(err)
		}
	}
	a, _, err := e.svc.CreateAccount(ctx, partners.AccountInput{Partner: slug, Username: username, Password: testPassword,
		Permissions: perms, HomeDir: home})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// client is a browser-like HTTP client: a cookie jar, redirects not
// followed so tests see them.
type client struct {
	t    *testing.T
	e    *env
	http *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: e.t, e: e, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	status int
	body   string
	header http.Header
}

func (c *client) req(method, path string, body io.Reader, hdr http.Header) resp {
	c.t.Helper()
	req, err := http.NewRequest(method, c.e.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: string(b), header: res.Header}
}

func (c *client) get(path string) resp { c.t.Helper(); return c.req(http.MethodGet, path, nil, nil) }

func (c *client) postForm(path string, form url.Values) resp {
	c.t.Helper()
	return c.req(http.MethodPost, path, strings.NewReader(form.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in page:\n%s", body)
	}
	return m[1]
}

// post fetches from (for its CSRF token) and posts form to path.
func (c *client) post(from, path string, form url.Values) resp {
	c.t.Helper()
	page := c.get(from)
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", csrfOf(c.t, page.body))
	return c.postForm(path, form)
}

// signIn signs in and checks the redirect to the files.
func (c *client) signIn(username, pw string) resp {
	c.t.Helper()
	return c.post("/portal/signin", "/portal/signin", url.Values{"username": {username}, "password": {pw}})
}

func (c *client) mustSignIn(username string) {
	c.t.Helper()
	r := c.signIn(username, testPassword)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/portal/files/" {
		c.t.Fatalf("sign in: %d %s\n%s", r.status, r.header.Get("Location"), r.body)
	}
}

func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.e.base + "/portal/")
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Fatalf("page lacks %q:\n%s", w, body)
		}
	}
}

// rows is the audit log, oldest first.
func (e *env) rows(f store.TransferFilter) []store.Transfer {
	e.t.Helper()
	f.Limit = 1000
	rows, err := e.st.ListTransfers(context.Background(), f)
	if err != nil {
		e.t.Fatal(err)
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows
}
