// Package api is Ferry's admin REST API: partners, accounts, the transfer
// audit log, live sessions, notifications, bans and partner mailboxes under
// /api/v1, plus /healthz, /readyz and /metrics. It is served by echo and shaped like net/http.Server; the rules
// it applies live in package partners, shared with the CLI.
//
// Conventions: Authorization: Bearer <token> (role admin may change things,
// auditor may only read); errors are application/problem+json (RFC 9457)
// with a field list for invalid input; single resources carry an ETag that
// If-Match can make a change depend on; every mutating call is written to
// the admin audit log. The OpenAPI 3.1 document is served at
// /api/v1/openapi.json.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/bans"
	"github.com/ferryhq/ferry/internal/httpserver"
	"github.com/ferryhq/ferry/internal/proxied"
	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/metrics"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// Limits of the API.
const (
	DefaultMaxBodyBytes = 1 << 20 // request bodies; Server.MaxBodyBytes overrides it
	DefaultPageSize     = 100
	MaxPageSize         = 500
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = httpserver.ErrServerClosed

// Server serves the admin API on the listeners given to Serve. Configure
// the fields, then call Serve (or mount Handler elsewhere); Shutdown stops it.
type Server struct {
	Store    *store.Store      // required
	Partners *partners.Service // required; the rules shared with the CLI
	// Sessions lists and closes live protocol sessions; nil means none.
	Sessions SessionControl
	// AdminToken, when set, is accepted as a token of role admin besides
	// the tokens in the database (FERRY_ADMIN_TOKEN).
	AdminToken string
	Logger     *slog.Logger
	// Ready is asked by /readyz besides the database; nil means ready.
	Ready func(context.Context) error
	// MaxBodyBytes limits request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TrustedProxies are the reverse proxies (FERRY_TRUSTED_PROXIES) whose
	// X-Forwarded-For names the client; from any other peer the header is
	// ignored.
	TrustedProxies []netip.Prefix

	// Optional parts. The routes of a part that is nil stay registered
	// (and documented) and answer 503 with a problem saying it is not
	// configured, so a client can tell "off here" from a wrong URL.
	Outbox *notify.Outbox // /notifications, .../test-notification, .../subscribers, /webhooks
	Bans   *bans.Guard    // /bans
	Mail   *mailbox.Store // /partners/{id}/mailbox...
	// Audit is the node's counters of the audit rows its store writes
	// (ferry_transfers_total, ferry_logins_total, ...; the store must count
	// into it: Store.CountAuditWith); nil leaves them out of /metrics.
	Audit *metrics.Audit
	// Identity is Ferry's own OpenPGP key and S/MIME certificate
	// (/mail-security) and MailSign how alerts are signed
	// (FERRY_MAIL_SIGN); nil answers 503.
	Identity *mailsec.Identity
	MailSign string

	once    sync.Once
	handler http.Handler

	http    httpserver.Server
	mu      sync.Mutex
	touched map[string]time.Time // token ID -> last_used_at written
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Server) maxBody() int64 {
	if s.MaxBodyBytes > 0 {
		return s.MaxBodyBytes
	}
	return DefaultMaxBodyBytes
}

// Handler returns the API as an http.Handler; it is built once.
func (s *Server) Handler() http.Handler {
	s.once.Do(func() { s.handler = s.routes() })
	return s.handler
}

// Serve answers HTTP requests on ln until Shutdown. It always returns a
// non-nil error; after Shutdown it is ErrServerClosed. (A node serves the
// API through cmd/ferry's mux, beside the web admin: see Handler.)
func (s *Server) Serve(ln net.Listener) error {
	if s.Store == nil || s.Partners == nil {
		return errors.New("api: Store and Partners are required")
	}
	s.mu.Lock()
	s.http.Handler, s.http.Logger = s.Handler(), s.logger()
	s.mu.Unlock()
	return s.http.Serve(ln)
}

// Shutdown stops accepting connections and waits for running requests
// until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

func (s *Server) routes() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// The client address (audit log, logs) is the direct peer, unless that
	// is a trusted reverse proxy: then X-Forwarded-For's right-most
	// untrusted hop (proxied.ClientAddr). No other header is believed.
	trusted := s.TrustedProxies
	e.IPExtractor = func(r *http.Request) string { return proxied.ClientIP(r, trusted) }
	e.HTTPErrorHandler = func(err error, c echo.Context) { s.renderError(c, err) }
	m := newRequestMetrics()
	e.Use(s.observe(m))

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metricsHandler(m), s.authenticate)
	e.GET("/api/v1/openapi.json", serveOpenAPI)

	// Middleware per route rather than per group: a group's catch-all
	// would answer 404 where the method is wrong (405).
	const v1 = "/api/v1"
	read := func(path string, h echo.HandlerFunc) { e.GET(v1+path, h, s.authenticate) }
	write := func(method, path, action string, h echo.HandlerFunc) {
		e.Add(method, v1+path, h, s.authenticate, s.audit(action), requireAdmin)
	}

	write(http.MethodPost, "/partners", "partner.create", s.createPartner)
	read("/partners", s.listPartners)
	read("/partners/:id", s.getPartner)
	write(http.MethodPatch, "/partners/:id", "partner.update", s.updatePartner)
	write(http.MethodDelete, "/partners/:id", "partner.delete", s.deletePartner)

	write(http.MethodPost, "/partners/:id/accounts", "account.create", s.createAccount)
	read("/partners/:id/accounts", s.listAccounts)
	read("/partners/:id/accounts/:account", s.getAccount)
	write(http.MethodPatch, "/partners/:id/accounts/:account", "account.update", s.updateAccount)
	write(http.MethodDelete, "/partners/:id/accounts/:account", "account.delete", s.deleteAccount)

	write(http.MethodPost, "/partners/:id/expectations", "expectation.create", s.createExpectation)
	read("/partners/:id/expectations", s.listExpectations)
	read("/partners/:id/expectations/:expectation", s.getExpectation)
	write(http.MethodPatch, "/partners/:id/expectations/:expectation", "expectation.update", s.updateExpectation)
	write(http.MethodDelete, "/partners/:id/expectations/:expectation", "expectation.delete", s.deleteExpectation)
	read("/partners/:id/expectations/:expectation/evaluations", s.listEvaluations)
	read("/partners/:id/evaluations", s.listEvaluations)

	read("/transfers", s.listTransfers)
	read("/transfers/:id", s.getTransfer)

	read("/sessions", s.listSessions)
	write(http.MethodDelete, "/sessions/:id", "session.kick", s.kickSession)

	read("/admin-audit", s.listAdminAudit)

	read("/mail-security", s.getMailSecurity)

	read("/notifications", s.listNotifications)
	read("/notifications/:id", s.getNotification)
	write(http.MethodPost, "/notifications/:id/retry", "notification.retry", s.retryNotification)
	write(http.MethodPost, "/partners/:id/test-notification", "notification.test", s.testNotification)
	read("/partners/:id/subscribers", s.listSubscribers)
	write(http.MethodPost, "/partners/:id/subscribers", "subscriber.add", s.addSubscriber)
	write(http.MethodDelete, "/partners/:id/subscribers/:email", "subscriber.remove", s.removeSubscriber)

	read("/recipient-keys", s.listRecipientKeys)
	write(http.MethodPost, "/recipient-keys", "recipient_key.add", s.addRecipientKey)
	read("/recipient-keys/:id", s.getRecipientKey)
	write(http.MethodDelete, "/recipient-keys/:id", "recipient_key.delete", s.deleteRecipientKey)

	read("/bans", s.listBans)
	write(http.MethodDelete, "/bans/:ip", "ban.lift", s.liftBan)

	read("/partners/:id/mailbox", s.getMailbox)
	read("/partners/:id/mailbox/messages", s.listMailMessages)
	read("/partners/:id/mailbox/messages/:message", s.getMailMessage)
	read("/partners/:id/mailbox/messages/:message/raw", s.getMailMessageRaw)
	write(http.MethodDelete, "/partners/:id/mailbox/messages/:message", "mailbox.message.delete", s.deleteMailMessage)

	write(http.MethodPost, "/webhooks", "webhook.create", s.createWebhook)
	read("/webhooks", s.listWebhooks)
	read("/webhooks/:id", s.getWebhook)
	write(http.MethodPatch, "/webhooks/:id", "webhook.update", s.updateWebhook)
	write(http.MethodDelete, "/webhooks/:id", "webhook.delete", s.deleteWebhook)
	read("/webhooks/:id/deliveries", s.listDeliveries)
	write(http.MethodPost, "/webhooks/:id/deliveries/:delivery/retry", "webhook.delivery.retry", s.retryDelivery)
	return e
}

func (s *Server) healthz(c echo.Context) error {
	return writeJSON(c, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the database answers and the Ready hook agrees,
// 503 otherwise. The reasons go to the log, not to the unauthenticated
// caller.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok"}
	status := http.StatusOK
	if err := s.Store.Ping(ctx); err != nil {
		s.logger().Warn("readiness: database", "err", err)
		checks["database"], status = "failed", http.StatusServiceUnavailable
	}
	if s.Ready != nil {
		checks["server"] = "ok"
		if err := s.Ready(ctx); err != nil {
			s.logger().Warn("readiness", "err", err)
			checks["server"], status = "failed", http.StatusServiceUnavailable
		}
	}
	word := "ok"
	if status != http.StatusOK {
		word = "unavailable"
	}
	return writeJSON(c, status, map[string]any{"status": word, "checks": checks})
}
