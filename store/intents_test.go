package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/ferryhq/ferry/migrations"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// Uploads between BeginUpload and their finish live outside the audit
// table (upload_intents), but the audit log's listings, counts and lookups
// show them as committing rows, in ID order with the rest and paged alike;
// a finish or an abort moves each into the audit table once.
func TestCommittingUploadsListedWithTheAuditLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		var ids []string // oldest first
		download := func() {
			t.Helper()
			r := &store.Transfer{PartnerID: &p.ID, Username: "alice", Protocol: "ftp", Operation: store.OpDownload,
				Path: "/out/a.csv", Status: store.StatusOK}
			if err := s.RecordTransfer(ctx, r); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		upload := func(name string) *store.Transfer {
			t.Helper()
			u := &store.Transfer{PartnerID: &p.ID, Username: "alice", Protocol: "ftp", Operation: store.OpUpload,
				Path: "/in/" + name, Bytes: 10, FileSize: 10, UsageBytes: 10, UsageFiles: 1, StartedAt: time.Now(),
				StagingPath: ".ferry-staging/" + name, SHA256: "ab"}
			if err := s.BeginUpload(ctx, u); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, u.ID)
			return u
		}
		download()
		u1 := upload("1.csv")
		download()
		u2 := upload("2.csv")
		u3 := upload("3.csv")
		download()

		ids4 := func(rows []store.Transfer) (out []string) {
			for _, r := range rows {
				out = append(out, r.ID)
			}
			return out
		}
		want := func(idx ...int) (out []string) {
			for _, i := range idx {
				out = append(out, ids[i])
			}
			return out
		}
		check := func(what string, f store.TransferFilter, wantIDs []string, wantCount int64) {
			t.Helper()
			rows, err := s.ListTransfers(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids4(rows); !slices.Equal(got, wantIDs) {
				t.Errorf("%s: listed %v, want %v", what, got, wantIDs)
			}
			if n, err := s.CountTransfers(ctx, f); err != nil || n != wantCount {
				t.Errorf("%s: counted %d (%v), want %d", what, n, err, wantCount)
			}
		}
		check("all", store.TransferFilter{}, want(5, 4, 3, 2, 1, 0), 6)
		check("first page", store.TransferFilter{Limit: 3}, want(5, 4, 3), 6)
		check("second page", store.TransferFilter{Limit: 3, Before: ids[3]}, want(2, 1, 0), 6)
		check("committing", store.TransferFilter{Status: store.StatusCommitting}, want(4, 3, 1), 3)
		check("ok", store.TransferFilter{Status: store.StatusOK}, want(5, 2, 0), 3)
		check("uploads", store.TransferFilter{Operation: store.OpUpload, Limit: 2}, want(4, 3), 3)
		if got, err := s.TransferByID(ctx, u2.ID); err != nil || got.Status != store.StatusCommitting || got.Path != "/in/2.csv" {
			t.Errorf("committing upload by ID: %+v %v", got, err)
		}

		if err := s.FinishUpload(ctx, u1.ID, time.Now(), "cd", nil); err != nil {
			t.Fatal(err)
		}
		if err := s.AbortUpload(ctx, u2.ID, "disk full"); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishUpload(ctx, u1.ID, time.Now(), "", nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second finish: %v, want ErrNotFound", err)
		}
		if err := s.AbortUpload(ctx, u2.ID, "again"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second abort: %v, want ErrNotFound", err)
		}
		check("all, after a finish and an abort", store.TransferFilter{}, want(5, 4, 3, 2, 1, 0), 6)
		check("committing, after", store.TransferFilter{Status: store.StatusCommitting}, want(4), 1)
		check("ok, after", store.TransferFilter{Status: store.StatusOK}, want(5, 2, 1, 0), 4)
		got, err := s.TransferByID(ctx, u1.ID)
		if err != nil || got.Status != store.StatusOK || got.SHA256 != "cd" || got.StagingPath != "" || got.FinishedAt == nil ||
			got.Path != "/in/1.csv" || got.Bytes != 10 || got.UsageFiles != 1 {
			t.Errorf("finished upload: %+v %v", got, err)
		}
		got, err = s.TransferByID(ctx, u2.ID)
		if err != nil || got.Status != store.StatusFailed || got.Error != "disk full" || got.StagingPath == "" || got.SHA256 != "ab" {
			t.Errorf("aborted upload: %+v %v", got, err)
		}
		pending, err := s.CommittingUploads(ctx)
		if err != nil || len(pending) != 1 || pending[0].ID != u3.ID {
			t.Errorf("committing uploads: %+v %v, want only %s", pending, err, u3.ID)
		}
		usage, err := s.PartnerUsage(ctx, p.ID)
		if err != nil || usage.UsedBytes != 20 || usage.UsedFiles != 2 {
			t.Errorf("usage after two reservations kept and one given back: %+v %v", usage, err)
		}
		ops, err := s.CountOperations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int64{}
		for _, o := range ops {
			counts[o.Operation+"/"+o.Status] = o.Count
		}
		if counts["upload/committing"] != 1 || counts["upload/ok"] != 1 || counts["upload/failed"] != 1 || counts["download/ok"] != 3 {
			t.Errorf("operation counts: %v", counts)
		}
	})
}

