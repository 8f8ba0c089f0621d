// Package websession holds the pieces of browser sign-in that the web
// admin and the partner portal share: where a sign-in may send the
// browser next, the cookie they set, a session's secret and the ID of its
// row, the sign-in form's token, and the comparison of a CSRF token. Each front end keeps its own sessions (its
// own table, its own principal); what it must not get wrong twice is here.
package websession

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SafeNext returns next if it is a path on this site under within (which
// starts with "/"), and fallback otherwise: an absolute or
// protocol-relative URL, a backslash, a control character (browsers drop
// tabs and line breaks, so "/\t/evil" would become "//evil") or a "/../"
// segment is refused.
func SafeNext(next, within, fallback string) string {
	if !strings.HasPrefix(next, within) || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return fallback
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return fallback
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.Contains(u.Path, "/../") {
		return fallback
	}
	return next
}

// RowID is the database ID of a session whose cookie carries secret: its
// SHA-256, so the table never holds a value a browser could present.
func RowID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SetCookie sets a session cookie under path: HttpOnly, SameSite=Strict,
// Secure when the request came over TLS (secure). An empty value deletes
// the cookie; a zero expires makes it last for the browser session.
func SetCookie(w http.ResponseWriter, name, value, path string, secure bool, expires time.Time) {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode}
	if value == "" {
		c.MaxAge = -1
	} else if !expires.IsZero() {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

// ValidToken reports whether got is the expected CSRF token want, in
// constant time; an empty want or got is never valid.
func ValidToken(want, got string) bool {
	return want != "" && got != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// NewSecret is the secret of a new session: 32 random bytes, base64url.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// formTokenLen is the length of a FormToken (18 bytes, base64url).
const formTokenLen = 24

// FormToken is the CSRF token of a sign-in form, before there is a session:
// the one the browser already holds in the cookie named cookie, so that
// another request (a second tab, the favicon) does not invalidate the form
// on screen, or else a new random one, and then fresh is true and the
// caller sets the cookie.
func FormToken(r *http.Request, cookie string) (tok string, fresh bool) {
	if c, err := r.Cookie(cookie); err == nil && len(c.Value) == formTokenLen {
		return c.Value, false
	}
	var b [18]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:]), true
}
