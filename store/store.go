// Package store is Ferry's data layer: the models and plain queries over
// gorm, on PostgreSQL in production and SQLite (pure Go) as the embedded
// default. The schema comes only from the versioned SQL in migrations/.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/libtnb/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/ferryhq/ferry/migrations"
)

// Errors returned by every query, so callers can map them to protocol
// replies without knowing the database.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// Store is the handle every part of Ferry shares. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	dialect migrations.Dialect
	// writer admits one transaction at a time on SQLite (nil on
	// PostgreSQL and inside a transaction). SQLite has one writer; a second
	// BEGIN IMMEDIATE waits in SQLite's busy handler, which sleeps 1 ms and
	// more between tries, so transactions of the FTP server and the
	// notifier running at once cost each other milliseconds. Queued here,
	// the next one starts as soon as the last commits.
	writer *writeQueue
	// held is the queue whose turn the transaction this Store runs holds
	// (nil outside one, and on PostgreSQL): a long transaction asks it
	// whether others wait (Store.othersWait).
	held *writeQueue
	// applied lists the migration versions Open applied.
	applied []int64
	// counter is told of the audit rows written (CountAuditWith).
	counter AuditCounter
	// onBatch, if set, is told of each batch a retention delete committed
	// (tests).
	onBatch func(deleted int64)
	// memo is what the transaction this Store runs (nil outside one) has
	// read and may read again.
	memo *txMemo
	// stmts keeps the hot statements prepared (SQLite; nil on PostgreSQL).
	stmts *stmtCache
	// uploads keeps the intents of small uploads outside the database
	// (OpenUploadLog; nil without one).
	uploads *uploadLog
	// partners marks changes of partners for the server's copies of them
	// (SQLite; its path is empty elsewhere).
	partners changeStamp
}

// txMemo keeps reads a transaction repeats (the audit writer's batch asks
// for the webhooks once per upload it finishes) and the batchers of the
// transaction.
type txMemo struct {
	hooks     []Webhook
	hooksRead bool
	batchers  []batcherOf
	// after runs once the outermost transaction has committed; a nested
	// transaction's memo shares its list.
	after *[]func()
}

// afterCommit runs f once what s wrote is committed: at once outside a
// transaction, after the outermost transaction's commit inside one (with
// SQLite's writer turn given back), never if it rolls back.
func (s *Store) afterCommit(f func()) {
	if s.memo == nil || s.memo.after == nil {
		f()
		return
	}
	*s.memo.after = append(*s.memo.after, f)
}

type batcherOf struct {
	key any
	b   Batcher
}

// Batcher is work a transaction gathers from its statements and writes at
// its end, in one go: the upload alerts of an audit writer's batch, one
// outbox row per partner instead of one per upload.
type Batcher interface {
	Flush(ctx context.Context, tx *Store) error
}

// Batch returns the Batcher s's transaction keeps under key, made by create
// at the first call of the transaction. Its Flush runs in the transaction
// once the function given to Tx has returned without error, before the
// commit; an error of Flush rolls the transaction back, as the function's
// would. Outside a transaction Batch returns nil: the caller writes at once.
func (s *Store) Batch(key any, create func() Batcher) Batcher {
	if s.memo == nil {
		return nil
	}
	for _, b := range s.memo.batchers {
		if b.key == key {
			return b.b
		}
	}
	b := create()
	s.memo.batchers = append(s.memo.batchers, batcherOf{key, b})
	return b
}

