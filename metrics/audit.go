// Package metrics holds the node's in-process Prometheus counters of the
// audit log. The store tells them of every audit row it writes (see
// store.Store.CountAuditWith), so /metrics reads counters from memory
// instead of grouping the whole audit table at every scrape. They count
// what this node wrote since it started: sum() across the nodes sharing a
// database gives the cluster's totals, and rate() copes with restarts.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferryhq/ferry/store"
)

// Audit counts audit rows by operation and status. It is a
// prometheus.Collector and a store.AuditCounter; the zero value is not
// usable, call NewAudit.
type Audit struct {
	transfers *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	failures  *prometheus.CounterVec
	logins    *prometheus.CounterVec
}

var (
	_ prometheus.Collector = (*Audit)(nil)
	_ store.AuditCounter   = (*Audit)(nil)
)

// fileOperations are the audit operations other than logins.
var fileOperations = []string{store.OpUpload, store.OpDownload, store.OpDelete, store.OpRename, store.OpMkdir, store.OpRmdir}

// NewAudit returns counters with every operation and outcome present at
// 0, so that rate() and alerts work from the first scrape.
func NewAudit() *Audit {
	a := &Audit{
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_transfers_total",
			Help: "File operations written to the audit log by this node, by operation and status."},
			[]string{"operation", "status"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_transfer_bytes_total",
			Help: "Bytes moved by file operations this node wrote to the audit log, by operation."},
			[]string{"operation"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_transfer_failures_total",
			Help: "Failed file operations this node wrote to the audit log, by operation."},
			[]string{"operation"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_logins_total",
			Help: "Logins this node wrote to the audit log, by status (ok, failed)."},
			[]string{"status"}),
	}
	for _, op := range fileOperations {
		a.transfers.WithLabelValues(op, store.StatusOK)
		a.transfers.WithLabelValues(op, store.StatusFailed)
		a.bytes.WithLabelValues(op)
		a.failures.WithLabelValues(op)
	}
	a.logins.WithLabelValues(store.StatusOK)
	a.logins.WithLabelValues(store.StatusFailed)
	return a
}

// CountAudit counts one audit row in its final status.
func (a *Audit) CountAudit(operation, status string, bytes int64) {
	if operation == store.OpLogin {
		a.logins.WithLabelValues(status).Inc()
		return
	}
	a.transfers.WithLabelValues(operation, status).Inc()
	if bytes > 0 {
		a.bytes.WithLabelValues(operation).Add(float64(bytes))
	}
	if status == store.StatusFailed {
		a.failures.WithLabelValues(operation).Inc()
	}
}

// Describe implements prometheus.Collector.
func (a *Audit) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range a.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (a *Audit) Collect(ch chan<- prometheus.Metric) {
	for _, c := range a.collectors() {
		c.Collect(ch)
	}
}

func (a *Audit) collectors() []prometheus.Collector {
	return []prometheus.Collector{a.transfers, a.bytes, a.failures, a.logins}
}

// Transfers returns the ferry_transfers_total counter of operation and
// status (for tests).
func (a *Audit) Transfers(operation, status string) prometheus.Counter {
	return a.transfers.WithLabelValues(operation, status)
}

// Bytes returns the ferry_transfer_bytes_total counter of operation.
func (a *Audit) Bytes(operation string) prometheus.Counter { return a.bytes.WithLabelValues(operation) }

// Failures returns the ferry_transfer_failures_total counter of operation.
func (a *Audit) Failures(operation string) prometheus.Counter {
	return a.failures.WithLabelValues(operation)
}

// Logins returns the ferry_logins_total counter of status.
func (a *Audit) Logins(status string) prometheus.Counter { return a.logins.WithLabelValues(status) }
