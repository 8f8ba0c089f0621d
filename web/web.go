// Package web is Ferry's browser admin: server-rendered pages on top of the
// same service layer as the admin API (package partners, notify.Outbox,
// mailbox.Store, bans.Guard and the API's SessionControl), so no rule is
// written twice. Pages, style and the few lines of script are embedded; no
// build step is needed.
//
// Sign-in takes an admin or auditor API token, or the username and
// password of an admin user (ferry admin create). The session is a cookie
// signed with a key derived from the token's or the user's stored hash: it
// carries the token's or user's ID and an expiry, so every node sharing the
// database accepts it, and revoking the token, or disabling, deleting or
// changing the password of the user, ends its sessions at once. Every form carries a
// CSRF token derived from the same key, checked on every POST. Auditors
// see no control that changes anything, and get 403 if they post anyway.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/adminauth"
	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/files"
	"github.com/ferryhq/ferry/internal/proxied"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/sessions"
	"github.com/ferryhq/ferry/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// SessionLifetime is how long a sign-in lasts.
const SessionLifetime = 12 * time.Hour

// Server is the web admin. Set the fields, then mount Handler.
type Server struct {
	Store    *store.Store      // required
	Partners *partners.Service // required; the rules shared with the API and CLI
	// Files is the file core the file pages work through; nil: one over
	// Partners.FilesDir with Store, and Outbox's upload alerts.
	Files *files.Service
	// Sessions lists and closes live protocol sessions; nil means none.
	Sessions sessions.Control
	Outbox   *notify.Outbox // nil: no notification pages
	Mail     *mailbox.Store // nil: no mailbox pages
	Guard    *bans.Guard    // nil: no bans (failed sign-ins are not counted)
	// Identity is Ferry's own keys, shown on /mail-security, and MailSign
	// how alerts are signed; nil: no such page.
	Identity *mailsec.Identity
	MailSign string
	// AdminToken, when set, is accepted as an admin token (FERRY_ADMIN_TOKEN).
	AdminToken string
	Logger     *slog.Logger
	// Secure marks the session cookie Secure even on plain HTTP (behind a
	// TLS-terminating proxy); it is always Secure on a TLS request.
	Secure bool
	// TrustedProxies are the reverse proxies (FERRY_TRUSTED_PROXIES) whose
	// X-Forwarded-For names the client for bans, the audit log and logs;
	// from any other peer the header is ignored.
	TrustedProxies []netip.Prefix
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time

	once    sync.Once
	handler http.Handler
	pages   map[string]*template.Template
	chart   chartCache
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Handler returns the web admin as an http.Handler; it is built once.
func (s *Server) Handler() http.Handler {
	s.once.Do(func() {
		s.pages = mustParsePages()
		s.handler = s.routes()
	})
	return s.handler
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)

	get := func(pattern string, h handler) { mux.Handle("GET "+pattern, s.authed(h)) }
	post := func(pattern, action string, h handler) { mux.Handle("POST "+pattern, s.authed(s.mutating(action, h))) }

	get("/{$}", s.dashboard)
	get("/partners", s.partnerList)
	get("/partners/new", s.partnerNew)
	post("/partners", "partner.create", s.partnerCreate)
	get("/partners/{slug}", s.partnerShow)
	post("/partners/{slug}", "partner.update", s.partnerUpdate)
	post("/partners/{slug}/enabled", "partner.update", s.partnerEnabled)
	post("/partners/{slug}/test-notification", "notification.test", s.partnerTestNotification)
	post("/partners/{slug}/keys", "recipient_key.add", s.keyAdd)
	post("/partners/{slug}/keys/{id}/delete", "recipient_key.delete", s.keyDelete)
	post("/partners/{slug}/encrypt-alerts", "partner.update", s.encryptAlerts)
	post("/partners/{slug}/upload-protection", "partner.update", s.uploadProtection)
	post("/partners/{slug}/accounts", "account.create", s.accountCreate)
	post("/partners/{slug}/accounts/{account}", "account.update", s.accountUpdate)
	post("/partners/{slug}/accounts/{account}/password", "account.update", s.accountRotate)
	get("/partners/{slug}/accounts/{account}/password", s.accountPassword)
	post("/partners/{slug}/accounts/{account}/enabled", "account.update", s.accountEnabled)
	get("/partners/{slug}/files", s.withTree(s.files))
	get("/partners/{slug}/download", s.withTree(s.download))
	post("/partners/{slug}/files/delete", "file.delete", s.withTree(s.fileDelete))
	post("/partners/{slug}/files/mkdir", "file.mkdir", s.withTree(s.fileMkdir))
	post("/partners/{slug}/files/rename", "file.rename", s.withTree(s.fileRename))
	mux.Handle("POST /partners/{slug}/files/upload", s.authed(s.mutatingBody("file.upload", maxUpload, s.withTree(s.fileUpload))))
	get("/partners/{slug}/mailbox", s.mailboxList)
	get("/partners/{slug}/mailbox/{id}", s.mailboxMessage)
	get("/transfers", s.transfers)
	get("/sessions", s.sessionList)
	post("/sessions/{id}/kick", "session.kick", s.sessionKick)
	get("/notifications", s.notifications)
	get("/mail-security", s.mailSecurity)
	post("/notifications/{id}/retry", "notification.retry", s.notificationRetry)
	post("/partners/{slug}/expectations", "expectation.create", s.expectationCreate)
	post("/partners/{slug}/expectations/{id}/delete", "expectation.delete", s.expectationDelete)
	post("/partners/{slug}/expectations/{id}/enabled", "expectation.update", s.expectationEnabled)
	get("/webhooks", s.webhooks)
	post("/webhooks", "webhook.create", s.webhookCreate)
	post("/webhooks/{id}/delete", "webhook.delete", s.webhookDelete)
	post("/webhooks/deliveries/{id}/retry", "webhook.delivery.retry", s.webhookRetry)
	mux.Handle("/", s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) error {
		return errNotFound
	}))
	return securityHeaders(mux)
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders keeps the pages out of frames and off other origins'
// scripts.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// handler is a page handler of a signed-in principal. A returned error is
// rendered as an error page (see renderError).
type handler func(w http.ResponseWriter, r *http.Request, p *principal) error

