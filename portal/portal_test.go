package portal_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/portal"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func sqlite() storetest.Backend { return storetest.Backends()[0] }

func TestSignInAndOut(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			a := e.partner("acme", "alice", "", "")
			c := e.client()
			if r := c.get("/portal/files/"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/portal/signin") {
				t.Fatalf("signed out: %d %s", r.status, r.header.Get("Location"))
			}
			r := c.signIn("alice", "wrong password")
			if r.status != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d", r.status)
			}
			mustContain(t, r.body, `id="signin-error"`, "Wrong username or password")
			c.mustSignIn("alice")
			page := c.get("/portal/files/")
			if page.status != http.StatusOK {
				t.Fatalf("files: %d %s", page.status, page.body)
			}
			mustContain(t, page.body, "Acme Ltd", "Signed in as alice", "This folder is empty.")
			// The failed and the good sign-in are in the audit log, and the
			// failure was counted for the address bans.
			var logins []string
			for _, row := range e.rows(store.TransferFilter{Operation: store.OpLogin}) {
				logins = append(logins, row.Protocol+" "+row.Username+" "+row.Status)
			}
			if got := strings.Join(logins, ","); got != "portal alice failed,portal alice ok" {
				t.Fatalf("login rows: %s", got)
			}
			if row := e.rows(store.TransferFilter{Operation: store.OpLogin})[1]; row.AccountID == nil || *row.AccountID != a.ID {
				t.Fatalf("login row: %+v", row)
			}
			// Sign-out ends the session on the server: a copy of the
			// cookie is refused afterwards.
			stolen := e.client()
			stolen.http.Jar.SetCookies(mustURL(e.base+"/portal/"), []*http.Cookie{{Name: "ferry_portal", Value: c.cookie("ferry_portal"), Path: "/portal/"}})
			if r := stolen.get("/portal/files/"); r.status != http.StatusOK {
				t.Fatalf("copied cookie before sign-out: %d", r.status)
			}
			if r := c.post("/portal/files/", "/portal/signout", nil); r.status != http.StatusSeeOther {
				t.Fatalf("sign out: %d %s", r.status, r.body)
			}
			if r := stolen.get("/portal/files/"); r.status != http.StatusSeeOther {
				t.Fatalf("copied cookie after sign-out: %d", r.status)
			}
		})
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// The portal shares the address bans of every protocol: failures count
// with FTP's, and a banned address cannot sign in even with the right
// password.
func TestSharedBans(t *testing.T) {
	e := newEnv(t, sqlite())
	e.partner("acme", "alice", "", "")
	for i := 0; i < 4; i++ {
		if _, err := dialFTP(t, e, "alice", "wrong"); err == nil {
			t.Fatal("FTP login with a wrong password")
		}
	}
	c := e.client()
	if r := c.signIn("alice", "still wrong"); r.status != http.StatusUnauthorized {
		t.Fatalf("5th failure: %d", r.status)
	}
	r := c.signIn("alice", testPassword)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("banned address signs in: %d", r.status)
	}
	mustContain(t, r.body, "Too many failed sign-ins")
}

func dialFTP(t *testing.T, e *env, user, pw string) (*ftp.ServerConn, error) {
	t.Helper()
	c, err := ftp.Dial(e.ftpAddr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, pw); err != nil {
		c.Quit()
		return nil, err
	}
	t.Cleanup(func() { c.Quit() })
	return c, nil
}

