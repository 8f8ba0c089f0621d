package store

// AuditCounter is told of every audit row a Store writes, once the row has
// its final status (ok or failed; an upload between its two phases is
// counted when it is finished or aborted). The node's /metrics counters
// implement it (package metrics).
type AuditCounter interface {
	CountAudit(operation, status string, bytes int64)
}

// CountAuditWith makes s tell c of every audit row written through it from
// now on. Call it before s is shared.
func (s *Store) CountAuditWith(c AuditCounter) { s.counter = c }

// countAudit tells the counter, if any, of rows that were committed.
func (s *Store) countAudit(rows ...*Transfer) {
	if s.counter == nil {
		return
	}
	for _, t := range rows {
		if t.Status == StatusCommitting {
			continue
		}
		s.counter.CountAudit(t.Operation, t.Status, t.Bytes)
	}
}
