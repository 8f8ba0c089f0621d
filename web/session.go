package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/store"
)

const (
	sessionCookie = "ferry_session"
	loginCookie   = "ferry_login" // double-submit CSRF token of the sign-in form
)

// principal is the signed-in token.
type principal struct {
	TokenID string
	Name    string
	Role    string
	Expires time.Time
	key     []byte // session key: HMAC-SHA256 of the token hash
}

func (p *principal) Admin() bool { return p != nil && p.Role == api.RoleAdmin }

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

func sign(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// token finds a live token by ID (EnvTokenID for FERRY_ADMIN_TOKEN).
func (s *Server) token(ctx context.Context, id string) (*store.APIToken, error) {
	if id == api.EnvTokenID {
		if strings.TrimSpace(s.AdminToken) == "" {
			return nil, nil
		}
		return &store.APIToken{ID: api.EnvTokenID, Name: "FERRY_ADMIN_TOKEN", Role: api.RoleAdmin,
			TokenHash: api.HashToken(strings.TrimSpace(s.AdminToken))}, nil
	}
	list, err := s.Store.ListAPITokens(ctx)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].ID == id && list[i].RevokedAt == nil {
			return &list[i], nil
		}
	}
	return nil, nil
}

// session returns the principal of a request's session cookie.
func (s *Server) session(r *http.Request) (*principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, errNoSession
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
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
	t, err := s.token(r.Context(), string(idRaw))
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	if t == nil {
		return nil, errNoSession
	}
	key := sessionKey(t.TokenHash)
	if !hmac.Equal([]byte(sign(key, "session", t.ID, parts[1])), []byte(parts[2])) {
		return nil, errNoSession
	}
	return &principal{TokenID: t.ID, Name: t.Name, Role: t.Role, Expires: time.Unix(exp, 0), key: key}, nil
}

// csrf is the CSRF token of a session: it changes with every sign-in.
func (s *Server) csrf(p *principal) string {
	if p == nil {
		return ""
	}
	return sign(p.key, "csrf", p.TokenID, strconv.FormatInt(p.Expires.Unix(), 10))
}

func (s *Server) validCSRF(p *principal, got string) bool {
	want := s.csrf(p)
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func (s *Server) secure(r *http.Request) bool { return s.Secure || r.TLS != nil }

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteStrictMode}
	if value == "" {
		c.MaxAge = -1
	} else if !expires.IsZero() {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

type loginData struct {
	Next  string
	Error string
	Token string // the double-submit CSRF value
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r, http.StatusOK, "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	// Keep the value a browser already has: another request (a second
	// tab, the favicon) must not invalidate the form on screen.
	tok := ""
	if c, err := r.Cookie(loginCookie); err == nil && len(c.Value) == 24 {
		tok = c.Value
	} else {
		var b [18]byte
		_, _ = rand.Read(b[:])
		tok = base64.RawURLEncoding.EncodeToString(b[:])
		s.setCookie(w, r, loginCookie, tok, time.Time{})
	}
	next := r.FormValue("next")
	s.render(w, r, nil, status, "login", "Sign in", loginData{Next: safeNext(next), Error: msg, Token: tok})
}

// safeNext keeps a post-sign-in redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/"
	}
	return next
}

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
	ctx, ip := r.Context(), remoteAddr(r)
	if s.Guard != nil && ip.IsValid() {
		var banned *bans.BannedError
		if err := s.Guard.Check(ctx, ip); errors.As(err, &banned) {
			s.renderLogin(w, r, http.StatusTooManyRequests, "Too many failed sign-ins from your address; try again after "+banned.Until.UTC().Format("15:04 UTC")+".")
			return
		}
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	var t *store.APIToken
	if env := strings.TrimSpace(s.AdminToken); env != "" && token != "" {
		got, want := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(env))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			t, _ = s.token(ctx, api.EnvTokenID)
		}
	}
	if t == nil && token != "" {
		t, err = s.Store.APITokenByHash(ctx, api.HashToken(token))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.logger().Error("web sign-in", "err", err)
			s.renderLogin(w, r, http.StatusInternalServerError, "The database did not answer; try again.")
			return
		}
	}
	if t == nil {
		if s.Guard != nil && ip.IsValid() && token != "" {
			s.Guard.Failure(ctx, ip, "web", "")
		}
		s.renderLogin(w, r, http.StatusUnauthorized, "That token is unknown or revoked. Paste an API token of role admin or auditor (ferry token create).")
		return
	}
	if s.Guard != nil && ip.IsValid() {
		s.Guard.Success(ctx, ip)
	}
	if t.ID != api.EnvTokenID {
		if err := s.Store.TouchAPIToken(ctx, t.ID, s.now()); err != nil {
			s.logger().Warn("record token use", "token", t.ID, "err", err)
		}
	}
	exp := s.now().Add(SessionLifetime).Unix()
	es := strconv.FormatInt(exp, 10)
	value := base64.RawURLEncoding.EncodeToString([]byte(t.ID)) + "." + es + "." + sign(sessionKey(t.TokenHash), "session", t.ID, es)
	s.setCookie(w, r, sessionCookie, value, time.Unix(exp, 0))
	s.setCookie(w, r, loginCookie, "", time.Time{})
	s.logger().Info("web sign-in", "token", t.Name, "role", t.Role, "remote", remoteIP(r))
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	p, err := s.session(r)
	if err == nil {
		if perr := r.ParseForm(); perr != nil || !s.validCSRF(p, r.PostForm.Get("csrf")) {
			s.renderError(w, r, p, &httpError{status: http.StatusForbidden, msg: "The form has expired; reload the page and try again."})
			return
		}
	}
	s.setCookie(w, r, sessionCookie, "", time.Time{})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
