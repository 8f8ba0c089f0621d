package web_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func sqlite() storetest.Backend { return storetest.Backends()[0] }

func TestSignIn(t *testing.T) {
	e := newEnv(t, sqlite())
	c := e.client()

	r := c.get("/partners?q=x")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fpartners%3Fq%3Dx" {
		t.Fatalf("signed out: %d %q", r.status, r.header.Get("Location"))
	}
	// The API and health checks are still the API's.
	if r := c.get("/healthz"); r.status != http.StatusOK || !strings.Contains(r.body, `"ok"`) {
		t.Fatalf("/healthz: %d %s", r.status, r.body)
	}
	if r := c.get("/api/v1/partners"); r.status != http.StatusUnauthorized {
		t.Fatalf("/api/v1/partners: %d", r.status)
	}

	bad := c.post("/login", "/login", url.Values{"token": {"ferry_nope"}})
	if bad.status != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", bad.status)
	}
	mustContain(t, bad.body, "unknown or revoked")

	// Without the sign-in form's CSRF value: refused.
	if r := c.do(http.MethodPost, "/login", url.Values{"token": {e.admin}}); r.status != http.StatusForbidden {
		t.Fatalf("sign-in without CSRF: %d", r.status)
	}

	page := c.get("/login")
	form := url.Values{"token": {e.admin}, "csrf": {csrfOf(t, page.body)}, "next": {"/partners"}}
	r = c.do(http.MethodPost, "/login", form)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/partners" {
		t.Fatalf("sign in: %d %q", r.status, r.header.Get("Location"))
	}
	var cookie string
	for _, sc := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "ferry_session=") {
			cookie = sc
		}
	}
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") || strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie on plain HTTP: %s", cookie)
	}
	if strings.Contains(cookie, e.admin) {
		t.Errorf("the cookie carries the token itself: %s", cookie)
	}

	d := c.get("/")
	if d.status != http.StatusOK {
		t.Fatalf("dashboard: %d", d.status)
	}
	mustContain(t, d.body, "Dashboard", "live FTP sessions", "<svg class=\"chart\"", "ops")
	if csp := d.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP: %q", csp)
	}

	// An open redirect after sign-in is refused.
	c2 := e.client()
	page = c2.get("/login")
	r = c2.do(http.MethodPost, "/login", url.Values{"token": {e.auditor}, "csrf": {csrfOf(t, page.body)}, "next": {"//evil.example/"}})
	if r.header.Get("Location") != "/" {
		t.Errorf("next=//evil: redirected to %q", r.header.Get("Location"))
	}

	// A tampered cookie is no session.
	u, _ := url.Parse(e.base)
	cs := c.http.Jar.Cookies(u)
	for _, ck := range cs {
		if ck.Name == "ferry_session" {
			ck.Value = strings.Replace(ck.Value, ".", ".9", 1)
		}
	}
	c3 := e.client()
	c3.http.Jar.SetCookies(u, cs)
	if r := c3.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("tampered cookie: %d", r.status)
	}

	// Signing out, then revoking: the session ends.
	if r := c2.post("/", "/logout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	if r := c2.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("after logout: %d", r.status)
	}
	c2.signIn(e.auditor)
	if err := e.st.RevokeAPIToken(context.Background(), e.auditorT.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := c2.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("revoked token still signed in: %d", r.status)
	}
}

func TestPartnersAndAccounts(t *testing.T) {
	e := newEnv(t, sqlite())
	testPartnersAndAccounts(t, e)
}

// TestPostgres runs the partner pages on PostgreSQL.
func TestPostgres(t *testing.T) {
	e := newEnv(t, storetest.Backends()[1])
	testPartnersAndAccounts(t, e)
}

