package portal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/internal/websession"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

const (
	sessionCookie = "ferry_portal"
	signinCookie  = "ferry_portal_signin" // double-submit CSRF token of the sign-in form
	cookiePath    = "/portal/"
)

// user is who is signed in: an account of a partner.
type user struct {
	Login   *partners.Login
	Partner *store.Partner
	secret  string // the cookie's secret
	session string // the portal_sessions row
	pending string // "" signed in; "totp" or "enroll": the second factor is still missing
	totp    bool   // the account has a second factor
	viewAs  string // an administrator looking at the account's pages, read-only
}

// base is where the user's pages are: the portal, or the view-as pages.
func (u *user) base() string {
	if u.viewAs != "" {
		return "/portal/view-as/" + url.PathEscape(u.Login.Username)
	}
	return "/portal"
}

// ViewAs names the administrator when the pages are a read-only view.
func (u *user) ViewAs() string { return u.viewAs }

// Base is base for the templates.
func (u *user) Base() string { return u.base() }

var errNoSession = errors.New("no session")

func rowID(secret string) string { return websession.RowID(secret) }

// CSRF is the token every form of the session carries: derived from the
// session's secret, so it changes with every sign-in and is worth nothing
// without the cookie.
func (u *user) CSRF() string {
	m := hmac.New(sha256.New, []byte(u.secret))
	m.Write([]byte("ferry portal csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (u *user) validCSRF(got string) bool { return websession.ValidToken(u.CSRF(), got) }

// session returns the user of the request's session cookie. A session
// whose account changed since sign-in (password, permissions, home, TLS
// policy, enabled flags, its partner's too) is deleted: the browser is
// signed out, as FTP and mail sessions are closed.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*user, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) != 43 {
		return nil, errNoSession
	}
	ctx := r.Context()
	id := rowID(c.Value)
	ps, err := s.Store.LivePortalSession(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("look up session: %w", err)
	}
	a, err := s.Store.AccountByID(ctx, ps.AccountID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("look up account: %w", err)
	}
	if err != nil || partners.Fingerprint(a) != ps.Fingerprint || !a.Enabled || a.Partner == nil || !a.Partner.Enabled ||
		!partners.AddrAllowed(a.Partner.AllowedCIDRs, s.clientAddr(r)) {
		if derr := s.Store.DeletePortalSession(ctx, id); derr != nil {
			s.logger().Warn("end a changed portal session", "err", derr)
		}
		s.logger().Info("portal session ended: the account changed", "account", ps.AccountID, "remote", s.clientIP(r))
		s.setCookie(w, r, sessionCookie, "", time.Time{})
		return nil, errNoSession
	}
	perms, err := partners.ParsePerm(a.Permissions)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", a.Username, err)
	}
	l := &partners.Login{AccountID: a.ID, Username: a.Username, PartnerID: a.PartnerID, PartnerSlug: a.Partner.Slug,
		HomeDir: a.HomeDir, Perms: perms, TLSRequired: a.TLSRequired || a.Partner.TLSRequired, Fingerprint: ps.Fingerprint}
	return &user{Login: l, Partner: a.Partner, secret: c.Value, session: id, pending: ps.Pending, totp: a.TOTPSecret != ""}, nil
}

// startSession stores a new session of l and returns its cookie value. A
// session is only ever created here, after the password was checked, with
// a fresh secret: a cookie planted before sign-in is never promoted.
func (s *Server) startSession(ctx context.Context, l *partners.Login, pending string) (string, time.Time, error) {
	secret, err := websession.NewSecret()
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	exp := now.Add(SessionLifetime)
	if pending != "" {
		exp = now.Add(pendingLifetime)
	}
	if err := s.Store.CreatePortalSession(ctx, &store.PortalSession{ID: rowID(secret), AccountID: l.AccountID,
		Fingerprint: l.Fingerprint, Pending: pending, CreatedAt: now, ExpiresAt: exp}); err != nil {
		return "", time.Time{}, fmt.Errorf("store session: %w", err)
	}
	if err := s.Store.PrunePortalSessions(ctx, now); err != nil {
		s.logger().Warn("prune expired portal sessions", "err", err)
	}
	return secret, exp, nil
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	websession.SetCookie(w, name, value, cookiePath, s.tls(r), expires)
}

type signinData struct {
	Next     string
	Error    string
	Token    string
	Username string
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if _, err := s.session(w, r); err == nil {
		http.Redirect(w, r, "/portal/files/", http.StatusSeeOther)
		return
	}
	s.renderSignin(w, r, http.StatusOK, signinData{})
}

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	d := signinData{}
	if r.URL.Query().Get("ended") != "" {
		d.Error = "You were signed out."
	}
	s.renderSignin(w, r, http.StatusOK, d)
}

func (s *Server) renderSignin(w http.ResponseWriter, r *http.Request, status int, d signinData) {
	tok, fresh := websession.FormToken(r, signinCookie)
	if fresh {
		s.setCookie(w, r, signinCookie, tok, time.Time{})
	}
	d.Token, d.Next = tok, safeNext(r.FormValue("next"))
	s.render(w, r, nil, status, "signin", "Sign in", d)
}

// safeNext keeps the page to return to after sign-in inside the portal.
func safeNext(next string) string { return websession.SafeNext(next, Prefix, "/portal/files/") }

// verifyWait bounds how long a sign-in waits for a password check slot.
const verifyWait = 10 * time.Second