// errNotFound and friends are rendered with their status.
var (
	errNotFound  = &httpError{status: http.StatusNotFound, msg: "There is no such page."}
	errForbidden = &httpError{status: http.StatusForbidden, msg: "You are signed in with role auditor: you may only read. Changes need role admin."}
)

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// authed requires a valid session; GET requests without one are sent to
// the sign-in page.
func (s *Server) authed(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.session(r)
		if err != nil {
			if !errors.Is(err, errNoSession) {
				s.logger().Error("web session", "err", err)
				s.renderError(w, r, nil, err)
				return
			}
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				next := r.URL.RequestURI()
				target := "/login"
				if next != "/" {
					target += "?next=" + urlQueryEscape(next)
				}
				http.Redirect(w, r, target, http.StatusSeeOther)
				return
			}
			s.renderError(w, r, nil, &httpError{status: http.StatusUnauthorized, msg: "Your session has ended; sign in again."})
			return
		}
		if err := h(w, r, p); err != nil {
			s.renderError(w, r, p, err)
		}
	})
}

// mutating guards every POST: same origin, a valid CSRF token, role admin;
// and records it in the admin audit log like the API does.
func (s *Server) mutating(action string, h handler) handler {
	return s.mutatingBody(action, 1<<20, h)
}

// mutatingBody is mutating for forms of up to limit bytes; a
// multipart/form-data form (a file upload) is read with its files kept on
// disk past 8 MiB.
func (s *Server) mutatingBody(action string, limit int64, h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		err := func() error {
			if err := checkOrigin(r); err != nil {
				return err
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			if err := parseForm(r); err != nil {
				return badRequest("The form could not be read: %v", err)
			}
			if !s.validCSRF(p, r.PostForm.Get("csrf")) {
				return &httpError{status: http.StatusForbidden, msg: "The form has expired or did not come from this site; reload the page and try again."}
			}
			if p.Role != adminauth.RoleAdmin {
				return errForbidden
			}
			return h(rec, r, p)
		}()
		if err != nil {
			s.renderError(rec, r, p, err)
		}
		s.audit(r, p, action, rec.status)
		return nil
	}
}

// parseForm reads a posted form, url-encoded or multipart.
func parseForm(r *http.Request) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		return r.ParseMultipartForm(8 << 20)
	}
	return r.ParseForm()
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// checkOrigin refuses a cross-site POST (besides SameSite=Strict and the
// CSRF token): a browser names the page's origin in Origin.
func checkOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return nil
	}
	if strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://") != r.Host {
		return &httpError{status: http.StatusForbidden, msg: "This form was posted from another site."}
	}
	return nil
}

// audit writes a POST to the admin audit log, as the API does for its
// changes; the form is not recorded (it may hold a password).
func (s *Server) audit(r *http.Request, p *principal, action string, status int) {
	rec := &store.AdminAudit{
		Method: r.Method, Path: r.URL.Path, Action: action, Status: status, RemoteAddr: s.remoteIP(r),
		Detail: `{"via":"web"}`,
	}
	if p != nil {
		rec.TokenID, rec.TokenName, rec.Role = p.TokenID, p.Name, p.Role
		if p.User {
			// A user's token_id is "user:<id>"; the detail names the user too.
			d, _ := json.Marshal(map[string]string{"via": "web", "user": p.Name})
			rec.Detail = string(d)
		}
	}
	for _, k := range []string{"account", "id", "slug"} {
		if v := r.PathValue(k); v != "" {
			rec.Target = v
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	if err := s.Store.RecordAdminAudit(ctx, rec); err != nil {
		s.logger().Error("admin audit log: record lost", "action", action, "path", rec.Path, "err", err)
	}
}

// remoteIP is the client's address for the audit log and logs: behind a
// trusted proxy, from X-Forwarded-For (see proxied.ClientAddr).
func (s *Server) remoteIP(r *http.Request) string {
	return proxied.ClientIP(r, s.TrustedProxies)
}

// remoteAddr is the client's address for bans; invalid when unknown.
func (s *Server) remoteAddr(r *http.Request) netip.Addr {
	return proxied.ClientAddr(r, s.TrustedProxies)
}