// A session cookie that was in the browser before sign-in (planted by
// someone who knows it) is never the signed-in session.
func TestSessionFixation(t *testing.T) {
	e := newEnv(t, sqlite())
	e.partner("acme", "alice", "", "")
	// The attacker's own session, whose cookie it plants in the victim's
	// browser: the victim's sign-in replaces and ends it.
	attacker := e.client()
	attacker.mustSignIn("alice")
	planted := attacker.cookie("ferry_portal")
	victim := e.client()
	victim.http.Jar.SetCookies(mustURL(e.base+"/portal/"), []*http.Cookie{{Name: "ferry_portal", Value: planted, Path: "/portal/"}})
	victim.mustSignIn("alice")
	if got := victim.cookie("ferry_portal"); got == planted || got == "" {
		t.Fatalf("the session cookie after sign-in is the planted one")
	}
	if r := attacker.get("/portal/files/"); r.status != http.StatusSeeOther {
		t.Fatalf("the planted session lives on after the victim's sign-in: %d", r.status)
	}
	// A made-up cookie is no session either.
	forged := e.client()
	forged.http.Jar.SetCookies(mustURL(e.base+"/portal/"), []*http.Cookie{{Name: "ferry_portal", Value: strings.Repeat("A", 43), Path: "/portal/"}})
	if r := forged.get("/portal/files/"); r.status != http.StatusSeeOther {
		t.Fatalf("forged cookie: %d", r.status)
	}
}

// A change of the account's password, permissions or enabled flag, or of
// its partner, ends its portal sessions, as it closes FTP sessions.
func TestSessionEndsWhenAccountChanges(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(e *env, a *store.Account) error
	}{
		{"password", func(e *env, a *store.Account) error {
			_, err := e.svc.SetPassword(ctx, a.Username, "another password 1")
			return err
		}},
		{"permissions", func(e *env, a *store.Account) error {
			p := []string{"list", "download"}
			_, _, err := e.svc.UpdateAccount(ctx, a.ID, partners.AccountPatch{Permissions: &p}, nil)
			return err
		}},
		{"disabled", func(e *env, a *store.Account) error {
			_, err := e.svc.SetAccountEnabled(ctx, a.Username, false)
			return err
		}},
		{"partner disabled", func(e *env, a *store.Account) error {
			_, err := e.svc.SetPartnerEnabled(ctx, "acme", false)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sqlite())
			a := e.partner("acme", "alice", "", "")
			c := e.client()
			c.mustSignIn("alice")
			if r := c.get("/portal/files/"); r.status != http.StatusOK {
				t.Fatalf("before: %d", r.status)
			}
			if err := tc.change(e, a); err != nil {
				t.Fatal(err)
			}
			if r := c.get("/portal/files/"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/portal/signin") {
				t.Fatalf("after the change: %d %s", r.status, r.header.Get("Location"))
			}
			db, err := e.st.SQL()
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM portal_sessions").Scan(&n); err != nil || n != 0 {
				t.Fatalf("sessions left: %d %v", n, err)
			}
		})
	}
}

// Every change needs the session's CSRF token and a same-site origin.
func TestCSRF(t *testing.T) {
	e := newEnv(t, sqlite())
	e.partner("acme", "alice", "", "")
	e.partner("acme", "bob", "", "")
	alice, bob := e.client(), e.client()
	alice.mustSignIn("alice")
	bob.mustSignIn("bob")
	bobToken := csrfOf(t, bob.get("/portal/files/").body)
	aliceToken := csrfOf(t, alice.get("/portal/files/").body)
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  http.Header
	}{
		{"no token", url.Values{"dir": {"/"}, "name": {"x"}}, nil},
		{"another session's token", url.Values{"dir": {"/"}, "name": {"x"}, "csrf": {bobToken}}, nil},
		{"other origin", url.Values{"dir": {"/"}, "name": {"x"}, "csrf": {aliceToken}}, http.Header{"Origin": {"https://evil.example"}}},
	} {
		hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		for k, v := range tc.hdr {
			hdr[k] = v
		}
		r := alice.req(http.MethodPost, "/portal/mkdir", strings.NewReader(tc.form.Encode()), hdr)
		if r.status != http.StatusForbidden {
			t.Errorf("%s: %d", tc.name, r.status)
		}
	}
	// The upload parts carry the token in a header.
	r := alice.req(http.MethodPost, "/portal/upload?path=/a.txt", strings.NewReader("hi"),
		http.Header{"Content-Range": {"bytes 0-1/2"}, "X-CSRF-Token": {bobToken}})
	if r.status != http.StatusForbidden {
		t.Errorf("upload with another session's token: %d", r.status)
	}
	// Sign-in needs the form's own token too (no login CSRF).
	fresh := e.client()
	if r := fresh.postForm("/portal/signin", url.Values{"username": {"alice"}, "password": {testPassword}}); r.status != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d", r.status)
	}
	if _, err := os.Stat(filepath.Join(e.fc.PartnerDir("acme"), "x")); err == nil {
		t.Fatal("a refused form created a folder")
	}
	// With the right token it works.
	if r := alice.postForm("/portal/mkdir", url.Values{"dir": {"/"}, "name": {"x"}, "csrf": {aliceToken}}); r.status != http.StatusSeeOther {
		t.Fatalf("mkdir: %d %s", r.status, r.body)
	}
}