// flushBatchers runs the Flush of each Batcher of s's transaction, in the
// order they were made (one made by a Flush runs too).
func (s *Store) flushBatchers(ctx context.Context) error {
	for i := 0; s.memo != nil && i < len(s.memo.batchers); i++ {
		if err := s.memo.batchers[i].b.Flush(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// runTx runs fn on tx, the Store of a transaction, then the Flush of the
// batchers fn made.
func runTx(ctx context.Context, tx *Store, fn func(tx *Store) error) error {
	if err := fn(tx); err != nil {
		return err
	}
	return tx.flushBatchers(ctx)
}

// Options tune Open.
type Options struct {
	// SQLitePath is used when URL is empty or sqlite://.
	SQLitePath string
	// Migrate applies pending migrations (the default for `ferry serve`).
	// Without it Open fails if the schema is behind.
	Migrate bool
	Logger  *slog.Logger
}

// Open connects to url (postgres://... or empty/sqlite:// for SQLite at
// opts.SQLitePath) and brings the schema up to date.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	gcfg := &gorm.Config{
		Logger:                 logger.Discard,
		TranslateError:         true,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
	var (
		dialector  gorm.Dialector
		dialect    migrations.Dialect
		sqlitePath string
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		dialector = postgres.Open(url)
		dialect = migrations.Postgres
	case url == "" || strings.HasPrefix(url, "sqlite://"):
		path := opts.SQLitePath
		if p := strings.TrimPrefix(url, "sqlite://"); p != "" {
			path = p
		}
		if path == "" {
			return nil, errors.New("store: no SQLite path")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("store: create database folder: %w", err)
		}
		dialector = sqlite.Open(SQLiteDSN(path))
		dialect, sqlitePath = migrations.SQLite, path
	default:
		return nil, fmt.Errorf("store: unsupported database URL %q", Redact(url))
	}
	db, err := gorm.Open(dialector, gcfg)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if dialect == migrations.Postgres {
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(16)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		// A few connections per core, kept open. SQLite's readers run on
		// the cores, and each connection holds its own copy of the
		// schema, pages and prepared statements: 64 parallel logins could
		// open 64, and the sessions test's peak memory read 54.5-72.9 MiB
		// against 55.9-60.8 with 8 (2026-12-07). A new connection
		// re-reads the schema and runs the pragmas (8% of the FTP
		// server's CPU under 64 parallel logins while only 16 could stay
		// idle), so none is closed for being idle before a minute.
		conns := max(sqliteMinConns, sqliteConnsPerCore*runtime.GOMAXPROCS(0))
		sqlDB.SetMaxOpenConns(conns)
		sqlDB.SetMaxIdleConns(conns)
		sqlDB.SetConnMaxIdleTime(time.Minute)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", dialect, err)
	}
	s := &Store{db: db, dialect: dialect}
	if dialect == migrations.SQLite {
		s.writer = &writeQueue{turn: make(chan struct{}, 1), conn: &writeConn{db: sqlDB}}
		ck, err := startCheckpointer(ctx, sqlDB, s.writer, opts.Logger)
		if err != nil {
			sqlDB.Close()
			return nil, err
		}
		s.writer.checkpointer = ck
		s.stmts = newStmtCache(sqlDB)
		if sqlitePath != ":memory:" && !strings.Contains(sqlitePath, "mode=memory") {
			s.partners = changeStamp{path: sqlitePath + "-partners", log: opts.Logger}
		}
	}
	if opts.Migrate {
		applied, err := migrations.Up(ctx, sqlDB, dialect, opts.Logger)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store: %w", err)
		}
		s.applied = applied
	} else {
		cur, latest, err := migrations.Version(ctx, sqlDB, dialect)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store: %w", err)
		}
		if cur < latest {
			s.Close()
			return nil, fmt.Errorf("store: schema version %d is behind %d: run `ferry migrate`", cur, latest)
		}
	}
	return s, nil
}