func testPartnersAndAccounts(t *testing.T, e *env) {
	c := e.client()
	c.signIn(e.admin)
	ctx := context.Background()

	// Validation errors come from the service layer, next to their fields.
	r := c.post("/partners/new", "/partners", url.Values{"slug": {"Bad Slug"}, "contacts": {"ops@acme.example\nnot an address"},
		"quota_bytes": {"lots"}, "allowed_cidrs": {"10.0.0.0/33"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid partner: %d\n%s", r.status, r.body)
	}
	if !strings.Contains(r.body, `quota-err"><p class="field-error">write a size`) {
		t.Fatalf("quota error not beside its field:\n%s", r.body)
	}
	r = c.post("/partners/new", "/partners", url.Values{"slug": {"Bad Slug"}, "contacts": {"ops@acme.example\nnot an address"},
		"quota_bytes": {"10G"}, "allowed_cidrs": {"10.0.0.0/33"}})
	mustContain(t, r.body, `id="slug-err"><p class="field-error">must be 1-63 lower-case`, `id="contacts-err"><p class="field-error">`,
		`not a plain email address`, `id="cidr-err"><p class="field-error">`, `value="Bad Slug"`)

	r = c.post("/partners/new", "/partners", url.Values{"slug": {"acme"}, "name": {"ACME Corp"},
		"contacts": {"ops@acme.example"}, "quota_bytes": {"1M"}, "quota_files": {"10"}, "enabled": {"1"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/partners/acme?done=partner-created" {
		t.Fatalf("create: %d %s\n%s", r.status, r.header.Get("Location"), r.body)
	}
	p, err := e.svc.Partner(ctx, "acme")
	if err != nil || p.QuotaBytes != 1<<20 || p.QuotaFiles != 10 || !p.Enabled || p.Name != "ACME Corp" {
		t.Fatalf("stored partner: %+v, %v", p, err)
	}
	// The same slug again: a conflict beside the slug.
	r = c.post("/partners/new", "/partners", url.Values{"slug": {"acme"}})
	mustContain(t, r.body, "a partner with this slug exists already")

	// Without a CSRF token: refused, nothing changes.
	if r := c.do(http.MethodPost, "/partners", url.Values{"slug": {"evil"}}); r.status != http.StatusForbidden {
		t.Fatalf("no CSRF: %d", r.status)
	}
	if _, err := e.svc.Partner(ctx, "evil"); err == nil {
		t.Fatal("partner created without CSRF token")
	}

	list := c.get("/partners?q=ACM")
	mustContain(t, list.body, `href="/partners/acme"`, "ACME Corp", "ops@acme.example")
	if r := c.get("/partners?q=zzz"); strings.Contains(r.body, `href="/partners/acme"`) {
		t.Error("search for zzz lists acme")
	}

	// Edit: a bad contact is refused beside its field, nothing stored.
	r = c.post("/partners/acme", "/partners/acme", url.Values{"name": {"ACME"}, "contacts": {"x@"}, "quota_bytes": {"2G"}, "enabled": {"1"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad edit: %d", r.status)
	}
	mustContain(t, r.body, `id="contacts-err"><p class="field-error">`)
	r = c.post("/partners/acme", "/partners/acme", url.Values{"name": {"ACME"}, "contacts": {"a@acme.example, b@acme.example"},
		"quota_bytes": {"2G"}, "quota_files": {"0"}, "allowed_cidrs": {"127.0.0.0/8"}, "enabled": {"1"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", r.status, r.body)
	}
	p, _ = e.svc.Partner(ctx, "acme")
	if p.Name != "ACME" || len(p.Contacts) != 2 || p.QuotaBytes != 2<<30 || p.AllowedCIDRs != "127.0.0.0/8" {
		t.Fatalf("edited partner: %+v", p)
	}
	show := c.get("/partners/acme")
	mustContain(t, show.body, `value="2G"`, "a@acme.example\nb@acme.example", `class="usage`)

	// Accounts: create with a generated password shown once.
	r = c.post("/partners/acme", "/partners/acme/accounts", url.Values{"username": {"bad name"}, "perm": {"list"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad account: %d", r.status)
	}
	mustContain(t, r.body, `id="username-err"><p class="field-error">must be 1-64`)
	// POST-redirect-GET: the create answers with a redirect to the page
	// that shows the password, so reloading that page creates nothing; the
	// password is shown there once.
	r = c.post("/partners/acme", "/partners/acme/accounts", url.Values{"username": {"alice"}, "home_dir": {"/"},
		"perm": {"list", "upload", "download"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/partners/acme/accounts/alice/password" {
		t.Fatalf("create account: %d %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	pwRE := regexp.MustCompile(`<output id="pw" class="secret mono">([^<]+)</output>`)
	r = c.get("/partners/acme/accounts/alice/password")
	pw := pwRE.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || pw == nil || !strings.Contains(r.body, "Account alice created") {
		t.Fatalf("no password shown: %d\n%s", r.status, r.body)
	}
	if again := c.get("/partners/acme/accounts/alice/password"); again.status != http.StatusOK || pwRE.MatchString(again.body) ||
		!strings.Contains(again.body, `id="pw-gone"`) {
		t.Fatalf("the password page reloaded: %d\n%s", again.status, again.body)
	}
	if list, _ := e.st.AccountsByPartner(ctx, mustPartner(t, e, "acme").ID); len(list) != 1 {
		t.Fatalf("accounts after the create and a reload: %d", len(list))
	}
	if _, err := e.svc.Authenticate(ctx, "alice", pw[1], netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatalf("the shown password does not log in: %v", err)
	}
	a, _ := e.svc.Account(ctx, "acme", "alice")
	if a.Permissions != "list,download,upload" {
		t.Errorf("permissions %q", a.Permissions)
	}
	// Rotate: a new password, the old one stops working.
	r = c.post("/partners/acme", "/partners/acme/accounts/alice/password", nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/partners/acme/accounts/alice/password" {
		t.Fatalf("rotate: %d %q", r.status, r.header.Get("Location"))
	}
	// Another session of the same token, given a copy of the cookie that
	// carries the password, cannot read it: it is sealed for this session.
	other := e.client()
	other.signIn(e.admin)
	pwURL, _ := url.Parse(e.base + "/partners/acme/accounts/alice/password")
	copied := 0
	for _, ck := range c.http.Jar.Cookies(pwURL) {
		if ck.Name == "ferry_shown" {
			other.http.Jar.SetCookies(pwURL, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: pwURL.Path}})
			copied++
		}
	}
	if o := other.get("/partners/acme/accounts/alice/password"); copied != 1 || pwRE.MatchString(o.body) {
		t.Fatalf("another session with a copy of the cookie (%d copied) saw the password", copied)
	}
	r = c.get("/partners/acme/accounts/alice/password")
	pw2 := pwRE.FindStringSubmatch(r.body)
	if pw2 == nil || pw2[1] == pw[1] || !strings.Contains(r.body, "New password for alice") {
		t.Fatalf("rotate: %d\n%s", r.status, r.body)
	}
	if again := c.get("/partners/acme/accounts/alice/password"); pwRE.MatchString(again.body) {
		t.Fatal("the new password is shown twice")
	}
	if _, err := e.svc.Authenticate(ctx, "alice", pw[1], netip.MustParseAddr("127.0.0.1")); err == nil {
		t.Error("old password still works")
	}
	// Permissions, then disable.
	r = c.post("/partners/acme", "/partners/acme/accounts/alice", url.Values{"perm": {"list", "download"}, "home_dir": {"/"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("permissions: %d\n%s", r.status, r.body)
	}
	r = c.post("/partners/acme", "/partners/acme/accounts/alice", url.Values{"home_dir": {"/"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "must name at least one permission") {
		t.Fatalf("no permissions: %d\n%s", r.status, r.body)
	}
	c.post("/partners/acme", "/partners/acme/accounts/alice/enabled", url.Values{"enabled": {"false"}})
	a, _ = e.svc.Account(ctx, "acme", "alice")
	if a.Permissions != "list,download" || a.Enabled {
		t.Errorf("account after edits: %+v", a)
	}
	// Disable the partner.
	c.post("/partners/acme", "/partners/acme/enabled", url.Values{"enabled": {"false"}})
	if p, _ := e.svc.Partner(ctx, "acme"); p.Enabled {
		t.Error("partner still enabled")
	}
	// Changes are in the admin audit log, like the API's.
	rows, err := e.st.ListAdminAudit(ctx, store.AdminAuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, row := range rows {
		seen[row.Action] = true
	}
	for _, want := range []string{"partner.create", "partner.update", "account.create", "account.update"} {
		if !seen[want] {
			t.Errorf("admin audit log lacks %s: %+v", want, rows)
		}
	}
}

func TestAuditorReadOnly(t *testing.T) {
	e := newEnv(t, sqlite())
	ctx := context.Background()
	if _, err := e.svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.CreateAccount(ctx, partners.AccountInput{Partner: "acme", Username: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	n, err := e.outbox.SendTest(ctx, mustPartner(t, e, "acme").ID)
	if err != nil {
		t.Fatal(err)
	}
	makeDead(t, e, n.ID)
	c := e.client()
	c.signIn(e.auditor)
	formRE := regexp.MustCompile(`<form[^>]*method="post"[^>]*action="([^"]+)"`)
	for _, path := range []string{"/", "/partners", "/partners/acme", "/partners/acme/files", "/transfers", "/sessions",
		"/notifications", "/notifications?status=dead"} {
		r := c.get(path)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d\n%s", path, r.status, r.body)
		}
		for _, m := range formRE.FindAllStringSubmatch(r.body, -1) {
			if m[1] != "/logout" {
				t.Errorf("auditor sees a control posting to %s on %s", m[1], path)
			}
		}
		if strings.Contains(r.body, "New partner") || strings.Contains(r.body, ">Retry<") {
			t.Errorf("auditor sees a mutating control on %s", path)
		}
	}
	if r := c.get("/partners/new"); r.status != http.StatusForbidden {
		t.Errorf("/partners/new for an auditor: %d", r.status)
	}
	// Posting anyway, with a valid CSRF token: 403, nothing changes.
	for _, post := range []struct {
		path string
		form url.Values
	}{
		{"/partners", url.Values{"slug": {"evil"}}},
		{"/partners/acme/enabled", url.Values{"enabled": {"false"}}},
		{"/partners/acme/accounts", url.Values{"username": {"mallory"}, "perm": {"list"}}},
		{"/partners/acme/accounts/alice/password", nil},
		{"/notifications/" + n.ID + "/retry", nil},
		{"/sessions/ftp-1/kick", nil},
		{"/partners/acme/expectations", url.Values{"folder": {"/in"}, "pattern": {"*"}, "schedule": {"0 6 * * *"}, "time_zone": {"UTC"}}},
		{"/webhooks", url.Values{"url": {"https://hooks.example.com/"}, "event": {"upload.finished"}}},
		{"/webhooks/x/delete", nil},
		{"/webhooks/deliveries/x/retry", nil},
	} {
		r := c.post("/", post.path, post.form)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "may only read") {
			t.Errorf("auditor POST %s: %d\n%s", post.path, r.status, r.body)
		}
	}
	if p := mustPartner(t, e, "acme"); !p.Enabled {
		t.Error("auditor disabled the partner")
	}
	if got, _ := e.outbox.Get(ctx, n.ID); got.Status != store.NotifyDead {
		t.Errorf("auditor retried: %s", got.Status)
	}
}

func mustPartner(t *testing.T, e *env, slug string) *store.Partner {
	t.Helper()
	p, err := e.svc.Partner(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// makeDead settles a pending notification as dead, as the notifier does
// when the relay refuses it for good.
func makeDead(t *testing.T, e *env, id string) {
	t.Helper()
	ctx := context.Background()
	claimed, err := e.st.ClaimNotifications(ctx, store.ClaimOptions{Now: time.Now().Add(time.Minute), Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range claimed {
		if n.ID == id {
			if err := e.st.SettleNotification(ctx, n.BatchID, n.Token, store.Settlement{Status: store.NotifyDead,
				LastError: "550 relay refused the recipient"}); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("notification %s was not claimed", id)
}

// TestFlow uploads over FTP and follows the file through the pages: the
// dashboard, transfers, the file browser (download, delete), sessions
// (kick), notifications (retry) and the mailbox.
func TestFlow(t *testing.T) {
	e := newEnv(t, sqlite())
	ctx := context.Background()
	if _, err := e.svc.CreatePartner(ctx, partners.PartnerInput{Slug: "acme", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery"
	if _, _, err := e.svc.CreateAccount(ctx, partners.AccountInput{Partner: "acme", Username: "alice", Password: pw}); err != nil {
		t.Fatal(err)
	}
	fc, err := ftp.Dial(e.ftpAddr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Quit()
	if err := fc.Login("alice", pw); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("ferry "), 1000)
	if err := fc.Stor("report.csv", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	// The FTP server marks the upload done after its 226, in the
	// background: the dashboard counts it from then.
	storetest.WaitUploadsFinished(t, e.st)

	c := e.client()
	c.signIn(e.admin)
	d := c.get("/")
	mustContain(t, d.body, `id="stat-uploads">1<`, `id="stat-sessions">1<`, `<rect class="bar"`, "alice")

	tr := c.get("/transfers?partner=acme&op=upload")
	mustContain(t, tr.body, "/report.csv", `href="/partners/acme"`, `href="/transfers?partner=acme&amp;account=alice"`)
	if r := c.get("/transfers?op=download"); strings.Contains(r.body, "/report.csv") {
		t.Error("op filter ignored")
	}

	// Files: browse, download, confinement, delete.
	f := c.get("/partners/acme/files")
	mustContain(t, f.body, "report.csv", "5.9 KiB")
	dl := c.get("/partners/acme/download?path=/report.csv")
	if dl.status != http.StatusOK || dl.body != string(data) || !strings.Contains(dl.header.Get("Content-Disposition"), "report.csv") {
		t.Fatalf("download: %d %q", dl.status, dl.header.Get("Content-Disposition"))
	}
	for _, bad := range []string{"../../../../etc/passwd", "/../acme/../../etc/passwd", "/.ferry-staging"} {
		if r := c.get("/partners/acme/download?path=" + url.QueryEscape(bad)); r.status != http.StatusNotFound {
			t.Errorf("download %s: %d", bad, r.status)
		}
	}
	before := mustPartner(t, e, "acme")
	r := c.post("/partners/acme/files", "/partners/acme/files/delete", url.Values{"path": {"/report.csv"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d\n%s", r.status, r.body)
	}
	after := mustPartner(t, e, "acme")
	if after.UsedBytes != before.UsedBytes-int64(len(data)) || after.UsedFiles != before.UsedFiles-1 {
		t.Errorf("usage after delete: %d/%d, before %d/%d", after.UsedBytes, after.UsedFiles, before.UsedBytes, before.UsedFiles)
	}
	if r := c.get("/partners/acme/files"); strings.Contains(r.body, "report.csv") {
		t.Error("deleted file still listed")
	}

	// Sessions: kick alice.
	s := c.get("/sessions")
	id := regexp.MustCompile(`action="/sessions/([^/]+)/kick"`).FindStringSubmatch(s.body)
	if id == nil {
		t.Fatalf("no kick control:\n%s", s.body)
	}
	if r := c.post("/sessions", "/sessions/"+id[1]+"/kick", nil); r.status != http.StatusSeeOther {
		t.Fatalf("kick: %d", r.status)
	}
	waitFor(t, func() bool { return len(e.ftp.Sessions()) == 0 })
	if r := c.post("/sessions", "/sessions/"+id[1]+"/kick", nil); r.status != http.StatusNotFound {
		t.Errorf("kick again: %d", r.status)
	}

	// Notifications: a test one, made dead, retried.
	r = c.post("/partners/acme", "/partners/acme/test-notification", nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("test notification: %d", r.status)
	}
	list, _, err := e.outbox.List(ctx, notifyFilter())
	if err != nil || len(list) != 1 {
		t.Fatalf("outbox: %v %v", list, err)
	}
	makeDead(t, e, list[0].ID)
	nd := c.get("/notifications?status=dead")
	mustContain(t, nd.body, "550 relay refused", ">Retry<")
	mustContain(t, c.get("/").body, `id="stat-dead">1<`)
	if r := c.post("/notifications", "/notifications/"+list[0].ID+"/retry", nil); r.status != http.StatusSeeOther {
		t.Fatalf("retry: %d", r.status)
	}
	if n, _ := e.outbox.Get(ctx, list[0].ID); n.Status != store.NotifyPending {
		t.Errorf("after retry: %s", n.Status)
	}
	if r := c.post("/notifications", "/notifications/"+list[0].ID+"/retry", nil); r.status != http.StatusConflict {
		t.Errorf("retry a pending one: %d", r.status)
	}

	// Mailbox: a delivered message, listed and read as text.
	raw := "From: ops@acme.example\r\nTo: acme@ferry.test\r\nSubject: Hello =?utf-8?q?w=C3=B6rld?=\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nThe file is <b>in</b> =\r\nplace.\r\n"
	if _, err := e.mail.Deliver(ctx, "acme", []byte(raw)); err != nil {
		t.Fatal(err)
	}
	mb := c.get("/partners/acme/mailbox")
	mid := regexp.MustCompile(`href="/partners/acme/mailbox/([^"]+)">Hello wörld`).FindStringSubmatch(mb.body)
	if mid == nil {
		t.Fatalf("message not listed:\n%s", mb.body)
	}
	m := c.get("/partners/acme/mailbox/" + mid[1])
	mustContain(t, m.body, "The file is &lt;b&gt;in&lt;/b&gt; place.", "ops@acme.example")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, func() error {
		if !cond() {
			return errors.New("the condition does not hold")
		}
		return nil
	})
}

func notifyFilter() notify.Filter { return notify.Filter{} }
