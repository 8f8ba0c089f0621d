package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/adminauth"
	"github.com/ferryhq/ferry/store"
)

// Principal is who makes a request: a token and its role.
type Principal struct {
	TokenID string // adminauth.EnvTokenID for FERRY_ADMIN_TOKEN
	Name    string
	Role    string
}

const (
	principalKey = "ferry.principal"
	targetKey    = "ferry.target"
)

// touchEvery limits how often a token's last_used_at is written.
const touchEvery = time.Minute

func principalOf(c echo.Context) *Principal {
	p, _ := c.Get(principalKey).(*Principal)
	return p
}

// authenticate requires a valid bearer token.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get("Authorization")
		challenge := `Bearer realm="ferry"`
		if h == "" {
			c.Response().Header().Set("WWW-Authenticate", challenge)
			return newProblem(http.StatusUnauthorized, "this endpoint needs an Authorization: Bearer <token> header")
		}
		scheme, token, _ := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			c.Response().Header().Set("WWW-Authenticate", challenge+`, error="invalid_request"`)
			return newProblem(http.StatusUnauthorized, "the Authorization header must be Bearer <token>")
		}
		p, err := s.lookupToken(c.Request().Context(), token)
		if errors.Is(err, adminauth.ErrUnknownToken) {
			c.Response().Header().Set("WWW-Authenticate", challenge+`, error="invalid_token"`)
			return newProblem(http.StatusUnauthorized, "the token is unknown or revoked")
		}
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

func (s *Server) lookupToken(ctx context.Context, token string) (*Principal, error) {
	tokens := adminauth.Tokens{Store: s.Store, EnvToken: s.AdminToken}
	t, err := tokens.Lookup(ctx, token)
	if err != nil {
		return nil, err
	}
	if t.ID != adminauth.EnvTokenID {
		s.touch(ctx, t.ID)
	}
	return &Principal{TokenID: t.ID, Name: t.Name, Role: t.Role}, nil
}

// touch records a token's use, at most once a minute per token and process,
// so that reads do not turn into writes.
func (s *Server) touch(ctx context.Context, id string) {
	now := time.Now()
	s.mu.Lock()
	if s.touched == nil {
		s.touched = map[string]time.Time{}
	}
	last, seen := s.touched[id]
	due := !seen || now.Sub(last) >= touchEvery
	if due {
		s.touched[id] = now
	}
	s.mu.Unlock()
	if due {
		if err := s.Store.TouchAPIToken(ctx, id, now); err != nil {
			s.logger().Warn("record token use", "token", id, "err", err)
		}
	}
}

// requireAdmin refuses callers whose role may only read.
func requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p := principalOf(c); p == nil || p.Role != adminauth.RoleAdmin {
			role := "none"
			if p != nil {
				role = p.Role
			}
			return newProblem(http.StatusForbidden, "role "+role+" may only read; this needs role admin")
		}
		return next(c)
	}
}

// setTarget names the resource a mutating call acted on, for the audit log.
func setTarget(c echo.Context, id string) { c.Set(targetKey, id) }

// audit writes every mutating call to the admin audit log, whatever its
// outcome, refused ones included.
func (s *Server) audit(action string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			func() {
				defer func() {
					if r := recover(); r != nil {
						s.renderError(c, fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
					}
				}()
				if err := next(c); err != nil {
					s.renderError(c, err)
				}
			}()
			rec := &store.AdminAudit{
				Method: c.Request().Method, Path: c.Request().URL.Path, Action: action,
				Status: c.Response().Status, RemoteAddr: c.RealIP(), Detail: auditDetail(c),
			}
			if p := principalOf(c); p != nil {
				rec.TokenID, rec.TokenName, rec.Role = p.TokenID, p.Name, p.Role
			}
			if t, ok := c.Get(targetKey).(string); ok {
				rec.Target = t
			} else if vals := c.ParamValues(); len(vals) > 0 {
				rec.Target = vals[len(vals)-1]
			}
			// The call has happened: record it even if the client went away.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), 10*time.Second)
			defer cancel()
			if err := s.Store.RecordAdminAudit(ctx, rec); err != nil {
				s.logger().Error("admin audit log: record lost", "action", action, "path", rec.Path,
					"token", rec.TokenID, "status", rec.Status, "err", err)
			}
			return nil
		}
	}
}

// redact blanks every key that names a password, at any depth and in any
// letter case (encoding/json matches field names case-insensitively, so
// "Password" sets the password too).
func redact(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, sub := range t {
			if strings.Contains(strings.ToLower(k), "password") || strings.EqualFold(k, "token") || strings.EqualFold(k, "secret") {
				t[k] = "(redacted)"
				continue
			}
			redact(sub)
		}
	case []any:
		for _, sub := range t {
			redact(sub)
		}
	}
}

// auditDetail is the call's query and body as JSON, without secrets.
func auditDetail(c echo.Context) string {
	d := map[string]any{}
	if q := c.QueryParams(); len(q) > 0 {
		flat := map[string]string{}
		for k, v := range q {
			flat[k] = strings.Join(v, ",")
		}
		d["query"] = flat
	}
	if raw, ok := c.Get(bodyKey).([]byte); ok && len(raw) > 0 {
		var body map[string]any
		if json.Unmarshal(raw, &body) == nil {
			redact(body)
			d["body"] = body
		} else {
			d["body_bytes"] = len(raw)
		}
	}
	if len(d) == 0 {
		return ""
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// observe is the edge of every request: it renders errors, recovers
// panics, counts the request and logs it once.
func (s *Server) observe(m *requestMetrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			start := time.Now()
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
				}
				if err != nil {
					s.renderError(c, err)
				}
				s.logRequest(c, time.Since(start))
				m.observe(c)
				err = nil
			}()
			return next(c)
		}
	}
}

func (s *Server) logRequest(c echo.Context, took time.Duration) {
	req, status := c.Request(), c.Response().Status
	attrs := []any{"method", req.Method, "path", req.URL.Path, "status", status,
		"took", took.Round(time.Microsecond), "remote", c.RealIP()}
	if p := principalOf(c); p != nil {
		attrs = append(attrs, "token", p.Name)
	}
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
		if err, ok := c.Get(errKey).(error); ok {
			attrs = append(attrs, "err", err)
		}
	case req.Method == http.MethodGet && !strings.HasPrefix(req.URL.Path, "/api/"):
		level = slog.LevelDebug // health checks and scrapes
	}
	s.logger().Log(req.Context(), level, "http request", attrs...)
}

// location is the URL path of a created resource.
func location(parts ...string) string {
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "/api/v1/" + strings.Join(parts, "/")
}