// SQLiteDSN is the data source name Ferry opens an SQLite database at path
// with (the driver registered as "sqlite"); a tool that writes to Ferry's
// database outside the store (a bulk seeder) opens it with the same one, so
// that it writes times as Ferry reads them.
func SQLiteDSN(path string) string {
	// WAL lets readers run beside the writer; immediate transactions and
	// a busy timeout make concurrent writers queue instead of failing.
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate" +
		// Checkpoints run in the background (walCheckpointer).
		"&_pragma=wal_autocheckpoint(0)" +
		// Statement journals in memory: a statement that may fail
		// halfway inside a transaction (an INSERT of many rows, with
		// foreign keys) copies every page it changes to its journal,
		// which otherwise spills to a temporary file past 64 KiB, two
		// writes a page: a fifth of the audit writer's batches
		// (BenchmarkRecordTransfers: 21.7 to 17.0 us a row). Temporary
		// tables (DISTINCT, GROUP BY without an index) stay in memory
		// too; Ferry's grow with partners, not with the audit log.
		"&_pragma=temp_store(2)" +
		// Times are written as "2006-01-02 15:04:05.999999999-07:00"
		// and read back as time.Time from DATE/DATETIME/TIMESTAMP
		// columns only: a computed column (strftime, MAX) stays the
		// text SQLite made, as Ferry's queries expect.
		"&_time_format=sqlite&_texttotime=0"
}

// sqliteMinConns and sqliteConnsPerCore size the pool of SQLite
// connections; the writer and the checkpointer each keep one of them.
const (
	sqliteMinConns     = 8
	sqliteConnsPerCore = 4
)

// Redact hides the password in a database URL, for messages and logs.
func Redact(url string) string {
	if at := strings.LastIndex(url, "@"); at > 0 {
		if scheme := strings.Index(url, "://"); scheme > 0 && scheme < at {
			return url[:scheme+3] + "***" + url[at:]
		}
	}
	return url
}

// Applied returns the migration versions Open applied, oldest first;
// none when the schema was up to date (or Options.Migrate was off).
func (s *Store) Applied() []int64 { return s.applied }

// SchemaVersion returns the schema version of the database.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	db, err := s.SQL()
	if err != nil {
		return 0, err
	}
	cur, _, err := migrations.Version(ctx, db, s.dialect)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return cur, nil
}

// Dialect reports which database the store runs on.
func (s *Store) Dialect() migrations.Dialect { return s.dialect }

// SQL returns the underlying database/sql handle (health checks, migrations).
func (s *Store) SQL() (*sql.DB, error) {
	db, err := s.db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return db, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	db, err := s.SQL()
	if err != nil {
		return err
	}
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close stops the SQLite checkpointer and releases the connections.
func (s *Store) Close() error {
	_ = s.closeUploadLog() // what is open in it stays for the next start
	if s.writer != nil && s.writer.checkpointer != nil {
		s.writer.checkpointer.close()
	}
	if s.writer != nil && s.writer.conn != nil {
		// After the transaction running now, if any; one that does not
		// end keeps its connection (the pool closes it when it is back).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.writer.acquire(ctx); err == nil {
			s.writer.conn.close()
			s.writer.release()
		}
		cancel()
	}
	if s.stmts != nil {
		s.stmts.close()
	}
	db, err := s.SQL()
	if err != nil {
		return err
	}
	return db.Close()
}

// Tx runs fn in one transaction; the Store passed to fn uses it. What the
// transaction queued with afterCommit runs once it has committed and, on
// SQLite, once the writer's turn is given back.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	after, nested := new([]func()), s.memo != nil && s.memo.after != nil
	if nested {
		after = s.memo.after // run after the outermost commit
	}
	queued := len(*after)
	if err := s.tx(ctx, fn, after); err != nil {
		// Rolled back: what it queued is not to run (a savepoint's
		// outer transaction may still commit what came before).
		*after = (*after)[:queued]
		return translate(err)
	}
	if !nested {
		for _, f := range *after {
			f()
		}
	}
	return nil
}

// tx is Tx's transaction, its Store's memo queueing to after.
func (s *Store) tx(ctx context.Context, fn func(tx *Store) error, after *[]func()) error {
	if s.writer != nil {
		if err := s.writer.acquire(ctx); err != nil {
			return err
		}
		defer s.writer.release()
	}
	if s.writer != nil && s.writer.conn != nil {
		return s.writer.conn.run(ctx, func(c *txConn) error {
			// As gorm's Begin makes its transaction's handle.
			tx := s.db.Session(&gorm.Session{Context: ctx, NewDB: true})
			tx.Statement.ConnPool = c
			return runTx(ctx, s.in(tx, s.writer, after), fn)
		})
	}
	// PostgreSQL, or a Store in a transaction already (a savepoint).
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return runTx(ctx, s.in(tx, s.held, after), fn) })
}

