package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/adminauth"
	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/internal/websession"
	"github.com/ferryhq/ferry/store"
)

const (
	sessionCookie = "ferry_session"
	loginCookie   = "ferry_login" // double-submit CSRF token of the sign-in form
)

// principal is who is signed in: an API token, or an admin user.
type principal struct {
	TokenID string // the token's ID, or userPrefix and the user's ID
	Name    string // the token's name, or the username
	Role    string
	User    bool // signed in with username and password
	Expires time.Time
	key     []byte // session key: derived from the token's or the user's stored hash
	session string // the web_sessions row: SHA-256 (hex) of the cookie's secret
}

// userPrefix marks a user's ID in the session cookie and in the admin
// audit log's token_id, apart from token IDs (UUIDs and "env").
const userPrefix = "user:"

func (p *principal) Admin() bool { return p != nil && p.Role == adminauth.RoleAdmin }

var errNoSession = errors.New("no session")

// sessionKey derives the signing key of a token's sessions from its stored
// hash: every node sharing the database derives the same key, and the key
// dies with the token.
func sessionKey(tokenHash string) []byte {
	raw, err := hex.DecodeString(tokenHash)
	if err != nil {
		raw = []byte(tokenHash)
	}
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("ferry web session v1"))
	return m.Sum(nil)
}

// userSessionKey derives the signing key of a user's sessions from the
// stored password hash (salted, so it changes with every password change),
// the user's ID and role: every node derives the same key, and changing the
// password ends the user's sessions at once.
func userSessionKey(u *store.AdminUser) []byte {
	m := hmac.New(sha256.New, []byte(u.PasswordHash))
	m.Write([]byte("ferry web user session v1\x00" + u.ID + "\x00" + u.Role))
	return m.Sum(nil)
}

func sign(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// tokens finds the live API tokens, FERRY_ADMIN_TOKEN's included.
func (s *Server) tokens() *adminauth.Tokens {
	return &adminauth.Tokens{Store: s.Store, EnvToken: s.AdminToken}
}

// token finds a live token by ID (adminauth.EnvTokenID for
// FERRY_ADMIN_TOKEN); nil when it is revoked or unknown.
func (s *Server) token(ctx context.Context, id string) (*store.APIToken, error) {
	t, err := s.tokens().ByID(ctx, id)
	if errors.Is(err, adminauth.ErrUnknownToken) {
		return nil, nil
	}
	return t, err
}

// The session cookie is base64(principal ID) "." expiry (Unix seconds)
// "." secret "." signature. The signature, under the principal's session
// key, proves the first three came from Ferry and dies with the token or
// the user's password; the secret names the web_sessions row, which
// signing out deletes, so a copy of the cookie ends with it on every node.

// sessionRowID is the web_sessions ID of a cookie's secret.
func sessionRowID(secret string) string { return websession.RowID(secret) }

// session returns the principal of a request's session cookie.
func (s *Server) session(r *http.Request) (*principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, errNoSession
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 4 || parts[2] == "" {
		return nil, errNoSession
	}
	idRaw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errNoSession
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || s.now().Unix() >= exp {
		return nil, errNoSession
	}
	id, secret := string(idRaw), parts[2]
	var p *principal
	if uid, ok := strings.CutPrefix(id, userPrefix); ok {
		u, err := s.Store.AdminUserByID(r.Context(), uid)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoSession
		}
		if err != nil {
			return nil, fmt.Errorf("look up user: %w", err)
		}
		if u.Disabled {
			return nil, errNoSession
		}
		p = &principal{TokenID: id, Name: u.Username, Role: u.Role, User: true, key: userSessionKey(u)}
	} else {
		t, err := s.token(r.Context(), id)
		if err != nil {
			return nil, fmt.Errorf("look up token: %w", err)
		}
		if t == nil {
			return nil, errNoSession
		}
		p = &principal{TokenID: t.ID, Name: t.Name, Role: t.Role, key: sessionKey(t.TokenHash)}
	}
	if !hmac.Equal([]byte(sign(p.key, "session", id, parts[1], secret)), []byte(parts[3])) {
		return nil, errNoSession
	}
	p.Expires, p.session = time.Unix(exp, 0), sessionRowID(secret)
	ws, err := s.Store.LiveWebSession(r.Context(), p.session, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSession // signed out
	}
	if err != nil {
		return nil, fmt.Errorf("look up session: %w", err)
	}
	if ws.Principal != id {
		return nil, errNoSession
	}
	return p, nil
}

