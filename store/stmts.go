package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"gorm.io/gorm"
)

// stmtCache keeps the statements Ferry runs per file, per row of the
// audit log and per login prepared, on SQLite: the driver keeps each
// prepared statement compiled on every connection that ran it, where a
// statement run by its text is parsed and planned again on every run (a
// tenth of the FTP server's CPU while it stored small files, 2026-12-07).
// PostgreSQL's driver keeps its own cache of prepared statements.
//
// Only statements whose text is fixed in the code come here (a
// multi-row INSERT's text depends on its number of rows, a power of two
// up to insertChunk): the cache never evicts. A statement is prepared on
// the pool; a transaction's statements are prepared once on the
// connection transactions run on (writeConn). Both run with their context's
// deadline and cancellation checked before, not watched during: each is
// one indexed row or a few, and a watched statement cost a goroutine.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st := c.m[query]
	c.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[query]; old != nil {
		// Prepared by another goroutine meanwhile.
		_ = st.Close()
		return old, nil
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		_ = st.Close()
		delete(c.m, q)
	}
}

// prepared returns query prepared for this Store: within its transaction
// when it runs one. ok is false on PostgreSQL (run it through gorm).
func (s *Store) prepared(ctx context.Context, query string) (st *sql.Stmt, ok bool, err error) {
	if s.stmts == nil {
		return nil, false, nil
	}
	switch pool := s.db.Statement.ConnPool.(type) {
	case *txConn:
		st, err = pool.stmt(ctx, query)
	case *sql.Tx:
		// A database/sql transaction (not Store.Tx's on SQLite: the
		// benchmarks' reference): prepared again on its connection.
		st, err = s.stmts.get(ctx, query)
		if err == nil {
			st = pool.StmtContext(ctx, st)
		}
	default:
		st, err = s.stmts.get(ctx, query)
	}
	if err != nil {
		return nil, true, s.translateDriver(err)
	}
	return st, true, nil
}

// exec runs a statement of fixed text (see stmtCache) and reports the
// rows it changed.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	st, ok, err := s.prepared(ctx, query)
	if err != nil {
		return 0, err
	}
	if !ok {
		res := s.q(ctx).Exec(query, args...)
		return res.RowsAffected, res.Error
	}
	run, err := unwatched(ctx)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(run, args...)
	if err != nil {
		return 0, s.translateDriver(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

// scanRow runs a query of fixed text (see stmtCache) and scans its first
// row into dest; sql.ErrNoRows when there is none.
func (s *Store) scanRow(ctx context.Context, query string, args []any, dest ...any) error {
	st, ok, err := s.prepared(ctx, query)
	if err != nil {
		return err
	}
	if !ok {
		return s.q(ctx).Raw(query, args...).Row().Scan(dest...)
	}
	run, err := unwatched(ctx)
	if err != nil {
		return err
	}
	return s.translateDriver(st.QueryRowContext(run, args...).Scan(dest...))
}

// queryRows runs a query of fixed text (see stmtCache) and calls scan on
// each row. scan must not run queries of its own: the rows hold their
// connection until the last is read.
func (s *Store) queryRows(ctx context.Context, query string, args []any, scan func(*sql.Rows) error) error {
	st, ok, err := s.prepared(ctx, query)
	if err != nil {
		return err
	}
	var rows *sql.Rows
	if ok {
		var run context.Context
		if run, err = unwatched(ctx); err != nil {
			return err
		}
		rows, err = st.QueryContext(run, args...)
	} else {
		rows, err = s.q(ctx).Raw(query, args...).Rows()
	}
	if err != nil {
		return s.translateDriver(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return s.translateDriver(rows.Err())
}

// unwatched is the context a prepared statement runs with (see
// stmtCache): ctx's deadline and cancellation are checked now, not
// watched while the statement runs.
func unwatched(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// translateDriver maps a driver error to gorm's (a duplicate key to
// gorm.ErrDuplicatedKey) as gorm does for the statements it runs, so that
// translate sees the same errors either way.
func (s *Store) translateDriver(err error) error {
	if tr, ok := s.db.Dialector.(gorm.ErrorTranslator); ok && err != nil {
		return tr.Translate(err)
	}
	return err
}
