package store_test

import (
	"context"
	"testing"

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
