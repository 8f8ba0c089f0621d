package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferryhq/ferry/store"
)

// requestMetrics counts the API's own requests.
type requestMetrics struct {
	requests *prometheus.CounterVec
}

func newRequestMetrics() *requestMetrics {
	return &requestMetrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_http_requests_total",
		Help: "Requests to the admin API by method, route and status code.",
	}, []string{"method", "route", "code"})}
}

func (m *requestMetrics) observe(c echo.Context) {
	route := c.Path() // the route's pattern, so unknown paths add no label values
	if route == "" || c.Response().Status == http.StatusNotFound && route[len(route)-1] == '*' {
		route = "unmatched"
	}
	m.requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(c.Response().Status)).Inc()
}

// stateCollector reads, at each scrape, the gauges kept in the database
// and the live sessions. Each database gauge is a count over an index or a
// small table (never the audit log, whose counters are in-process: see
// Server.Audit); they cover every node sharing the database, sessions are
// this process's.
type stateCollector struct {
	s                        *Server
	sessions, running        *prometheus.Desc
	bans, partners, accounts *prometheus.Desc
	notifications, webhooks  *prometheus.Desc

	// The partner and account counts read every row of their tables;
	// they are kept for countsTTL, so a scrape costs the same whether
	// there are a hundred accounts or a million.
	mu        sync.Mutex
	countedAt time.Time
	counts    [2]store.EnabledCount // partners, accounts
}

// countsTTL is how long the partner and account gauges are reused: they
// change when an admin changes something, and lag by at most this.
const countsTTL = 30 * time.Second

// enabledCounts returns the partner and account counts, read again when
// the last read is older than countsTTL.
func (c *stateCollector) enabledCounts(ctx context.Context) ([2]store.EnabledCount, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.countedAt.IsZero() && time.Since(c.countedAt) < countsTTL {
		return c.counts, nil
	}
	var out [2]store.EnabledCount
	var err error
	if out[0], err = c.s.Store.CountPartners(ctx); err != nil {
		return out, err
	}
	if out[1], err = c.s.Store.CountAccounts(ctx); err != nil {
		return out, err
	}
	c.counts, c.countedAt = out, time.Now()
	return out, nil
}

func newStateCollector(s *Server) *stateCollector {
	return &stateCollector{
		s: s,
		sessions: prometheus.NewDesc("ferry_sessions",
			"Live protocol sessions of this process.", []string{"protocol"}, nil),
		running: prometheus.NewDesc("ferry_transfers_running",
			"Transfers in progress in this process.", []string{"protocol"}, nil),
		bans: prometheus.NewDesc("ferry_bans_active",
			"Client addresses banned now.", nil, nil),
		partners: prometheus.NewDesc("ferry_partners",
			"Partners by state.", []string{"state"}, nil),
		accounts: prometheus.NewDesc("ferry_accounts",
			"Accounts by state.", []string{"state"}, nil),
		notifications: prometheus.NewDesc("ferry_notifications",
			"Outbox rows not yet sent, by status: the queue depth (pending, sending), dead mails and alerts blocked for want of a recipient key.", []string{"status"}, nil),
		webhooks: prometheus.NewDesc("ferry_webhook_deliveries",
			"Webhook deliveries not yet made, by status: the queue depth (pending, sending) and dead ones.", []string{"status"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessions, c.running, c.bans, c.partners, c.accounts, c.notifications, c.webhooks} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := c.s.Store

	sessions, running := map[string]float64{}, map[string]float64{}
	if c.s.Sessions != nil {
		for _, si := range c.s.Sessions.Sessions() {
			sessions[si.Protocol]++
			running[si.Protocol] += float64(si.Transfers)
		}
	}
	for proto, n := range sessions {
		ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, n, proto)
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, running[proto], proto)
	}

	if n, err := st.CountActiveBans(ctx, time.Now()); err != nil {
		ch <- prometheus.NewInvalidMetric(c.bans, err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.bans, prometheus.GaugeValue, float64(n))
	}
	// Sent rows are left out: they only grow, and counting them would scan
	// the whole outbox at every scrape.
	queued := []string{store.NotifyPending, store.NotifySending, store.NotifyDead, store.NotifyBlocked}
	if n, err := st.CountNotifications(ctx, queued...); err != nil {
		ch <- prometheus.NewInvalidMetric(c.notifications, err)
	} else {
		for _, status := range queued {
			ch <- prometheus.MustNewConstMetric(c.notifications, prometheus.GaugeValue, float64(n[status]), status)
		}
	}
	hooks := []string{store.NotifyPending, store.NotifySending, store.NotifyDead} // webhooks never wait for keys
	if n, err := st.CountWebhookDeliveries(ctx, hooks...); err != nil {
		ch <- prometheus.NewInvalidMetric(c.webhooks, err)
	} else {
		for _, status := range hooks {
			ch <- prometheus.MustNewConstMetric(c.webhooks, prometheus.GaugeValue, float64(n[status]), status)
		}
	}
	counts, err := c.enabledCounts(ctx)
	for i, desc := range []*prometheus.Desc{c.partners, c.accounts} {
		if err != nil {
			ch <- prometheus.NewInvalidMetric(desc, err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(counts[i].Enabled), "enabled")
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(counts[i].Disabled), "disabled")
	}
}

// metricsHandler serves the Prometheus text format. A metric that cannot
// be read is left out (and logged) rather than failing the whole scrape.
func (s *Server) metricsHandler(m *requestMetrics) echo.HandlerFunc {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newStateCollector(s), m.requests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.Audit != nil {
		reg.MustRegister(s.Audit)
	}
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
	})
	return echo.WrapHandler(h)
}
