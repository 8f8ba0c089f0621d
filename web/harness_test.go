package web_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/adminauth"
	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/httpserver"
	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/sessions"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
	"github.com/ferryhq/ferry/web"
)

// env is a running Ferry: the admin API and the web admin on one mux,
// and an FTP server, on 127.0.0.1, over a real database.
type env struct {
	t        *testing.T
	st       *store.Store
	svc      *partners.Service
	outbox   *notify.Outbox
	mail     *mailbox.Store
	ftp      *ftpd.Server
	ftpAddr  string
	base     string // http://127.0.0.1:port
	admin    string // an admin token
	auditor  string // an auditor token
	auditorT *store.APIToken
}

func newEnv(t *testing.T, b storetest.Backend) *env {
	t.Helper()
	st := storetest.Open(t, b)
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	svc := &partners.Service{Store: st, FilesDir: files, Hash: password.Params{Memory: 1024, Time: 1, Threads: 1}}
	e := &env{t: t, st: st, svc: svc}
	e.outbox = &notify.Outbox{Store: st, Domain: "ferry.test"}
	e.mail = &mailbox.Store{DB: st, Dir: filepath.Join(dir, "mail")}
	guard := &bans.Guard{Store: st, MaxFailures: 50, Window: time.Minute, BanTime: time.Minute}
	ctx := context.Background()

	e.ftp = &ftpd.Server{Auth: svc, FilesDir: files, Banner: "Ferry test", IdleTimeout: time.Minute, Store: st, Guard: guard}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.ftpAddr = ln.Addr().String()
	ftpDone := make(chan error, 1)
	go func() { ftpDone <- e.ftp.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.ftp.Shutdown(ctx)
		if err := <-ftpDone; !errors.Is(err, ftpd.ErrServerClosed) {
			t.Errorf("ftp Serve: %v", err)
		}
	})

	live := &ftpSessions{srv: e.ftp}
	w := &web.Server{Store: st, Partners: svc, Sessions: live, Outbox: e.outbox, Mail: e.mail, Guard: guard,
		Identity: mustIdentity(t), MailSign: "smime"}
	// The API and the web admin on one mux, as cmd/ferry mounts them.
	a := &api.Server{Store: st, Partners: svc, Sessions: live, Outbox: e.outbox, Bans: guard, Mail: e.mail}
	srv := &httpserver.Server{Handler: httpserver.Mux(a.Handler(), w.Handler())}
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

	if e.admin, _, err = adminauth.CreateToken(ctx, st, "ops", adminauth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if e.auditor, e.auditorT, err = adminauth.CreateToken(ctx, st, "grafana", adminauth.RoleAuditor); err != nil {
		t.Fatal(err)
	}
	return e
}

// ftpSessions adapts one ftpd.Server to sessions.Control, as cmd/ferry
// does.
type ftpSessions struct{ srv *ftpd.Server }

func (f *ftpSessions) Sessions() []sessions.Info {
	var out []sessions.Info
	for _, s := range f.srv.Sessions() {
		out = append(out, sessions.Info{ID: "ftp-" + itoa(int(s.ID)), Protocol: "ftp", RemoteAddr: s.RemoteAddr,
			TLS: s.TLS, Username: s.Username, AccountID: s.AccountID, PartnerSlug: s.PartnerSlug, StartedAt: s.Started,
			Transfers: s.Transfers, Current: s.Current, Bytes: &s.Bytes})
	}
	return out
}

func (f *ftpSessions) Kick(id string) bool {
	n, ok := strings.CutPrefix(id, "ftp-")
	if !ok {
		return false
	}
	var v uint32
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + uint32(c-'0')
	}
	return f.srv.Kick(v)
}

func (f *ftpSessions) KickAccount(id string) int { return f.srv.KickAccount(id) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

// client is a browser-like HTTP client: a cookie jar, no redirects
// followed automatically so tests see them.
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

func (c *client) do(method, path string, form url.Values) resp {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: string(b), header: res.Header}
}

func (c *client) get(path string) resp { c.t.Helper(); return c.do(http.MethodGet, path, nil) }

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
	return c.do(http.MethodPost, path, form)
}

// signIn signs in with token and checks the redirect.
func (c *client) signIn(token string) {
	c.t.Helper()
	r := c.post("/login", "/login", url.Values{"token": {token}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		c.t.Fatalf("sign in: %d %s\n%s", r.status, r.header.Get("Location"), r.body)
	}
}

func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Fatalf("page lacks %q:\n%s", w, body)
		}
	}
}

// testIdentity is Ferry's keys for the web tests, generated once per run
// (an RSA-3072 key takes a while).
var testIdentity = sync.OnceValues(func() (*mailsec.Identity, error) {
	dir, err := os.MkdirTemp("", "ferry-web-keys")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir) // loaded into memory
	id, _, err := mailsec.LoadIdentity(mailsec.IdentityOptions{Email: "ferry@ferry.test", DataDir: dir})
	return id, err
})

func mustIdentity(t *testing.T) *mailsec.Identity {
	t.Helper()
	id, err := testIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}
