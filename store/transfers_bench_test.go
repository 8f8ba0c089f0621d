package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// BenchmarkRecordTransfers writes the audit writer's batches (128 download
// rows) with RecordTransfers, beside gorm's CreateInBatches of 100 rows per
// statement (the reference: how they were written before) in the same
// run, on each backend. ns/row is per audit row.
func BenchmarkRecordTransfers(b *testing.B) {
	const batch = 128
	for _, be := range storetest.Backends() {
		ways := []struct {
			name  string
			write func(s *store.Store, rows []*store.Transfer) error
		}{
			{"RecordTransfers", func(s *store.Store, rows []*store.Transfer) error {
				return s.RecordTransfers(context.Background(), rows, nil)
			}},
			{"reference=gorm-CreateInBatches", func(s *store.Store, rows []*store.Transfer) error {
				return s.RecordTransfersWithGorm(context.Background(), rows)
			}},
		}
		for _, w := range ways {
			b.Run(be.Name+"/"+w.name, func(b *testing.B) {
				s := storetest.Open(b, be)
				p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
				if err := s.CreatePartner(context.Background(), p); err != nil {
					b.Fatal(err)
				}
				rows := make([]*store.Transfer, batch)
				b.ResetTimer()
				for b.Loop() {
					for i := range rows {
						rows[i] = &store.Transfer{ID: store.NewID(), PartnerID: &p.ID, Username: "alice", Protocol: "ftp",
							Operation: store.OpDownload, Path: "/in/report.csv", RemoteAddr: "192.0.2.7:50000",
							Bytes: 4096, Status: store.StatusOK}
					}
					if err := w.write(s, rows); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/row")
			})
		}
	}
}

// BenchmarkTransferIndexCost writes audit batches (128 rows, as the audit
// writer does under load) on SQLite with every index of transfers, and
// then with each index dropped in turn: what each index costs a row, the
// figure behind a decision to drop one (each serves a query of the
// ten-million-row listings; see docs/performance.md). ns/row is per row.
func BenchmarkTransferIndexCost(b *testing.B) {
	be := storetest.Backends()[0]
	probe := storetest.Open(b, be)
	names, err := probe.TransferIndexes(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if len(names) == 0 {
		b.Fatal("transfers has no index")
	}
	const batch = 128
	for _, drop := range append([]string{""}, names...) {
		name := "all"
		if drop != "" {
			name = "without-" + drop
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s := storetest.Open(b, be)
			if drop != "" {
				if err := s.DropIndex(ctx, drop); err != nil {
					b.Fatal(err)
				}
			}
			p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
			if err := s.CreatePartner(ctx, p); err != nil {
				b.Fatal(err)
			}
			rows := make([]*store.Transfer, batch)
			n := 0
			for b.Loop() {
				for i := range rows {
					n++
					now := time.Now()
					rows[i] = &store.Transfer{ID: store.NewID(), PartnerID: &p.ID, Username: "alice", Protocol: "ftp",
						Operation: store.OpUpload, Path: fmt.Sprintf("/in/batch-%d/report-%07d.csv", n%97, n),
						RemoteAddr: "192.0.2.7:50000", Bytes: 4096, FileSize: 4096, Status: store.StatusOK,
						StartedAt: now, FinishedAt: &now}
				}
				if err := s.RecordTransfers(ctx, rows, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/row")
		})
	}
}

// BenchmarkBeginUpload runs the reservation every upload's 226 waits for
// (the partner's usage and the committing upload's row, one transaction)
// on SQLite, beside two references in the same run: the row written into
// the audit table with its nine indexes (before upload_intents), and the
// same statements in a database/sql transaction (gorm's Transaction, as
// Store.Tx ran them before its write connection). The context can be
// cancelled, as an FTP session's.
func BenchmarkBeginUpload(b *testing.B) {
	be := storetest.Backends()[0]
	ways := []struct {
		name  string
		begin func(s *store.Store, ctx context.Context, t *store.Transfer) error
		setup func(b *testing.B, s *store.Store)
	}{
		{"BeginUpload", func(s *store.Store, ctx context.Context, t *store.Transfer) error { return s.BeginUpload(ctx, t) }, nil},
		// A partner without a quota, its usage left for the finish (as
		// the file core asks for small uploads): no partner row written.
		{"BeginUpload-deferred-usage", func(s *store.Store, ctx context.Context, t *store.Transfer) error {
			t.DeferUsage = true
			return s.BeginUpload(ctx, t)
		}, nil},
		// The same with the upload log (ferry serve on SQLite): its intent
		// is one write to a file, not a transaction.
		{name: "BeginUpload-upload-log", begin: func(s *store.Store, ctx context.Context, t *store.Transfer) error {
			t.DeferUsage = true
			return s.BeginUpload(ctx, t)
		}, setup: func(b *testing.B, s *store.Store) {
			if _, _, err := s.OpenUploadLog(context.Background(), filepath.Join(b.TempDir(), "ferry.db-uploads")); err != nil {
				b.Fatal(err)
			}
		}},
		{"reference=audit-table-row", func(s *store.Store, ctx context.Context, t *store.Transfer) error {
			return s.BeginUploadIntoTransfers(ctx, t)
		}, nil},
		{"reference=database-sql-Tx", func(s *store.Store, ctx context.Context, t *store.Transfer) error {
			return s.BeginUploadInSQLTx(ctx, t)
		}, nil},
	}
	for _, w := range ways {
		b.Run(be.Name+"/"+w.name, func(b *testing.B) {
			s := storetest.Open(b, be)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
			if err := s.CreatePartner(ctx, p); err != nil {
				b.Fatal(err)
			}
			if w.setup != nil {
				w.setup(b, s)
			}
			n := 0
			for b.Loop() {
				n++
				t := &store.Transfer{PartnerID: &p.ID, Username: "alice", Protocol: "ftp", Operation: store.OpUpload,
					Path: fmt.Sprintf("/in/report-%07d.csv", n), RemoteAddr: "192.0.2.7:50000", Bytes: 4096,
					FileSize: 4096, UsageBytes: 4096, UsageFiles: 1, StartedAt: time.Now()}
				if err := w.begin(s, ctx, t); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
