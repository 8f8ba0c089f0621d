// Package portal is the partner side of Ferry's web: a partner's staff
// sign in at /portal/ with the username and password of their FTP account
// and work on the same files with a browser. It is an adapter like ftpd:
// sign-in goes through partners.Service.Authenticate (the same argon2id
// check and cache) and bans.Guard (the same address bans), files through
// the file core (package files: the same permissions, jail, quota,
// staging, publish, audit rows and alerts).
//
// Sessions are rows of portal_sessions named by the SHA-256 of a random
// cookie secret: signing out deletes the row, and a session whose account
// changed since sign-in (partners.Fingerprint: password, permissions,
// home, TLS policy, enabled flags) is ended at its next request. Every
// POST carries a CSRF token derived from the session secret; sign-in
// always starts a new session (no fixation). The portal answers plain
// HTTP only to loopback clients, unless a trusted proxy says the request
// came over TLS (X-Forwarded-Proto: https).
//
// Pages are server-rendered from embedded templates, with a small embedded
// script for uploads (progress, drag and drop, chunks that resume); no
// build step.
package portal

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/files"
	"github.com/ferryhq/ferry/internal/proxied"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the portal is mounted.
const Prefix = "/portal/"

// SessionLifetime is how long a sign-in lasts at most.
const SessionLifetime = 8 * time.Hour