// Plain HTTP is for loopback clients only, unless a trusted proxy says the
// browser used TLS.
func TestPlainHTTP(t *testing.T) {
	e := newEnv(t, sqlite())
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	p := &portal.Server{Store: e.st, Partners: e.svc, Files: e.fc, TrustedProxies: trusted}
	h := p.Handler()
	for _, tc := range []struct {
		name, remote string
		hdr          map[string]string
		want         int
	}{
		{"loopback", "127.0.0.1:5000", nil, http.StatusOK},
		{"remote, plain", "198.51.100.7:5000", nil, http.StatusForbidden},
		{"remote, says https itself", "198.51.100.7:5000", map[string]string{"X-Forwarded-Proto": "https"}, http.StatusForbidden},
		{"trusted proxy, https", "10.0.0.2:5000", map[string]string{"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}, http.StatusOK},
		{"trusted proxy, http", "10.0.0.2:5000", map[string]string{"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "http"}, http.StatusForbidden},
		{"trusted proxy, no proto", "10.0.0.2:5000", map[string]string{"X-Forwarded-For": "198.51.100.7"}, http.StatusForbidden},
		{"loopback peer forwarding a remote client", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "198.51.100.7"}, http.StatusOK},
	} {
		r := httptest.NewRequest("GET", "/portal/", nil)
		r.RemoteAddr = tc.remote
		for k, v := range tc.hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.want)
		}
		if w.Code == http.StatusForbidden && !strings.Contains(w.Body.String(), "https://") {
			t.Errorf("%s: the refusal does not say what to do:\n%s", tc.name, w.Body.String())
		}
	}
	// Over a TLS request the cookies are Secure.
	r := httptest.NewRequest("GET", "/portal/", nil)
	r.RemoteAddr = "10.0.0.2:5000"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	r.Header.Set("X-Forwarded-Proto", "https")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if c := w.Result().Cookies(); len(c) == 0 || !c[0].Secure || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("sign-in cookie over TLS: %+v", c)
	}
}