// An upload a crash left committing in the audit table, as versions
// before upload_intents kept them, is found by recovery after the upgrade;
// a downgrade puts committing uploads back.
func TestUpgradeMovesCommittingUploads(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			var (
				driver, url string
				dialect     migrations.Dialect
				gd          goose.Dialect
			)
			if be.Name == "postgres" {
				driver, url, dialect, gd = "pgx", storetest.NewPostgresDB(t), migrations.Postgres, goose.DialectPostgres
			} else {
				path := filepath.Join(t.TempDir(), "ferry.db")
				driver, url, dialect, gd = "sqlite", store.SQLiteDSN(path), migrations.SQLite, goose.DialectSQLite3
			}
			db, err := sql.Open(driver, url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			fsys, err := migrations.FS(dialect)
			if err != nil {
				t.Fatal(err)
			}
			p, err := goose.NewProvider(gd, db, fsys, goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 15); err != nil {
				t.Fatal(err)
			}
			insert := `INSERT INTO transfers (id, protocol, operation, path, status, started_at, staging_path)
				VALUES (?, 'ftp', 'upload', '/in/x', ?, ?, '.ferry-staging/x')`
			if be.Name == "postgres" {
				insert = strings.NewReplacer("(?,", "($1,", "?, ?,", "$2, $3,").Replace(insert)
			}
			now := time.Now().UTC()
			for _, status := range []string{"ok", "committing"} {
				if _, err := db.ExecContext(ctx, insert, store.NewID(), status, now); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := p.Up(ctx); err != nil {
				t.Fatal(err)
			}
			count := func(q string) int {
				t.Helper()
				var n int
				if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if c, i := count("SELECT COUNT(*) FROM transfers WHERE status = 'committing'"), count("SELECT COUNT(*) FROM upload_intents"); c != 0 || i != 1 {
				t.Errorf("after the upgrade: %d committing rows in transfers, %d in upload_intents; want 0 and 1", c, i)
			}
			if count("SELECT COUNT(*) FROM transfers") != 1 {
				t.Error("the finished upload's audit row is gone")
			}
			if _, err := p.DownTo(ctx, 15); err != nil {
				t.Fatal(err)
			}
			if c := count("SELECT COUNT(*) FROM transfers WHERE status = 'committing'"); c != 1 {
				t.Errorf("after the downgrade: %d committing rows in transfers, want 1", c)
			}
		})
	}
}

// A node of the previous version, still running during an upgrade, writes
// its committing uploads into transfers; if it crashes, recovery adopts
// those old enough into upload_intents (younger ones may still be finished
// by that node).
func TestAdoptCommitting(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		legacy := func(started time.Time) string {
			t.Helper()
			id := store.IDFloor(started)[:24] + "000000000001"
			q := `INSERT INTO transfers (id, protocol, operation, path, status, started_at, staging_path, usage_bytes, usage_files)
				VALUES (?, 'ftp', 'upload', '/in/x', 'committing', ?, '.ferry-staging/x', 5, 1)`
			if s.Dialect() == migrations.Postgres {
				q = strings.NewReplacer("(?,", "($1,", "'committing', ?,", "'committing', $2,").Replace(q)
			}
			if err := s.ExecForTest(ctx, q, id, started.UTC()); err != nil {
				t.Fatal(err)
			}
			return id
		}
		old := legacy(time.Now().Add(-time.Hour))
		young := legacy(time.Now())
		n, err := s.AdoptCommitting(ctx, time.Now().Add(-10*time.Minute))
		if err != nil || n != 1 {
			t.Fatalf("adopted %d (%v), want 1", n, err)
		}
		pending, err := s.CommittingUploads(ctx)
		if err != nil || len(pending) != 1 || pending[0].ID != old || pending[0].StagingPath != ".ferry-staging/x" || pending[0].UsageBytes != 5 {
			t.Fatalf("committing uploads after adoption: %+v %v, want %s", pending, err, old)
		}
		if err := s.AbortUpload(ctx, old, "recovered"); err != nil {
			t.Fatalf("abort the adopted upload: %v", err)
		}
		if got, err := s.TransferByID(ctx, young); err != nil || got.Status != store.StatusCommitting {
			t.Errorf("the younger legacy row: %+v %v, want it left committing in transfers", got, err)
		}
		if n, err := s.AdoptCommitting(ctx, time.Now().Add(-10*time.Minute)); err != nil || n != 0 {
			t.Errorf("second adoption: %d %v, want none", n, err)
		}
	})
}
