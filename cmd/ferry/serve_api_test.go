package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/store/storetest"
)

// The binary with the admin API on: a token from `ferry token create`, a
// partner and account made over HTTP, a real FTP upload found in the
// transfer log, and a disabled account's live session closed through the
// FTP adapter of serve_api.go. On SQLite and PostgreSQL.
func TestFerryBinaryAdminAPI(t *testing.T) {
	bin := buildFerry(t)
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dir := t.TempDir()
			envToken := "env-token-0123456789abcdef"
			f := &ferryCmd{t: t, bin: bin, dir: dir}
			if b.Name == "postgres" {
				url, _ := b.Open(t)
				f.env = append(f.env, "FERRY_DATABASE_URL="+url)
			}
			tokenOf := func(out string) string {
				for _, l := range strings.Split(out, "\n") {
					if strings.HasPrefix(l, "ferry_") {
						return strings.TrimSpace(l)
					}
				}
				t.Fatalf("no token in %q", out)
				return ""
			}
			admin := tokenOf(f.ok("", "token", "create", "--role", "admin", "--name", "ops"))
			auditor := tokenOf(f.ok("", "token", "create", "--role", "auditor"))
			if out := f.ok("", "config"); strings.Contains(out, envToken) {
				t.Fatal("ferry config shows the admin token")
			}

			httpsAddr := testenv.FreePort(t)
			n := newNode(t, b.Name, bin, dir, append(f.env, "FERRY_ADMIN_TOKEN="+envToken, "FERRY_HTTPS_ADDR="+httpsAddr)...)
			n.start()
			n.waitHealthy()
			httpAddr, ftpAddr := n.http, n.ftp

			base := "http://" + httpAddr
			call := func(method, path, token string, body any) (int, map[string]any) {
				t.Helper()
				var rd io.Reader
				if body != nil {
					raw, _ := json.Marshal(body)
					rd = bytes.NewReader(raw)
				}
				req, _ := http.NewRequest(method, base+path, rd)
				if body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				defer resp.Body.Close()
				var v map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&v)
				return resp.StatusCode, v
			}
			if code, v := call("GET", "/readyz", "", nil); code != http.StatusOK {
				t.Fatalf("readyz: %d %v", code, v)
			}
			if code, _ := call("POST", "/api/v1/partners", auditor, map[string]any{"slug": "acme"}); code != http.StatusForbidden {
				t.Fatalf("auditor POST: %d", code)
			}
			code, p := call("POST", "/api/v1/partners", admin, map[string]any{"slug": "acme", "contacts": []string{"ops@acme.example"}})
			if code != http.StatusCreated {
				t.Fatalf("create partner: %d %v", code, p)
			}
			code, a := call("POST", "/api/v1/partners/acme/accounts", envToken, map[string]any{"username": "alice"})
			pw, _ := a["password"].(string)
			if code != http.StatusCreated || pw == "" {
				t.Fatalf("create account: %d %v", code, a)
			}

			c, err := ftp.Dial(ftpAddr, ftp.DialWithTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Quit()
			if err := c.Login("alice", pw); err != nil {
				t.Fatalf("FTP login with the API's password: %v", err)
			}
			if err := c.Stor("hello.txt", strings.NewReader("hello ferry")); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 20*time.Second, func() error {
				_, pg := call("GET", "/api/v1/transfers?partner=acme&operation=upload&status=ok", auditor, nil)
				items, _ := pg["items"].([]any)
				if len(items) != 1 {
					return fmt.Errorf("the upload is not in /api/v1/transfers: %v", pg)
				}
				if row := items[0].(map[string]any); row["path"] != "/hello.txt" || row["bytes"] != float64(11) || row["username"] != "alice" {
					t.Fatalf("upload row: %v", row)
				}
				return nil
			})
			// The parts serve_api.go wires in: the upload's alert, sent by the
			// notifier (no relay: to the partner mailbox only), is in the
			// notifications and in acme's mailbox; the bans answer.
			testenv.Eventually(t, 20*time.Second, func() error {
				_, pg := call("GET", "/api/v1/notifications?partner=acme&kind=upload&status=sent", auditor, nil)
				_, mb := call("GET", "/api/v1/partners/acme/mailbox/messages", auditor, nil)
				notes, _ := pg["items"].([]any)
				m, _ := mb["items"].([]any)
				if len(notes) != 1 || len(m) != 1 {
					return fmt.Errorf("the upload alert was not sent to the mailbox: %v %v", pg, mb)
				}
				if subj, _ := m[0].(map[string]any)["subject"].(string); !strings.Contains(subj, "hello.txt") {
					t.Fatalf("alert in the mailbox: %v", m[0])
				}
				return nil
			})
			if code, v := call("GET", "/api/v1/bans", auditor, nil); code != http.StatusOK {
				t.Fatalf("bans: %d %v", code, v)
			}

			_, sessions := call("GET", "/api/v1/sessions?account=alice", auditor, nil)
			items, _ := sessions["items"].([]any)
			if len(items) != 1 || !strings.HasPrefix(items[0].(map[string]any)["id"].(string), "ftp-") {
				t.Fatalf("sessions: %v", sessions)
			}

			// The partner portal is mounted on the same listener: alice signs
			// in with her FTP password and sees her upload.
			jar, _ := cookiejar.New(nil)
			browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
			page := func(resp *http.Response, err error) string {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("portal %s: %d %s", resp.Request.URL.Path, resp.StatusCode, b)
				}
				return string(b)
			}
			form := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page(browser.Get(base + "/portal/")))
			if form == nil {
				t.Fatal("no sign-in form at /portal/")
			}
			files := page(browser.PostForm(base+"/portal/signin", url.Values{"csrf": {form[1]}, "username": {"alice"}, "password": {pw}}))
			if !strings.Contains(files, "hello.txt") || !strings.Contains(files, "Signed in as alice") {
				t.Fatalf("portal after sign-in:\n%s", files)
			}

			// FERRY_HTTPS_ADDR serves the same over TLS with Ferry's
			// certificate (the self-signed one here): the portal's cookies
			// are Secure there.
			pem, err := os.ReadFile(filepath.Join(dir, "data", "tls", "cert.pem"))
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(pem)
			tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
			resp, err := tlsClient.Get("https://" + httpsAddr + "/portal/")
			if err != nil {
				t.Fatalf("https: %v", err)
			}
			resp.Body.Close()
			if c := resp.Cookies(); resp.StatusCode != http.StatusOK || len(c) == 0 || !c[0].Secure {
				t.Fatalf("https /portal/: %d %+v", resp.StatusCode, c)
			}

			// Disabling the account through the API closes the live session.
			if code, v := call("PATCH", "/api/v1/partners/acme/accounts/alice", admin, map[string]any{"enabled": false}); code != http.StatusOK {
				t.Fatalf("disable: %d %v", code, v)
			}
			testenv.Eventually(t, 10*time.Second, func() error {
				if c.NoOp() == nil {
					return errors.New("the disabled account's FTP session is still open")
				}
				return nil
			})
			_, audit := call("GET", "/api/v1/admin-audit?action=account.update", auditor, nil)
			if items, _ := audit["items"].([]any); len(items) != 1 || items[0].(map[string]any)["token_name"] != "ops" {
				t.Fatalf("admin audit: %v", audit)
			}

			if err := n.stop(); err != nil {
				t.Fatalf("ferry exited with %v", err)
			}
			if !strings.Contains(n.logs(), "service=http") {
				t.Errorf("no http listener in the log:\n%s", n.logs())
			}
		})
	}
}