func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderSignin(w, r, http.StatusBadRequest, signinData{Error: "The form could not be read."})
		return
	}
	username := strings.TrimSpace(r.PostForm.Get("username"))
	fail := func(status int, msg string) {
		s.renderSignin(w, r, status, signinData{Error: msg, Username: username})
	}
	c, err := r.Cookie(signinCookie)
	if err != nil || checkOrigin(r) != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		fail(http.StatusForbidden, "The sign-in form expired or came from another site; try again.")
		return
	}
	ctx, ip := r.Context(), s.clientAddr(r)
	if s.Guard != nil && ip.IsValid() {
		var banned *bans.BannedError
		if err := s.Guard.Check(ctx, ip); errors.As(err, &banned) {
			fail(http.StatusTooManyRequests, "Too many failed sign-ins from your address; try again after "+banned.Until.UTC().Format("15:04 UTC")+".")
			return
		}
	}
	pw := r.PostForm.Get("password")
	row := &store.Transfer{Protocol: protocol, Operation: store.OpLogin, RemoteAddr: s.clientIP(r),
		StartedAt: s.now().UTC(), Username: username}
	if username == "" || pw == "" || len(username) > 128 || len(pw) > 1024 {
		if s.Guard != nil && ip.IsValid() && (username != "" || pw != "") {
			s.Guard.Failure(ctx, ip, protocol, username)
		}
		fail(http.StatusUnauthorized, "Enter your username and your password.")
		return
	}
	vctx, cancel := context.WithTimeout(ctx, verifyWait)
	defer cancel()
	l, err := s.Partners.Authenticate(vctx, username, pw, ip)
	if err != nil {
		var ae *partners.AuthError
		if errors.As(err, &ae) {
			s.logger().Warn("portal sign-in failed", "user", username, "reason", ae.Reason, "remote", s.clientIP(r))
			if s.Guard != nil && ip.IsValid() {
				s.Guard.Failure(ctx, ip, protocol, username)
			}
			s.Files.Audit(row, err)
			fail(http.StatusUnauthorized, "Wrong username or password, or your access is switched off. Ask your contact at the company if this keeps happening.")
			return
		}
		if errors.Is(err, context.DeadlineExceeded) {
			fail(http.StatusServiceUnavailable, "Too many people are signing in at once; try again in a moment.")
			return
		}
		s.logger().Error("portal sign-in", "user", username, "err", err)
		fail(http.StatusInternalServerError, "Signing in did not work just now; try again in a moment.")
		return
	}
	row.PartnerID, row.AccountID = store.StrPtr(l.PartnerID), store.StrPtr(l.AccountID)
	if l.TLSRequired && !s.tls(r) {
		s.Files.Audit(row, errors.New("TLS required"))
		fail(http.StatusForbidden, "Your access needs a secure connection: open the portal with https://.")
		return
	}
	if s.Guard != nil && ip.IsValid() {
		s.Guard.Success(ctx, ip, username)
	}
	// A session cookie the browser had (someone else's, planted) ends here.
	if old, err := r.Cookie(sessionCookie); err == nil {
		_ = s.Store.DeletePortalSession(ctx, rowID(old.Value))
	}
	// A second factor: the account's, or one the partner demands.
	a, err := s.Store.AccountByID(ctx, l.AccountID)
	if err != nil {
		s.logger().Error("portal sign-in", "err", err)
		fail(http.StatusInternalServerError, "Signing in did not work just now; try again in a moment.")
		return
	}
	pending := ""
	switch {
	case a.TOTPSecret != "":
		pending = pendingTOTP
	case a.Partner != nil && a.Partner.TOTPRequired:
		pending = pendingEnroll
	}
	secret, exp, err := s.startSession(ctx, l, pending)
	if err != nil {
		s.logger().Error("portal sign-in", "err", err)
		fail(http.StatusInternalServerError, "Signing in did not work just now; try again in a moment.")
		return
	}
	s.setCookie(w, r, sessionCookie, secret, exp)
	s.setCookie(w, r, signinCookie, "", time.Time{})
	next := safeNext(r.PostForm.Get("next"))
	if pending != "" {
		// The password was right; the sign-in is not complete yet.
		http.Redirect(w, r, pendingURL(pending)+"?next="+urlQuery(next), http.StatusSeeOther)
		return
	}
	s.Files.Audit(row, nil)
	s.logger().Info("portal sign-in", "user", l.Username, "partner", l.PartnerSlug, "remote", s.clientIP(r))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signout ends the session on the server (its row goes, so a copy of the
// cookie is refused everywhere) and in the browser.
func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	u, err := s.session(w, r)
	if err == nil {
		if perr := r.ParseForm(); perr != nil || !u.validCSRF(r.PostForm.Get("csrf")) {
			s.renderError(w, r, u, errCSRF)
			return
		}
		if err := s.Store.DeletePortalSession(r.Context(), u.session); err != nil {
			s.logger().Error("portal sign-out", "err", err)
			s.renderError(w, r, u, &httpError{status: http.StatusInternalServerError, msg: "Signing out did not work just now; try again."})
			return
		}
		s.logger().Info("portal sign-out", "user", u.Login.Username, "remote", s.clientIP(r))
	}
	s.setCookie(w, r, sessionCookie, "", time.Time{})
	http.Redirect(w, r, "/portal/signin?ended=1", http.StatusSeeOther)
}

// protocol names the portal in audit rows and failed-login records.
const protocol = "portal"

func urlQuery(s string) string { return url.QueryEscape(s) }
