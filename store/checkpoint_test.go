package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
)

// openSQLite opens a migrated SQLite store in a new folder, closed when
// the test ends, with its database handle and the database file's path.
func openSQLite(t *testing.T) (*store.Store, *sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ferry.db")
	s, err := store.Open(context.Background(), "", store.Options{SQLitePath: path, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	db, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	return s, db, path
}

// On SQLite, commits do not checkpoint the write-ahead log themselves
// (wal_autocheckpoint is 0 on every connection): the store's own
// checkpointer does, in the background, so the log stays small under a
// long run of write transactions, and Close stops it.
func TestWALCheckpointsInTheBackground(t *testing.T) {
	ctx := context.Background()
	s, db, path := openSQLite(t)
	var auto int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d (%v), want 0", auto, err)
	}
	// 3,000 transactions write some 120 MB of log: without a checkpoint the
	// file would hold all of it.
	biggest := int64(0)
	for i := range 3000 {
		row := &store.Transfer{Protocol: "ftp", Operation: store.OpDownload, Status: store.StatusOK,
			Path: "/report.csv", Bytes: int64(i), StartedAt: time.Now()}
		if err := s.RecordTransfers(ctx, []*store.Transfer{row}, nil); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path + "-wal"); err == nil {
			biggest = max(biggest, fi.Size())
		}
	}
	t.Logf("the log reached %d bytes at most", biggest)
	if biggest == 0 || biggest > 32<<20 {
		t.Fatalf("the log reached %d bytes, want some and at most 32 MiB", biggest)
	}
	n, err := s.CountTransfers(ctx, store.TransferFilter{})
	if err != nil || n != 3000 {
		t.Fatalf("%d rows (%v), want 3000", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A second Close (openSQLite's cleanup) must not stop the
	// checkpointer again: that would panic.
}

// Every SQLite connection of the pool gets the store's pragmas (they are in
// the DSN: a PRAGMA run through the pool would reach one connection).
func TestSQLiteConnectionPragmas(t *testing.T) {
	ctx := context.Background()
	_, db, _ := openSQLite(t)
	want := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "1",
		"busy_timeout": "10000", "wal_autocheckpoint": "0", "temp_store": "2"}
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 4 { // held at once: four distinct connections
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		for name, w := range want {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", name, err)
			}
			if got != w {
				t.Errorf("connection %d: %s = %s, want %s", len(conns), name, got, w)
			}
		}
	}
}

// Times on SQLite are text in one layout, the one earlier versions of
// Ferry wrote (their driver's default), so that rows old and new compare
// and sort alike in SQL and SQLite's own date functions read them.
func TestSQLiteTimes(t *testing.T) {
	ctx := context.Background()
	s, db, _ := openSQLite(t)
	p := &store.Partner{Slug: "times", Name: "Times"}
	if err := s.CreatePartner(ctx, p); err != nil {
		t.Fatal(err)
	}
	var text, hour string
	if err := db.QueryRowContext(ctx, "SELECT CAST(created_at AS TEXT), strftime('%Y-%m-%d %H', created_at) FROM partners WHERE id = ?", p.ID).
		Scan(&text, &hour); err != nil {
		t.Fatal(err)
	}
	const layout = "2006-01-02 15:04:05.999999999-07:00"
	got, err := time.Parse(layout, text)
	if err != nil {
		t.Fatalf("created_at stored as %q, not in the layout %q: %v", text, layout, err)
	}
	if !got.Equal(p.CreatedAt) || hour != got.UTC().Format("2006-01-02 15") {
		t.Errorf("created_at %q (hour %q), want %v", text, hour, p.CreatedAt)
	}
	// A row an earlier version wrote reads back as a time.
	old := time.Date(2025, 3, 4, 5, 6, 7, 890000000, time.UTC)
	if _, err := db.ExecContext(ctx, "UPDATE partners SET created_at = ? WHERE id = ?", old.Format(layout), p.ID); err != nil {
		t.Fatal(err)
	}
	back, err := s.PartnerByID(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !back.CreatedAt.Equal(old) {
		t.Errorf("created_at read back as %v, want %v", back.CreatedAt, old)
	}
}