// Server is the partner portal. Set the fields, then mount Handler on
// Prefix.
type Server struct {
	Store    *store.Store      // required
	Partners *partners.Service // required: sign-in
	Files    *files.Service    // required: the file core
	Guard    *bans.Guard       // nil: no bans
	// Mail is the partners' mailboxes; nil: no webmail.
	Mail *mailbox.Store
	// Submission is where written mail may go; nil: no writing.
	Submission *mailbox.Submission
	Logger     *slog.Logger
	// TrustedProxies (FERRY_TRUSTED_PROXIES) name the client in
	// X-Forwarded-For and say in X-Forwarded-Proto whether it used TLS.
	TrustedProxies []netip.Prefix
	// ViewAs, if set, names the administrator of the web admin a request
	// comes from (ok false: none); it opens the read-only view-as pages.
	ViewAs func(r *http.Request) (admin string, ok bool)
	// PartSize is how much of a file the page sends per request; zero
	// means 8 MiB (at most MaxPart).
	PartSize int64
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time

	once    sync.Once
	handler http.Handler
	pages   map[string]*template.Template
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

// Handler returns the portal; it is built once.
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
	mux.Handle("GET /portal/static/", http.StripPrefix("/portal/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /portal/{$}", s.home)
	mux.HandleFunc("GET /portal/signin", s.signinPage)
	mux.HandleFunc("POST /portal/signin", s.signin)
	mux.HandleFunc("POST /portal/signout", s.signout)
	mux.HandleFunc("GET /portal/signin/code", s.pendingPage(pendingTOTP))
	mux.HandleFunc("POST /portal/signin/code", s.secondFactor(pendingTOTP))
	mux.HandleFunc("GET /portal/signin/setup", s.pendingPage(pendingEnroll))
	mux.HandleFunc("POST /portal/signin/setup", s.secondFactor(pendingEnroll))

	get := func(pattern string, h handler) { mux.Handle("GET "+pattern, s.authed(h)) }
	post := func(pattern string, limit int64, h handler) {
		mux.Handle("POST "+pattern, s.authed(s.posted(limit, h)))
	}
	get("/portal/files/{path...}", s.withTree(s.files))
	get("/portal/upload", s.withTree(s.uploadStatus))
	get("/portal/account", s.accountPage)
	post("/portal/account/totp", 1<<16, s.accountTOTP)
	mux.Handle("POST /portal/upload", s.authed(s.withTree(s.uploadPart))) // checks its own CSRF header
	post("/portal/upload-form", maxFormUpload, s.withTree(s.uploadForm))
	post("/portal/mkdir", 1<<16, s.withTree(s.mkdir))
	post("/portal/rename", 1<<16, s.withTree(s.rename))
	post("/portal/delete", 1<<16, s.withTree(s.remove))
	mail := func(h handler) handler { return s.mailed(h) }
	get("/portal/mail/{$}", mail(s.mailList))
	get("/portal/mail/message/{id}", mail(s.mailMessage))
	get("/portal/mail/message/{id}/part/{n}", mail(s.mailPart))
	post("/portal/mail/message/{id}/flag", 1<<16, mail(s.mailFlag))
	post("/portal/mail/message/{id}/move", 1<<16, mail(s.mailMove))
	post("/portal/mail/message/{id}/delete", 1<<16, mail(s.mailDelete))
	get("/portal/mail/compose", mail(s.writes(s.composePage)))
	post("/portal/mail/send", maxCompose, mail(s.writes(s.sendMail)))
	post("/portal/mail/folders/create", 1<<16, mail(s.folderCreate))
	post("/portal/mail/folders/rename", 1<<16, mail(s.folderRename))
	post("/portal/mail/folders/delete", 1<<16, mail(s.folderDelete))
	// An administrator's read-only view of an account's pages.
	mux.Handle("GET /portal/view-as/{account}/files/{path...}", s.viewAs(s.withTree(s.files)))
	mux.Handle("GET /portal/view-as/{account}/mail/{$}", s.viewAs(s.mailed(s.mailList)))
	mux.Handle("GET /portal/view-as/{account}/mail/message/{id}", s.viewAs(s.mailed(s.mailMessage)))
	mux.Handle("/portal/", s.authed(func(w http.ResponseWriter, r *http.Request, u *user) error { return errNotFound }))
	return securityHeaders(s.requireTLS(mux))
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders keeps the pages out of frames and off other origins'
// scripts and styles.
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

// tls reports whether the browser reached Ferry over TLS: directly, or
// through a trusted proxy that says so in X-Forwarded-Proto.
func (s *Server) tls(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	peer := proxied.ClientAddr(r, nil)
	trusted := false
	for _, p := range s.TrustedProxies {
		if peer.IsValid() && p.Contains(peer) {
			trusted = true
			break
		}
	}
	if !trusted {
		return false
	}
	// Each proxy appends its own view; the nearest one's counts.
	vals := r.Header.Values("X-Forwarded-Proto")
	if len(vals) == 0 {
		return false
	}
	parts := strings.Split(vals[len(vals)-1], ",")
	return strings.EqualFold(strings.TrimSpace(parts[len(parts)-1]), "https")
}

// requireTLS refuses plain HTTP unless the client is on this machine:
// passwords and partner files do not cross a network in clear text.
func (s *Server) requireTLS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.tls(r) && !s.clientAddr(r).IsLoopback() {
			s.renderError(w, r, nil, &httpError{status: http.StatusForbidden,
				msg: "The partner portal only works over a secure connection. Open it with https:// instead of http://."})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// clientAddr is the browser's address for bans, audit rows and logs.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	return proxied.ClientAddr(r, s.TrustedProxies)
}

func (s *Server) clientIP(r *http.Request) string { return proxied.ClientIP(r, s.TrustedProxies) }

// handler is a page of a signed-in user; a returned error is rendered as
// an error page.
type handler func(w http.ResponseWriter, r *http.Request, u *user) error

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

var errNotFound = &httpError{status: http.StatusNotFound, msg: "There is no such page, file or folder."}

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// authed requires a live session; a GET without one goes to the sign-in
// page.
func (s *Server) authed(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.session(w, r)
		if err != nil {
			if !errors.Is(err, errNoSession) {
				s.logger().Error("portal session", "err", err)
				s.renderError(w, r, nil, err)
				return
			}
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/portal/signin?next="+urlQuery(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.renderError(w, r, nil, &httpError{status: http.StatusUnauthorized, msg: "You are signed out; sign in again."})
			return
		}
		if u.pending != "" {
			// The second factor is still missing: nothing but its page.
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, pendingURL(u.pending)+"?next="+urlQuery(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.renderError(w, r, nil, &httpError{status: http.StatusUnauthorized, msg: "Finish signing in first."})
			return
		}
		if err := h(w, r, u); err != nil {
			s.renderError(w, r, u, err)
		}
	})
}

// posted guards a form POST: same origin and the session's CSRF token.
func (s *Server) posted(limit int64, h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, u *user) error {
		if err := checkOrigin(r); err != nil {
			return err
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := parseForm(r); err != nil {
			return badRequest("The form could not be read.")
		}
		if !u.validCSRF(r.PostForm.Get("csrf")) {
			return errCSRF
		}
		return h(w, r, u)
	}
}

var errCSRF = &httpError{status: http.StatusForbidden, msg: "The form has expired or came from another site; reload the page and try again."}

// checkOrigin refuses a POST a browser says came from another site.
func checkOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return nil
	}
	if strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://") != r.Host {
		return &httpError{status: http.StatusForbidden, msg: "This form was sent from another site."}
	}
	return nil
}

func parseForm(r *http.Request) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseMultipartForm(8 << 20)
	}
	return r.ParseForm()
}