// An account sees its partner's tree under its home folder and nothing
// else, whatever the names it sends.
func TestCrossPartnerRefused(t *testing.T) {
	e := newEnv(t, sqlite())
	e.partner("acme", "alice", "", "/in")
	e.partner("globex", "gina", "", "")
	secret := filepath.Join(e.fc.PartnerDir("globex"), "secret.txt")
	outside := filepath.Join(e.fc.PartnerDir("acme"), "out.txt")
	for _, f := range []string{secret, outside} {
		if err := os.WriteFile(f, []byte("not yours"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client()
	c.mustSignIn("alice")
	token := csrfOf(t, c.get("/portal/files/").body)
	for _, p := range []string{"/portal/files/../../globex/secret.txt", "/portal/files/%2e%2e/%2e%2e/globex/secret.txt",
		"/portal/files/..%2f..%2fglobex%2fsecret.txt", "/portal/files/../out.txt", "/portal/files/.ferry-staging/"} {
		r := c.get(p)
		if strings.Contains(r.body, "not yours") || r.status == http.StatusOK && strings.Contains(r.body, "secret.txt") {
			t.Errorf("GET %s: %d %s", p, r.status, r.body)
		}
	}
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{"/portal/delete", url.Values{"path": {"../../globex/secret.txt"}}},
		{"/portal/delete", url.Values{"path": {"/../out.txt"}}},
		{"/portal/rename", url.Values{"path": {"../../globex/secret.txt"}, "to": {"mine.txt"}}},
		{"/portal/rename", url.Values{"path": {"../out.txt"}, "to": {"mine.txt"}}},
	} {
		f.form.Set("csrf", token)
		if r := c.postForm(f.path, f.form); r.status < 400 {
			t.Errorf("POST %s %v: %d", f.path, f.form, r.status)
		}
	}
	r := c.req(http.MethodPost, "/portal/upload?path="+url.QueryEscape("../../globex/secret.txt"), strings.NewReader("mine"),
		http.Header{"Content-Range": {"bytes 0-3/4"}, "X-CSRF-Token": {token}})
	if r.status != http.StatusNotFound { // /globex/secret.txt in alice's home: no such folder
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	r = c.req(http.MethodPost, "/portal/upload?path="+url.QueryEscape("../secret.txt"), strings.NewReader("mine"),
		http.Header{"Content-Range": {"bytes 0-3/4"}, "X-CSRF-Token": {token}})
	if r.status != http.StatusOK {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	for _, f := range []string{secret, outside} {
		if b, err := os.ReadFile(f); err != nil || string(b) != "not yours" {
			t.Fatalf("%s: %q %v", f, b, err)
		}
	}
	// The upload landed in alice's own home, under the clean name.
	if b, err := os.ReadFile(filepath.Join(e.fc.PartnerDir("acme"), "in", "secret.txt")); err != nil || string(b) != "mine" {
		t.Fatalf("upload in home: %q %v", b, err)
	}
}

// Without the delete or upload permission the page greys the controls
// out, and the server refuses the request anyway.
func TestPermissions(t *testing.T) {
	e := newEnv(t, sqlite())
	e.partner("acme", "reader", "list,download", "")
	if err := os.WriteFile(filepath.Join(e.fc.PartnerDir("acme"), "report.csv"), []byte("a,b\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.mustSignIn("reader")
	page := c.get("/portal/files/")
	mustContain(t, page.body, "report.csv", `title="Your access does not include deleting"`, `id="no-upload"`)
	token := csrfOf(t, page.body)
	r := c.postForm("/portal/delete", url.Values{"path": {"/report.csv"}, "csrf": {token}})
	if r.status != http.StatusForbidden {
		t.Fatalf("delete: %d", r.status)
	}
	mustContain(t, r.body, "Your access does not allow that: this account may not delete.")
	r = c.req(http.MethodPost, "/portal/upload?path=/new.txt", strings.NewReader("x"),
		http.Header{"Content-Range": {"bytes 0-0/1"}, "X-CSRF-Token": {token}})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "may not upload") {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	if r := c.get("/portal/files/report.csv"); r.status != http.StatusOK || r.body != "a,b\n" {
		t.Fatalf("download: %d %q", r.status, r.body)
	}
	if _, err := os.Stat(filepath.Join(e.fc.PartnerDir("acme"), "report.csv")); err != nil {
		t.Fatal(err)
	}
}

// putPart sends one part of a chunked upload.
func (c *client) putPart(token, name string, data []byte, first, total int64) (int, int64, bool) {
	c.t.Helper()
	r := c.req(http.MethodPost, "/portal/upload?path="+url.QueryEscape(name), bytes.NewReader(data),
		http.Header{"Content-Range": {fmt.Sprintf("bytes %d-%d/%d", first, first+int64(len(data))-1, total)}, "X-CSRF-Token": {token}})
	var rep struct {
		Offset int64
		Done   bool
		Error  string
	}
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
		c.t.Fatalf("upload reply %d: %q", r.status, r.body)
	}
	return r.status, rep.Offset, rep.Done
}

// A chunked upload whose connection is killed in the middle of a part
// goes on from what arrived: the file is published once, byte-exact,
// with one row and one alert; before the end nobody sees it.
func TestChunkedUploadResumes(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			e.partner("acme", "alice", "", "")
			c := e.client()
			c.mustSignIn("alice")
			token := csrfOf(t, c.get("/portal/files/").body)
			data := make([]byte, 300_000)
			for i := range data {
				data[i] = byte(i * 7)
			}
			if st, off, done := c.putPart(token, "/big.bin", data[:100_000], 0, int64(len(data))); st != 200 || off != 100_000 || done {
				t.Fatalf("part 1: %d %d %v", st, off, done)
			}
			// Part 2 over a raw connection, killed half-way.
			conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /portal/upload?path=%%2Fbig.bin HTTP/1.1\r\nHost: %s\r\nCookie: ferry_portal=%s\r\nX-CSRF-Token: %s\r\nContent-Range: bytes 100000-199999/300000\r\nContent-Length: 100000\r\n\r\n",
				strings.TrimPrefix(e.base, "http://"), c.cookie("ferry_portal"), token)
			if _, err := conn.Write(data[100_000:150_000]); err != nil {
				t.Fatal(err)
			}
			// Let the server read what was sent before the connection dies.
			testenv.Eventually(t, 10*time.Second, func() error {
				if _, err := os.Stat(filepath.Join(e.fc.PartnerDir("acme"), "big.bin")); err == nil {
					return fmt.Errorf("visible")
				}
				return nil
			})
			time.Sleep(200 * time.Millisecond)
			conn.Close()
			var offset int64
			testenv.Eventually(t, 10*time.Second, func() error {
				var rep struct{ Offset int64 }
				r := c.get("/portal/upload?path=%2Fbig.bin")
				if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
					return err
				}
				if rep.Offset <= 100_000 {
					return fmt.Errorf("offset %d", rep.Offset)
				}
				offset = rep.Offset
				return nil
			})
			if offset > 150_000 {
				t.Fatalf("offset %d beyond what was sent", offset)
			}
			if _, err := os.Stat(filepath.Join(e.fc.PartnerDir("acme"), "big.bin")); err == nil {
				t.Fatal("the half-done upload is visible")
			}
			if page := c.get("/portal/files/"); strings.Contains(page.body, "big.bin") {
				t.Fatal("the half-done upload is listed")
			}
			// A part that starts past the staged data is answered 409 with the offset.
			if st, off, _ := c.putPart(token, "/big.bin", data[200_000:], 200_000, int64(len(data))); st != http.StatusConflict || off != offset {
				t.Fatalf("part past the end: %d %d", st, off)
			}
			if st, off, done := c.putPart(token, "/big.bin", data[offset:], offset, int64(len(data))); st != 200 || off != int64(len(data)) || !done {
				t.Fatalf("rest: %d %d %v", st, off, done)
			}
			got := c.get("/portal/files/big.bin")
			if got.status != 200 || got.body != string(data) {
				t.Fatalf("download: %d, %d bytes", got.status, len(got.body))
			}
			uploads := e.rows(store.TransferFilter{Operation: store.OpUpload})
			var ok []store.Transfer
			for _, r := range uploads {
				if r.Status == store.StatusOK {
					ok = append(ok, r)
				}
			}
			if len(ok) != 1 || ok[0].FileSize != int64(len(data)) || ok[0].SHA256 != fmt.Sprintf("%x", sha256.Sum256(data)) {
				t.Fatalf("upload rows: %+v", uploads)
			}
			alerts, err := e.st.ListNotifications(context.Background(), store.NotificationFilter{Kind: store.NotifyKindUpload})
			if err != nil || len(alerts) != 1 {
				t.Fatalf("alerts: %d %v", len(alerts), err)
			}
		})
	}
}

