package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/adminauth"
	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/metrics"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

// seedAudit writes n audit rows (a mix of operations and outcomes, as a
// busy server leaves them) in one transaction of multi-row INSERTs.
func seedAudit(b *testing.B, st *store.Store, n int) {
	b.Helper()
	db, err := st.SQL()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	ops := []string{store.OpLogin, store.OpUpload, store.OpDownload, store.OpDownload, store.OpDelete, store.OpRename}
	const per = 500
	start := time.Now().Add(-365 * 24 * time.Hour).UTC()
	insert := func(rows int) string {
		return "INSERT INTO transfers (id, protocol, operation, status, bytes, started_at) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, 'ftp', ?, ?, ?, ?),", rows), ",")
	}
	// One prepared statement of per rows, parsed once.
	full, err := tx.PrepareContext(ctx, insert(per))
	if err != nil {
		b.Fatal(err)
	}
	defer full.Close()
	args := make([]any, 0, 5*per)
	for i := 0; i < n; i += per {
		args = args[:0]
		for j := i; j < min(i+per, n); j++ {
			status := store.StatusOK
			if j%17 == 0 {
				status = store.StatusFailed
			}
			args = append(args, fmt.Sprintf("seed-%09d", j), ops[j%len(ops)], status, int64(j%4096),
				start.Add(time.Duration(j)*time.Second))
		}
		if len(args) == 5*per {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insert(len(args)/5), args...)
		}
		if err != nil {
			tx.Rollback()
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkMetricsScrape scrapes /metrics with 10^3 and with 10^6 rows in
// the audit log (SQLite): the audit counters are in-process and the
// database gauges count indexes and small tables, so the scrape must cost
// the same at both sizes. countOperations is the query an older /metrics
// ran at every scrape (a GROUP BY over the whole audit table), measured
// beside it for reference.
func BenchmarkMetricsScrape(b *testing.B) {
	for _, rows := range []int{1_000, 1_000_000} {
		dir := b.TempDir()
		st, err := store.Open(context.Background(), "", store.Options{SQLitePath: filepath.Join(dir, "ferry.db"), Migrate: true})
		if err != nil {
			b.Fatal(err)
		}
		seeded := time.Now()
		seedAudit(b, st, rows)
		b.Logf("seeded %d audit rows in %v", rows, time.Since(seeded).Round(time.Millisecond))
		audit := metrics.NewAudit()
		st.CountAuditWith(audit)
		srv := &api.Server{Store: st, Partners: &partners.Service{Store: st, FilesDir: filepath.Join(dir, "files")},
			Audit: audit}
		token, _, err := adminauth.CreateToken(context.Background(), st, "bench", adminauth.RoleAuditor)
		if err != nil {
			b.Fatal(err)
		}
		h := srv.Handler()
		b.Run(fmt.Sprintf("rows=%d/scrape", rows), func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "ferry_transfers_total") {
					b.Fatalf("scrape: %d\n%s", w.Code, w.Body)
				}
			}
		})
		b.Run(fmt.Sprintf("rows=%d/countOperations", rows), func(b *testing.B) {
			for b.Loop() {
				if _, err := st.CountOperations(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
		st.Close()
	}
}
