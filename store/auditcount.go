package store

import (
	"context"
	"time"
)

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

// AuditRetentionBatch is how many audit rows DeleteTransfersBefore deletes
// per statement, so that a large table is never locked for long.
const AuditRetentionBatch = 10000

// DeleteTransfersBefore deletes the audit rows of operations started before
// cutoff, batch rows per transaction (AuditRetentionBatch when batch <= 0),
// until none is left or ctx ends; uploads still committing are kept for
// recovery. It returns how many rows it deleted.
func (s *Store) DeleteTransfersBefore(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = AuditRetentionBatch
	}
	var total int64
	for {
		var n int64
		err := s.Tx(ctx, func(tx *Store) error {
			// The started_at index finds the oldest rows; each statement
			// touches at most batch of them.
			res := tx.q(ctx).Exec(`DELETE FROM transfers WHERE id IN (
				SELECT id FROM transfers WHERE started_at < ? AND status <> ? ORDER BY started_at LIMIT ?)`,
				cutoff.UTC(), StatusCommitting, batch)
			n = res.RowsAffected
			return translate(res.Error)
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(batch) {
			return total, nil
		}
	}
}