// The same file uploaded over FTP and through the portal gives the same
// audit row and the same alert, but for the protocol.
func TestSameUploadAsFTP(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			e.partner("acme", "alice", "", "/in")
			data := []byte("invoice 2026-12, 3 lines\nA,1\nB,2\n")
			fc, err := dialFTP(t, e, "alice", testPassword)
			if err != nil {
				t.Fatal(err)
			}
			if err := fc.Stor("ftp.csv", bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			// The FTP server marks its upload done, and queues the alert,
			// after the 226, in the background; the portal at once.
			storetest.WaitUploadsFinished(t, e.st)
			c := e.client()
			c.mustSignIn("alice")
			token := csrfOf(t, c.get("/portal/files/").body)
			if st, _, done := c.putPart(token, "/web.csv", data, 0, int64(len(data))); st != 200 || !done {
				t.Fatalf("portal upload: %d", st)
			}
			rows := e.rows(store.TransferFilter{Operation: store.OpUpload})
			if len(rows) != 2 {
				t.Fatalf("rows: %+v", rows)
			}
			shape := func(r store.Transfer) string {
				return fmt.Sprintf("op=%s status=%s path=%s bytes=%d size=%d sha=%s user=%s partner=%v account=%v usage=%d/%d err=%q",
					r.Operation, r.Status, strings.Replace(strings.Replace(r.Path, "ftp.csv", "X", 1), "web.csv", "X", 1), r.Bytes, r.FileSize,
					r.SHA256, r.Username, *r.PartnerID, *r.AccountID, r.UsageBytes, r.UsageFiles, r.Error)
			}
			if shape(rows[0]) != shape(rows[1]) {
				t.Fatalf("rows differ:\nftp:    %s\nportal: %s", shape(rows[0]), shape(rows[1]))
			}
			if rows[0].Protocol != "ftp" || rows[1].Protocol != "portal" {
				t.Fatalf("protocols %s, %s", rows[0].Protocol, rows[1].Protocol)
			}
			alerts, err := e.st.ListNotifications(context.Background(), store.NotificationFilter{Kind: store.NotifyKindUpload})
			if err != nil || len(alerts) != 2 {
				t.Fatalf("alerts: %d %v", len(alerts), err)
			}
			ashape := func(n store.Notification) string {
				var p notify.UploadPayload
				if err := json.Unmarshal([]byte(n.Payload), &p); err != nil {
					t.Fatal(err)
				}
				var keys map[string]any
				_ = json.Unmarshal([]byte(n.Payload), &keys)
				names := make([]string, 0, len(keys))
				for k := range keys {
					names = append(names, k)
				}
				return fmt.Sprintf("%s %s %d %s %s %s %d", n.Kind, strings.Replace(strings.Replace(p.Path, "ftp.csv", "X", 1), "web.csv", "X", 1),
					p.Size, p.SHA256, p.Username, p.AccountID, len(names))
			}
			if ashape(alerts[0]) != ashape(alerts[1]) {
				t.Fatalf("alerts differ:\n%s\n%s", ashape(alerts[0]), ashape(alerts[1]))
			}
		})
	}
}

