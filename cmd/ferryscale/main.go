// Command ferryscale measures Ferry on a big database (issue 22). It
// creates a database of its own (PostgreSQL by default, or SQLite), brings
// it to Ferry's schema with Ferry's migrations, seeds it at the sizes the
// flags give (COPY on PostgreSQL; partners, accounts, audit rows, outbox
// rows, mailbox messages and API tokens, spread so that most partners are
// small and a few huge), then starts `ferry serve` on it (built from this
// module, or -ferry-bin) on free 127.0.0.1 ports and times every API list
// with its filters at the first, a middle and the last page, every web
// admin page, FTP and IMAP logins cold and warm, an upload's publish,
// /metrics and one pass of each housekeeping query. It prints one JSON
// line per measurement (endpoint, p50, p99 and, on PostgreSQL, the rows
// the query behind it scans according to EXPLAIN (ANALYZE, BUFFERS)) and
// then a table.
//
//	go run ./cmd/ferryscale                                  # the sizes (10^7 audit rows: long)
//	go run ./cmd/ferryscale -partners 1000 -accounts 10000 -audit 100000 -messages 10000 -notifications 10000
//	go run ./cmd/ferryscale -reuse                           # measure again without seeding
//	go run ./cmd/ferryscale -db sqlite -audit 100000 ...     # SQLite in the working folder
//
// The PostgreSQL database is -pg-db (default ferryscale) on the server of
// -pg-url; it is dropped and created again unless -reuse is set.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/ferryhq/ferry/internal/benchkit"
	"github.com/ferryhq/ferry/internal/password"
	"github.com/ferryhq/ferry/store"
)

type options struct {
	sz         sizes
	db         string // postgres or sqlite
	pgURL      string // server (any database on it) to create -pg-db on
	pgDB       string
	reuse      bool
	dir        string
	keep       bool
	ferryBin   string
	samples    int
	password   string
	explainLog string
	only       string
}

func main() {
	var o options
	flag.IntVar(&o.sz.partners, "partners", 10000, "partners")
	flag.IntVar(&o.sz.accounts, "accounts", 100000, "accounts (at least one per partner)")
	flag.IntVar(&o.sz.audit, "audit", 10000000, "audit rows (transfers table)")
	flag.IntVar(&o.sz.messages, "messages", 1000000, "mailbox messages")
	flag.IntVar(&o.sz.notifications, "notifications", 1000000, "notification outbox rows")
	flag.IntVar(&o.sz.tokens, "tokens", 1000, "API tokens")
	flag.IntVar(&o.sz.days, "days", 90, "days the audit log and outbox span, back from now")
	flag.StringVar(&o.db, "db", "postgres", "database: postgres or sqlite")
	flag.StringVar(&o.pgURL, "pg-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server to create the database on")
	flag.StringVar(&o.pgDB, "pg-db", "ferryscale", "PostgreSQL database to create (dropped first)")
	flag.BoolVar(&o.reuse, "reuse", false, "measure the database a previous run seeded (same -db, -pg-db or -dir) without seeding")
	flag.StringVar(&o.dir, "dir", "", "working folder (default: a new folder in $TMPDIR, removed at the end; SQLite needs it with -reuse)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working folder")
	flag.StringVar(&o.ferryBin, "ferry-bin", "", "ferry binary (default: go build ./cmd/ferry of this module)")
	flag.IntVar(&o.samples, "samples", 30, "timed requests per measurement")
	flag.StringVar(&o.password, "password", "Scale-pass-22", "password of every seeded account")
	flag.StringVar(&o.explainLog, "explain-log", "", "file to write the text plans of the explained queries to")
	flag.StringVar(&o.only, "only", "", "comma-separated substrings: measure only endpoints whose name contains one")
	flag.Parse()
	if o.sz.partners < 1 || o.sz.accounts < o.sz.partners || o.sz.tokens < 1 || o.sz.days < 1 || o.samples < 1 {
		fatalf("need -partners >= 1, -accounts >= -partners, -tokens >= 1, -days >= 1, -samples >= 1")
	}
	if o.db != "postgres" && o.db != "sqlite" {
		fatalf("-db must be postgres or sqlite")
	}
	if o.pgDB == "test" || o.pgDB == "postgres" || o.pgDB == "" {
		fatalf("-pg-db %q: use a database of its own (it is dropped)", o.pgDB)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o, os.Stdout); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ferryscale: "+format+"\n", args...)
	os.Exit(1)
}

// dbURL is the URL Ferry and the seeder use.
func (o *options) dbURL(dir string) (string, error) {
	if o.db == "sqlite" {
		return "sqlite://" + filepath.Join(dir, "ferry.db"), nil
	}
	u, err := url.Parse(o.pgURL)
	if err != nil {
		return "", fmt.Errorf("-pg-url: %w", err)
	}
	u.Path = "/" + o.pgDB
	return u.String(), nil
}

