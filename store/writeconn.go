package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// writeConn is the one connection every write transaction runs on, on
// SQLite, whose writers take turns anyway (writeQueue): only the holder of
// the turn uses it. Its BEGIN IMMEDIATE, COMMIT and ROLLBACK are prepared
// once, as are the fixed statements a transaction runs (see stmtCache). A
// database/sql transaction instead cost every write a goroutine that
// watches its context, the driver's parse of BEGIN and COMMIT, and a
// goroutine for each of them that would interrupt it: the wake-ups and the
// parsing were a twentieth of the FTP server's CPU while it stored small
// files (2026-12-07), and the reservation every upload's reply waits for is
// one such transaction.
type writeConn struct {
	db *sql.DB
	// conn is nil until the first transaction, and again after a
	// transaction left it in a state it could not roll back from (it is
	// then discarded).
	conn  *sql.Conn
	stmts map[string]*sql.Stmt // prepared on conn
}

// txConn is the connection pool of a Store inside a writeConn transaction:
// gorm runs the transaction's statements on it. Its Commit and Rollback
// make gorm see a transaction (a nested Store.Tx takes a savepoint), but
// the transaction ends in writeConn.run, never through them.
type txConn struct {
	*sql.Conn
	w  *writeConn
	mu sync.Mutex // the statements of a transaction run one at a time
}

var errTxConnEnd = errors.New("store: a transaction ends when Store.Tx returns")

// Commit implements gorm.TxCommitter; see txConn.
func (c *txConn) Commit() error { return errTxConnEnd }

// Rollback implements gorm.TxCommitter; see txConn.
func (c *txConn) Rollback() error { return errTxConnEnd }

// GetDBConn implements gorm.GetDBConnector, for Store.SQL in a transaction.
func (c *txConn) GetDBConn() (*sql.DB, error) { return c.w.db, nil }

// stmt returns query prepared on the transaction's connection.
func (c *txConn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.prepare(ctx, query)
}

func (w *writeConn) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := w.stmts[query]; st != nil {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

// run runs fn in a transaction on the connection: committed if fn
// returns nil, rolled back otherwise (and on a panic, which goes on). The
// caller holds the writer's turn. BEGIN, COMMIT and ROLLBACK do not stop
// with ctx (fn's statements do): a transaction that began ends, whole or
// not at all.
func (w *writeConn) run(ctx context.Context, fn func(c *txConn) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.conn == nil {
		conn, err := w.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("store: connection for writes: %w", err)
		}
		w.conn, w.stmts = conn, map[string]*sql.Stmt{}
	}
	bg := context.WithoutCancel(ctx)
	if err := w.exec(bg, "BEGIN IMMEDIATE"); err != nil {
		return err // a failed BEGIN leaves no transaction open
	}
	done := false
	defer func() {
		if done {
			return
		}
		// fn failed or panicked, or COMMIT failed.
		// SQLite may have rolled back already (an interrupted
		// statement, some I/O errors): then ROLLBACK finds none open and
		// the connection is fine. Any other failure leaves it unusable.
		if rerr := w.exec(bg, "ROLLBACK"); rerr != nil && !strings.Contains(rerr.Error(), "no transaction is active") {
			w.discard()
		}
	}()
	if err := fn(&txConn{Conn: w.conn, w: w}); err != nil {
		return err
	}
	if err := w.exec(bg, "COMMIT"); err != nil {
		return err
	}
	done = true
	return nil
}

func (w *writeConn) exec(ctx context.Context, query string) error {
	st, err := w.prepare(ctx, query)
	if err == nil {
		_, err = st.ExecContext(ctx)
	}
	return err
}

// discard closes the connection; the next transaction opens another.
func (w *writeConn) discard() { w.release(true) }

// close returns the connection to the pool (Store.Close); the caller holds
// the writer's turn.
func (w *writeConn) close() {
	if w.conn != nil {
		w.release(false)
	}
}

// release closes the connection's statements and gives the connection
// back, or closes it for good when it is bad.
func (w *writeConn) release(bad bool) {
	for _, st := range w.stmts {
		_ = st.Close()
	}
	if bad {
		// driver.ErrBadConn from Raw makes database/sql close the
		// connection rather than return it, mid-transaction, to the pool.
		_ = w.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	_ = w.conn.Close()
	w.conn, w.stmts = nil, nil
}