// Admin names the administrator (API token or admin user, either role)
// signed in to the web admin by r's session cookie; ok is false without
// one. cmd/ferry gives it to the portal for its read-only "view as" pages.
func (s *Server) Admin(r *http.Request) (name string, ok bool) {
	p, err := s.session(r)
	if err != nil {
		return "", false
	}
	return p.Name, true
}

// startSession stores a new session of p and returns its cookie value.
func (s *Server) startSession(ctx context.Context, p *principal, key []byte) (value string, exp time.Time, err error) {
	secret, err := websession.NewSecret()
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	exp = time.Unix(now.Add(SessionLifetime).Unix(), 0)
	if err := s.Store.CreateWebSession(ctx, &store.WebSession{ID: sessionRowID(secret), Principal: p.TokenID,
		CreatedAt: now, ExpiresAt: exp}); err != nil {
		return "", time.Time{}, fmt.Errorf("store session: %w", err)
	}
	// Sessions that ended by expiry are of no use any more.
	if err := s.Store.PruneWebSessions(ctx, now); err != nil {
		s.logger().Warn("prune expired web sessions", "err", err)
	}
	es := strconv.FormatInt(exp.Unix(), 10)
	value = base64.RawURLEncoding.EncodeToString([]byte(p.TokenID)) + "." + es + "." + secret + "." +
		sign(key, "session", p.TokenID, es, secret)
	return value, exp, nil
}

// csrf is the CSRF token of a session: it changes with every sign-in.
func (s *Server) csrf(p *principal) string {
	if p == nil {
		return ""
	}
	return sign(p.key, "csrf", p.TokenID, strconv.FormatInt(p.Expires.Unix(), 10), p.session)
}

func (s *Server) validCSRF(p *principal, got string) bool {
	return websession.ValidToken(s.csrf(p), got)
}

func (s *Server) secure(r *http.Request) bool { return s.Secure || r.TLS != nil }

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	websession.SetCookie(w, name, value, "/", s.secure(r), expires)
}

type loginData struct {
	Next     string
	Error    string
	Token    string // the double-submit CSRF value
	Username string // the username tried, shown again
	UserForm bool   // the error is of the username form
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r, http.StatusOK, "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.renderLoginData(w, r, status, loginData{Error: msg})
}

func (s *Server) renderLoginData(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	tok, fresh := websession.FormToken(r, loginCookie)
	if fresh {
		s.setCookie(w, r, loginCookie, tok, time.Time{})
	}
	d.Next, d.Token = safeNext(r.FormValue("next")), tok
	s.render(w, r, nil, status, "login", "Sign in", d)
}

// safeNext keeps a post-sign-in redirect on this site.
func safeNext(next string) string { return websession.SafeNext(next, "/", "/") }

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderLogin(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || checkOrigin(r) != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		s.renderLogin(w, r, http.StatusForbidden, "The sign-in form expired or came from another site; try again.")
		return
	}
	ctx, ip := r.Context(), s.remoteAddr(r)
	if s.Guard != nil && ip.IsValid() {
		var banned *bans.BannedError
		if err := s.Guard.Check(ctx, ip); errors.As(err, &banned) {
			s.renderLogin(w, r, http.StatusTooManyRequests, "Too many failed sign-ins from your address; try again after "+banned.Until.UTC().Format("15:04 UTC")+".")
			return
		}
	}
	var (
		p   *principal
		key []byte
	)
	username := strings.TrimSpace(r.PostForm.Get("username"))
	if username != "" || r.PostForm.Has("password") {
		p, key = s.loginUser(w, r, ip, username, r.PostForm.Get("password"))
	} else {
		p, key = s.loginToken(w, r, ip, strings.TrimSpace(r.PostForm.Get("token")))
	}
	if p == nil {
		return // the sign-in page is rendered
	}
	if s.Guard != nil && ip.IsValid() {
		s.Guard.Success(ctx, ip, username) // "" for a token: token guesses were recorded without a name
	}
	value, exp, err := s.startSession(ctx, p, key)
	if err != nil {
		s.logger().Error("web sign-in", "err", err)
		s.renderLogin(w, r, http.StatusInternalServerError, "The database did not answer; try again.")
		return
	}
	s.setCookie(w, r, sessionCookie, value, exp)
	s.setCookie(w, r, loginCookie, "", time.Time{})
	kind := "token"
	if p.User {
		kind = "user"
	}
	s.logger().Info("web sign-in", kind, p.Name, "role", p.Role, "remote", s.remoteIP(r))
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