func run(ctx context.Context, o *options, stdout io.Writer) error {
	if o.reuse && o.db == "sqlite" && o.dir == "" {
		return errors.New("-reuse with -db sqlite needs the -dir of the seeding run")
	}
	dir, cleanup, err := benchkit.WorkDir(o.dir, "ferryscale-", o.keep || o.reuse || o.dir != "")
	if err != nil {
		return err
	}
	defer cleanup()
	benchkit.Logf("working folder %s", dir)
	dbURL, err := o.dbURL(dir)
	if err != nil {
		return err
	}
	if !o.reuse {
		if err := createDatabase(ctx, o, dir); err != nil {
			return err
		}
	}
	// Ferry's own migrations bring the schema up to date.
	st, err := store.Open(ctx, dbURL, store.Options{Migrate: true})
	if err != nil {
		return err
	}
	st.Close()

	var sqlDB *sql.DB
	var pg *pgx.Conn
	if o.db == "postgres" {
		if pg, err = pgx.Connect(ctx, dbURL); err != nil {
			return err
		}
		defer pg.Close(context.Background())
		if sqlDB, err = sql.Open("pgx", dbURL); err != nil {
			return err
		}
	} else {
		if sqlDB, err = sql.Open("sqlite", store.SQLiteDSN(filepath.Join(dir, "ferry.db"))); err != nil {
			return err
		}
	}
	defer sqlDB.Close()

	w := &world{password: o.password}
	if !o.reuse {
		hash, err := password.Hash(o.password, password.Default)
		if err != nil {
			return err
		}
		var out sink = sqliteSink{db: sqlDB}
		if pg != nil {
			out = pgSink{conn: pg}
		}
		benchkit.Logf("seeding %s: %d partners (the biggest holds ~%.0f%% of the rows), %d accounts, %d audit rows, %d notifications, %d messages, %d tokens",
			o.db, o.sz.partners, 100*zipfShare(o.sz.partners), o.sz.accounts, o.sz.audit, o.sz.notifications, o.sz.messages, o.sz.tokens)
		t0 := time.Now()
		if err := seed(ctx, out, o.sz, hash, w); err != nil {
			return err
		}
		if pg != nil {
			if _, err := pg.Exec(ctx, "VACUUM ANALYZE"); err != nil {
				return err
			}
		}
		benchkit.Logf("seeded in %s", time.Since(t0).Round(time.Second))
	}
	if err := w.load(ctx, sqlDB); err != nil {
		return err
	}
	f, err := startFerry(o, dir, dbURL)
	if err != nil {
		return err
	}
	defer f.stop()

	m := &measurer{o: o, w: w, f: f, db: sqlDB, pg: pg, dbURL: dbURL, out: stdout}
	if o.explainLog != "" {
		lf, err := os.Create(o.explainLog)
		if err != nil {
			return err
		}
		defer lf.Close()
		m.explainLog = lf
	}
	if err := m.all(ctx); err != nil {
		return fmt.Errorf("%w\nferry log:\n%s", err, benchkit.Tail(f.log, 30))
	}
	m.table()
	return nil
}

// createDatabase makes an empty database: PostgreSQL's -pg-db dropped and
// created again, or a new SQLite file.
func createDatabase(ctx context.Context, o *options, dir string) error {
	if o.db == "sqlite" {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(filepath.Join(dir, "ferry.db"+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	}
	admin, err := pgx.Connect(ctx, o.pgURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", store.Redact(o.pgURL), err)
	}
	defer admin.Close(context.Background())
	name := pgx.Identifier{o.pgDB}.Sanitize()
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return err
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	return err
}

// load reads what the measurements need from the database (so that -reuse
// works) and adds the API token they use.
func (w *world) load(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT partner_id, COUNT(*) FROM accounts GROUP BY partner_id ORDER BY COUNT(*) DESC, partner_id LIMIT 1`)
	if err != nil {
		return err
	}
	var big string
	var n int
	for rows.Next() {
		if err := rows.Scan(&big, &n); err != nil {
			return err
		}
	}
	rows.Close()
	if big == "" {
		return errors.New("the database has no accounts: seed it first")
	}
	w.big.id = big
	if err := db.QueryRowContext(ctx, `SELECT slug FROM partners WHERE id = $1`, big).Scan(&w.big.slug); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT id, slug FROM partners ORDER BY slug DESC LIMIT 1`).Scan(&w.small.id, &w.small.slug); err != nil {
		return err
	}
	for _, p := range []*partnerRef{&w.big, &w.small} {
		rs, err := db.QueryContext(ctx, `SELECT username FROM accounts WHERE partner_id = $1 ORDER BY username LIMIT 200`, p.id)
		if err != nil {
			return err
		}
		for rs.Next() {
			var u string
			if err := rs.Scan(&u); err != nil {
				return err
			}
			p.users = append(p.users, u)
		}
		rs.Close()
	}
	var secret [16]byte
	if _, err := randRead(secret[:]); err != nil {
		return err
	}
	w.token = fmt.Sprintf("%x", secret)
	w.tokenID = store.NewID()
	_, err = db.ExecContext(ctx, `INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES ($1, $2, 'admin', $3, $4)`,
		w.tokenID, "ferryscale "+time.Now().UTC().Format(time.RFC3339), hashToken(w.token), time.Now().UTC())
	return err
}

// partnerRef is a partner the measurements use.
type partnerRef struct {
	id, slug string
	users    []string
}

func onlyMatches(only, name string) bool {
	if only == "" {
		return true
	}
	for _, s := range strings.Split(only, ",") {
		if s != "" && strings.Contains(name, s) {
			return true
		}
	}
	return false
}
