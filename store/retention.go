package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/ferryhq/ferry/migrations"
)

// RetentionBatch is how many rows a retention delete removes per
// statement (and transaction), so that a large table is never locked for
// long and the deletes of one pass are spread over many short
// transactions.
const RetentionBatch = 10000

// AuditRetentionBatch is RetentionBatch (the audit log's name for it).
const AuditRetentionBatch = RetentionBatch

// deleteInBatches runs del (one DELETE of at most batch rows, in its own
// transaction) until it deletes fewer than batch rows or ctx ends, and
// returns how many rows it deleted in all.
func (s *Store) deleteInBatches(ctx context.Context, batch int, del func(tx *Store, batch int) (int64, error)) (int64, error) {
	if batch <= 0 {
		batch = RetentionBatch
	}
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int64
		err := s.Tx(ctx, func(tx *Store) error {
			var err error
			n, err = del(tx, batch)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if s.onBatch != nil {
			s.onBatch(n)
		}
		if n < int64(batch) {
			return total, nil
		}
	}
}

// DeleteTransfersBefore deletes the audit rows of operations started before
// cutoff, batch rows per transaction (RetentionBatch when batch <= 0),
// until none is left or ctx ends (uploads still committing are not in the
// audit table: see BeginUpload). It returns how many rows it deleted.
func (s *Store) DeleteTransfersBefore(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	return s.deleteInBatches(ctx, batch, func(tx *Store, batch int) (int64, error) {
		// The started_at index finds the oldest rows; each statement
		// touches at most batch of them.
		res := tx.q(ctx).Exec(`DELETE FROM transfers WHERE id IN (
			SELECT id FROM transfers WHERE started_at < ? ORDER BY started_at LIMIT ?)`,
			cutoff.UTC(), batch)
		return res.RowsAffected, translate(res.Error)
	})
}

// DeleteNotificationsBefore deletes sent and dead outbox rows created
// before cutoff, batch rows per transaction (RetentionBatch when batch <=
// 0), until none is left or ctx ends. Pending and sending rows are never
// deleted. It returns how many rows it deleted.
func (s *Store) DeleteNotificationsBefore(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	// IDs are UUIDv7 made when the row is inserted, never before its
	// created_at: the bound on id keeps each statement on a range of the
	// (status, id) index instead of every sent row.
	floor := IDFloor(cutoff)
	return s.deleteInBatches(ctx, batch, func(tx *Store, batch int) (int64, error) {
		res := tx.q(ctx).Exec(`DELETE FROM notifications WHERE id IN (
			SELECT id FROM notifications WHERE status IN (?, ?) AND id < ? AND created_at < ? LIMIT ?)`,
			NotifySent, NotifyDead, floor, dbTime(cutoff), batch)
		return res.RowsAffected, translate(res.Error)
	})
}

// RunExclusive runs fn unless another node (another process on the same
// database) is running fn under the same name: on PostgreSQL it holds a
// session advisory lock for name while fn runs, taken without waiting, so
// that one node at a time does the work and the others skip this round. It
// reports whether fn ran. SQLite has one node per database: fn always
// runs.
func (s *Store) RunExclusive(ctx context.Context, name string, fn func(ctx context.Context) error) (bool, error) {
	if s.dialect != migrations.Postgres {
		return true, fn(ctx)
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	// The lock belongs to one connection: hold it on a connection of its
	// own, set aside from the pool fn uses.
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("store: lock %s: %w", name, err)
	}
	defer conn.Close()
	key := lockKey(name)
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return false, fmt.Errorf("store: lock %s: %w", name, err)
	}
	if !got {
		return false, nil
	}
	defer unlock(conn, key)
	return true, fn(ctx)
}

// unlock releases the advisory lock even when the caller's context has
// ended; a connection that cannot is closed, which releases it too.
func unlock(conn *sql.Conn, key int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // drop the connection, and the lock with it
	}
}

// lockKey is the advisory lock key of a name: FNV-1a of "ferry:" + name.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("ferry:" + name))
	return int64(h.Sum64()) //nolint:gosec // a lock key: wrapping is fine
}