// write runs fn, a write of a few statements, as one: on SQLite in a
// transaction of the write queue, since a statement outside it takes the
// database's lock behind the queue's back, and the queued transaction that
// meets it (an upload's reservation before its 226) sleeps in SQLite's busy
// handler, milliseconds at a time (2026-12-07: three such sleeps of about
// 9 ms in 3,000 uploads, from the alerts' settlements). Elsewhere
// (PostgreSQL, or a Store in a transaction already) fn runs on s as it is.
func (s *Store) write(ctx context.Context, fn func(tx *Store) error) error {
	if s.writer == nil {
		return fn(s)
	}
	return s.Tx(ctx, fn)
}

// in is the Store of a transaction on tx; held is the writer's turn it
// holds (SQLite).
func (s *Store) in(tx *gorm.DB, held *writeQueue, after *[]func()) *Store {
	return &Store{db: tx, dialect: s.dialect, counter: s.counter, memo: &txMemo{after: after}, held: held, stmts: s.stmts,
		uploads: s.uploads, partners: s.partners}
}

// writeQueue admits one transaction at a time, in the order they came,
// and counts those waiting for their turn.
type writeQueue struct {
	turn    chan struct{}
	waiting atomic.Int32
	// conn is the connection the transactions run on, used by the
	// holder of the turn only.
	conn *writeConn
	// checkpointer is told of every write transaction.
	checkpointer *walCheckpointer
}

func (q *writeQueue) acquire(ctx context.Context) error {
	select {
	case q.turn <- struct{}{}:
		return nil
	default:
	}
	q.waiting.Add(1)
	defer q.waiting.Add(-1)
	select {
	case q.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *writeQueue) release() {
	<-q.turn
	if q.checkpointer != nil {
		q.checkpointer.wrote()
	}
}

// othersWait reports whether, in a transaction on SQLite, another
// transaction waits for this one to end.
func (s *Store) othersWait() bool { return s.held != nil && s.held.waiting.Load() > 0 }

func (s *Store) q(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// translate maps driver errors to the package's sentinel errors.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%w", ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrMailQuota), errors.As(err, new(*dbError)):
		return err
	}
	return &dbError{err}
}

// dbError marks an error that translate has seen, so it is wrapped once.
type dbError struct{ err error }

func (e *dbError) Error() string { return "store: " + e.err.Error() }
func (e *dbError) Unwrap() error { return e.err }

// NewID returns a new time-ordered identifier (UUIDv7) as a string.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// NewIDAt returns a new UUIDv7 whose time is t (to the millisecond):
// what NewID would have made at t. Imports and tests of old rows use it,
// so that a row's ID stays in step with its time (IDFloor relies on it).
func NewIDAt(t time.Time) string {
	u := uuid.Must(uuid.NewRandom())
	ms := uint64(max(t.UnixMilli(), 0)) //nolint:gosec // clamped to >= 0
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = u[6]&0x0f | 0x70 // version 7; the variant bits of a random UUID are already RFC 9562's
	return u.String()
}

// newestFirst runs a list query q (its filters applied) as one page of a
// keyset pagination by ID, newest first: the rows with an ID below before
// (the last ID of the previous page; "" starts at the newest), at most
// limit of them (0: all). IDs are time-ordered (NewID), so the page is in
// the order the rows happened.
func newestFirst[T any](q *gorm.DB, before string, limit int) ([]T, error) {
	q = q.Order("id DESC")
	if before != "" {
		q = q.Where("id < ?", before)
	}
	if limit > 0 {
		q = q.Limit(limit)
	}
	var out []T
	if err := q.Find(&out).Error; err != nil {
		return nil, translate(err)
	}
	return out, nil
}