// loginToken signs in with an API token; on failure it renders the
// sign-in page and returns nil.
func (s *Server) loginToken(w http.ResponseWriter, r *http.Request, ip netip.Addr, token string) (*principal, []byte) {
	ctx := r.Context()
	t, err := s.tokens().Lookup(ctx, token)
	if err != nil && !errors.Is(err, adminauth.ErrUnknownToken) {
		s.logger().Error("web sign-in", "err", err)
		s.renderLogin(w, r, http.StatusInternalServerError, "The database did not answer; try again.")
		return nil, nil
	}
	if t == nil {
		if s.Guard != nil && ip.IsValid() && token != "" {
			s.Guard.Failure(ctx, ip, "web", "")
		}
		s.renderLogin(w, r, http.StatusUnauthorized, "That token is unknown or revoked. Paste an API token of role admin or auditor (ferry token create).")
		return nil, nil
	}
	if t.ID != adminauth.EnvTokenID {
		if err := s.Store.TouchAPIToken(ctx, t.ID, s.now()); err != nil {
			s.logger().Warn("record token use", "token", t.ID, "err", err)
		}
	}
	return &principal{TokenID: t.ID, Name: t.Name, Role: t.Role}, sessionKey(t.TokenHash)
}

// loginUser signs in with a username and password. The argon2id check
// runs under the partners service's bound on concurrent password checks
// (shared with FTP and mail logins), so a burst of sign-ins waits instead
// of exhausting memory; an unknown user costs the same check. On failure
// it renders the sign-in page and returns nil.
func (s *Server) loginUser(w http.ResponseWriter, r *http.Request, ip netip.Addr, username, pw string) (*principal, []byte) {
	ctx := r.Context()
	fail := func(status int, msg string) (*principal, []byte) {
		s.renderLoginData(w, r, status, loginData{Error: msg, Username: username, UserForm: true})
		return nil, nil
	}
	if username == "" || pw == "" || len(username) > 128 || len(pw) > adminauth.MaxPasswordLen {
		if s.Guard != nil && ip.IsValid() && (username != "" || pw != "") {
			s.Guard.Failure(ctx, ip, "web", username)
		}
		return fail(http.StatusUnauthorized, "Enter both a username and a password.")
	}
	u, err := s.Store.AdminUserByUsername(ctx, username)
	hash := ""
	switch {
	case err == nil:
		hash = u.PasswordHash
	case !errors.Is(err, store.ErrNotFound):
		s.logger().Error("web sign-in", "err", err)
		return fail(http.StatusInternalServerError, "The database did not answer; try again.")
	}
	vctx, cancel := context.WithTimeout(ctx, verifyWait)
	defer cancel()
	err = s.Partners.VerifyPassword(vctx, pw, hash)
	switch {
	case err == nil && !u.Disabled:
	case err == nil || errors.Is(err, password.ErrMismatch):
		reason := "wrong password"
		if u == nil {
			reason = "unknown user"
		} else if err == nil {
			reason = "user disabled"
		}
		s.logger().Info("web sign-in failed", "user", username, "reason", reason, "remote", s.remoteIP(r))
		if s.Guard != nil && ip.IsValid() {
			s.Guard.Failure(ctx, ip, "web", username)
		}
		return fail(http.StatusUnauthorized, "Wrong username or password, or the user is disabled (ferry admin list).")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return fail(http.StatusServiceUnavailable, "Too many sign-ins at once; try again in a moment.")
	default:
		s.logger().Error("web sign-in", "user", username, "err", err)
		return fail(http.StatusInternalServerError, "The password could not be checked; see the server log.")
	}
	if err := s.Store.TouchAdminUser(ctx, u.ID, s.now()); err != nil {
		s.logger().Warn("record sign-in", "user", u.Username, "err", err)
	}
	return &principal{TokenID: userPrefix + u.ID, Name: u.Username, Role: u.Role, User: true}, userSessionKey(u)
}

// verifyWait bounds how long a sign-in waits for a password check slot.
const verifyWait = 10 * time.Second

// logout ends the session on the server (its row goes, so every node
// refuses the cookie from now on, copies included) and in the browser.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	p, err := s.session(r)
	if err == nil {
		if perr := r.ParseForm(); perr != nil || !s.validCSRF(p, r.PostForm.Get("csrf")) {
			s.renderError(w, r, p, &httpError{status: http.StatusForbidden, msg: "The form has expired; reload the page and try again."})
			return
		}
		if err := s.Store.DeleteWebSession(r.Context(), p.session); err != nil {
			s.logger().Error("web sign-out", "err", err)
			s.renderError(w, r, p, &httpError{status: http.StatusInternalServerError, msg: "The session could not be ended: the database did not answer; try again."})
			return
		}
		s.logger().Info("web sign-out", "name", p.Name, "remote", s.remoteIP(r))
	}
	s.setCookie(w, r, sessionCookie, "", time.Time{})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