// Without script the page's plain form uploads several files at once,
// through the same core: published whole, one row each; a name that
// exists needs the overwrite permission.
func TestUploadFormWithoutScript(t *testing.T) {
	e := newEnv(t, sqlite())
	e.partner("acme", "alice", "list,download,upload", "")
	c := e.client()
	c.mustSignIn("alice")
	token := csrfOf(t, c.get("/portal/files/").body)
	send := func(files map[string]string) resp {
		t.Helper()
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("csrf", token)
		_ = mw.WriteField("dir", "/")
		for name, body := range files {
			w, _ := mw.CreateFormFile("file", name)
			_, _ = io.WriteString(w, body)
		}
		mw.Close()
		return c.req(http.MethodPost, "/portal/upload-form", &buf, http.Header{"Content-Type": {mw.FormDataContentType()}})
	}
	if r := send(map[string]string{"a.txt": "alpha", "b.txt": "beta"}); r.status != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	for name, want := range map[string]string{"a.txt": "alpha", "b.txt": "beta"} {
		if got := c.get("/portal/files/" + name); got.body != want {
			t.Fatalf("%s: %q", name, got.body)
		}
	}
	if n := len(e.rows(store.TransferFilter{Operation: store.OpUpload, Status: store.StatusOK})); n != 2 {
		t.Fatalf("upload rows: %d", n)
	}
	r := send(map[string]string{"a.txt": "replaced"})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "may not replace") {
		t.Fatalf("overwrite without the permission: %d %s", r.status, r.body)
	}
	if got := c.get("/portal/files/a.txt"); got.body != "alpha" {
		t.Fatalf("a.txt after a refused overwrite: %q", got.body)
	}
}
