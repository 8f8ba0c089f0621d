package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ferryhq/ferry/metrics"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// Every audit row the store writes is counted once, in its final status:
// single rows, batches (the audit writer), and uploads when they are
// finished or aborted (never while they are committing); a write that
// fails counts nothing.
func TestAuditCounting(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m := metrics.NewAudit()
		s.CountAuditWith(m)
		p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordTransfer(ctx, &store.Transfer{Operation: store.OpLogin, Status: store.StatusOK, Protocol: "ftp"}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordTransfers(ctx, []*store.Transfer{
			{Operation: store.OpLogin, Status: store.StatusFailed, Protocol: "ftp"},
			{Operation: store.OpDownload, Status: store.StatusOK, Bytes: 100, Protocol: "ftp"},
			{Operation: store.OpDownload, Status: store.StatusFailed, Bytes: 7, Protocol: "ftp"},
		}, nil); err != nil {
			t.Fatal(err)
		}
		// A row the database refuses (its ID is taken) is not counted.
		dup := &store.Transfer{Operation: store.OpDelete, Status: store.StatusOK, Protocol: "ftp"}
		if err := s.RecordTransfer(ctx, dup); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordTransfer(ctx, &store.Transfer{ID: dup.ID, Operation: store.OpDelete, Status: store.StatusOK}); err == nil {
			t.Fatal("a duplicate ID was stored")
		}
		up := func(bytes int64) *store.Transfer {
			tr := &store.Transfer{PartnerID: &p.ID, Operation: store.OpUpload, Protocol: "ftp", Path: "/f", Bytes: bytes,
				FileSize: bytes, UsageBytes: bytes, UsageFiles: 1, StagingPath: "/.ferry-partial/x"}
			if err := s.BeginUpload(ctx, tr); err != nil {
				t.Fatal(err)
			}
			return tr
		}
		done, failed, _ := up(12), up(5), up(3) // the third stays committing
		if err := s.FinishUpload(ctx, done.ID, time.Now(), "", nil); err != nil {
			t.Fatal(err)
		}
		if err := s.AbortUpload(ctx, failed.ID, "test"); err != nil {
			t.Fatal(err)
		}
		// A hook that fails rolls the finish back: nothing counted.
		hookErr := errors.New("hook")
		if err := s.FinishUpload(ctx, failed.ID, time.Now(), "", func(*store.Store) error { return hookErr }); err == nil {
			t.Fatal("finished an aborted upload")
		}
		for status, want := range map[string]float64{store.StatusOK: 1, store.StatusFailed: 1} {
			if got := value(t, m.Logins(status)); got != want {
				t.Errorf("ferry_logins_total{%s} = %v, want %v", status, got, want)
			}
		}
		for _, c := range []struct {
			labels []string
			want   float64
		}{
			{[]string{store.OpDownload, store.StatusOK}, 1},
			{[]string{store.OpDownload, store.StatusFailed}, 1},
			{[]string{store.OpDelete, store.StatusOK}, 1},
			{[]string{store.OpUpload, store.StatusOK}, 1},
			{[]string{store.OpUpload, store.StatusFailed}, 1},
			{[]string{store.OpRename, store.StatusOK}, 0},
		} {
			if got := value(t, m.Transfers(c.labels[0], c.labels[1])); got != c.want {
				t.Errorf("ferry_transfers_total%v = %v, want %v", c.labels, got, c.want)
			}
		}
		for op, want := range map[string]float64{store.OpDownload: 107, store.OpUpload: 17, store.OpDelete: 0} {
			if got := value(t, m.Bytes(op)); got != want {
				t.Errorf("ferry_transfer_bytes_total{%s} = %v, want %v", op, got, want)
			}
		}
		for op, want := range map[string]float64{store.OpDownload: 1, store.OpUpload: 1, store.OpDelete: 0} {
			if got := value(t, m.Failures(op)); got != want {
				t.Errorf("ferry_transfer_failures_total{%s} = %v, want %v", op, got, want)
			}
		}
	})
}

// Retention deletes the rows of operations started before the cutoff, in
// batches, and never an upload that is still committing (recovery needs
// it).
func TestDeleteTransfersBefore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		var rows []*store.Transfer
		for i := 0; i < 25; i++ {
			rows = append(rows, &store.Transfer{Operation: store.OpDownload, Status: store.StatusOK, Protocol: "ftp",
				StartedAt: now.Add(-48*time.Hour + time.Duration(i)*time.Minute)})
		}
		for i := 0; i < 4; i++ {
			rows = append(rows, &store.Transfer{Operation: store.OpLogin, Status: store.StatusOK, Protocol: "ftp",
				StartedAt: now.Add(-time.Duration(i) * time.Minute)})
		}
		if err := s.RecordTransfers(ctx, rows, nil); err != nil {
			t.Fatal(err)
		}
		old := &store.Transfer{Operation: store.OpUpload, Protocol: "ftp", Path: "/x", StartedAt: now.Add(-72 * time.Hour)}
		if err := s.BeginUpload(ctx, old); err != nil {
			t.Fatal(err)
		}
		n, err := s.DeleteTransfersBefore(ctx, now.Add(-24*time.Hour), 10)
		if err != nil || n != 25 {
			t.Fatalf("deleted %d rows (%v), want 25", n, err)
		}
		left, err := s.ListTransfers(ctx, store.TransferFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 5 {
			t.Fatalf("%d rows left, want the 4 recent ones and the committing upload", len(left))
		}
		for _, r := range left {
			if r.Operation == store.OpDownload {
				t.Errorf("an old row survived: %+v", r)
			}
		}
		if n, err := s.DeleteTransfersBefore(ctx, now.Add(-24*time.Hour), 0); err != nil || n != 0 {
			t.Fatalf("second pass deleted %d (%v)", n, err)
		}
	})
}
