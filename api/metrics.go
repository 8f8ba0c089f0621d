package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
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

// stateCollector reads, at each scrape, the metrics kept in the database
// and the live sessions. Counts from the database cover every node sharing
// it; sessions are this process's.
type stateCollector struct {
	s                                             *Server
	sessions, running, transfers, bytes, failures *prometheus.Desc
	logins, bans, partners, accounts              *prometheus.Desc
	notifications                                 *prometheus.Desc
}

func newStateCollector(s *Server) *stateCollector {
	return &stateCollector{
		s: s,
		sessions: prometheus.NewDesc("ferry_sessions",
			"Live protocol sessions of this process.", []string{"protocol"}, nil),
		running: prometheus.NewDesc("ferry_transfers_running",
			"Transfers in progress in this process.", []string{"protocol"}, nil),
		transfers: prometheus.NewDesc("ferry_transfers_total",
			"File operations in the audit log by operation and status.", []string{"operation", "status"}, nil),
		bytes: prometheus.NewDesc("ferry_transfer_bytes_total",
			"Bytes moved by operation, from the audit log.", []string{"operation"}, nil),
		failures: prometheus.NewDesc("ferry_transfer_failures_total",
			"Failed file operations by operation, from the audit log.", []string{"operation"}, nil),
		logins: prometheus.NewDesc("ferry_logins_total",
			"Logins in the audit log by status (ok, failed).", []string{"status"}, nil),
		bans: prometheus.NewDesc("ferry_bans_active",
			"Client addresses banned now.", nil, nil),
		partners: prometheus.NewDesc("ferry_partners",
			"Partners by state.", []string{"state"}, nil),
		accounts: prometheus.NewDesc("ferry_accounts",
			"Accounts by state.", []string{"state"}, nil),
		notifications: prometheus.NewDesc("ferry_notifications",
			"Outbox rows not yet sent, by status: the queue depth (pending, sending) and dead mails.", []string{"status"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessions, c.running, c.transfers, c.bytes, c.failures,
		c.logins, c.bans, c.partners, c.accounts, c.notifications} {
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

	if ops, err := st.CountOperations(ctx); err != nil {
		for _, d := range []*prometheus.Desc{c.transfers, c.bytes, c.failures, c.logins} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
	} else {
		// Every operation and outcome appears, at 0 until it happens, so
		// that rate() and alerts work from the first scrape.
		counts := map[[2]string]float64{}
		bytes, failures := map[string]float64{}, map[string]float64{}
		logins := map[string]float64{store.StatusOK: 0, store.StatusFailed: 0}
		for _, op := range operations() {
			if op == store.OpLogin {
				continue
			}
			counts[[2]string{op, store.StatusOK}], counts[[2]string{op, store.StatusFailed}] = 0, 0
			bytes[op], failures[op] = 0, 0
		}
		for _, o := range ops {
			if o.Operation == store.OpLogin {
				logins[o.Status] += float64(o.Count)
				continue
			}
			counts[[2]string{o.Operation, o.Status}] += float64(o.Count)
			bytes[o.Operation] += float64(o.Bytes)
			if o.Status == store.StatusFailed {
				failures[o.Operation] += float64(o.Count)
			}
		}
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.transfers, prometheus.CounterValue, n, k[0], k[1])
		}
		for op, n := range bytes {
			ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, n, op)
			ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, failures[op], op)
		}
		for status, n := range logins {
			ch <- prometheus.MustNewConstMetric(c.logins, prometheus.CounterValue, n, status)
		}
	}

	if n, err := st.CountActiveBans(ctx, time.Now()); err != nil {
		ch <- prometheus.NewInvalidMetric(c.bans, err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.bans, prometheus.GaugeValue, float64(n))
	}
	// Sent rows are left out: they only grow, and counting them would scan
	// the whole outbox at every scrape.
	queued := []string{store.NotifyPending, store.NotifySending, store.NotifyDead}
	if n, err := st.CountNotifications(ctx, queued...); err != nil {
		ch <- prometheus.NewInvalidMetric(c.notifications, err)
	} else {
		for _, status := range queued {
			ch <- prometheus.MustNewConstMetric(c.notifications, prometheus.GaugeValue, float64(n[status]), status)
		}
	}
	for _, kind := range []struct {
		desc  *prometheus.Desc
		count func(context.Context) (store.EnabledCount, error)
	}{{c.partners, st.CountPartners}, {c.accounts, st.CountAccounts}} {
		n, err := kind.count(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(kind.desc, err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(kind.desc, prometheus.GaugeValue, float64(n.Enabled), "enabled")
		ch <- prometheus.MustNewConstMetric(kind.desc, prometheus.GaugeValue, float64(n.Disabled), "disabled")
	}
}

// metricsHandler serves the Prometheus text format. A metric that cannot
// be read is left out (and logged) rather than failing the whole scrape.
func (s *Server) metricsHandler(m *requestMetrics) echo.HandlerFunc {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newStateCollector(s), m.requests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
	})
	return echo.WrapHandler(h)
}
