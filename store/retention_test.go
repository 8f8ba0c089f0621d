package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// seedOutbox adds sent, dead and pending notifications created at old
// (with IDs of that time, as they would have been made then), and recent
// sent ones.
func seedOutbox(t *testing.T, s *store.Store, partnerID string, old time.Time, sent, dead, pending, recent int) {
	t.Helper()
	ctx := context.Background()
	add := func(at time.Time, status string) {
		n := &store.Notification{ID: store.NewIDAt(at), PartnerID: partnerID, Kind: store.NotifyKindUpload, Payload: "{}", CreatedAt: at}
		n.MessageID = n.ID + "@test"
		if err := s.InsertNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		if status != store.NotifyPending {
			if err := s.SetNotificationStatusForTest(ctx, n.ID, status); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range sent {
		add(old.Add(time.Duration(i)*time.Second), store.NotifySent)
	}
	for i := range dead {
		add(old.Add(time.Duration(i)*time.Second), store.NotifyDead)
	}
	for i := range pending {
		add(old.Add(time.Duration(i)*time.Second), store.NotifyPending)
	}
	for i := range recent {
		add(time.Now().Add(-time.Duration(i)*time.Second), store.NotifySent)
	}
}

// Notification retention deletes sent and dead rows older than the
// cutoff, in batches of at most the batch size, each in its own
// transaction; pending rows and recent ones stay. A delete without its
// LIMIT reports one batch of 30 and fails here.
func TestDeleteNotificationsBeforeInBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := &store.Partner{Slug: "acme", Name: "Acme"}
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-72 * time.Hour)
		seedOutbox(t, s, p.ID, old, 25, 5, 3, 4)
		var batches []int64
		s.OnRetentionBatch(func(n int64) { batches = append(batches, n) })
		n, err := s.DeleteNotificationsBefore(ctx, time.Now().Add(-24*time.Hour), 10)
		if err != nil || n != 30 {
			t.Fatalf("deleted %d (%v), want the 25 sent and 5 dead old rows", n, err)
		}
		if len(batches) != 4 || batches[0] != 10 || batches[1] != 10 || batches[2] != 10 || batches[3] != 0 {
			t.Fatalf("batches %v, want [10 10 10 0]: at most 10 rows per statement", batches)
		}
		left, err := s.CountNotifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if left[store.NotifyPending] != 3 || left[store.NotifySent] != 4 || left[store.NotifyDead] != 0 {
			t.Fatalf("left %v, want 3 pending and the 4 recent sent", left)
		}
		batches = nil
		if n, err := s.DeleteNotificationsBefore(ctx, time.Now().Add(-24*time.Hour), 0); err != nil || n != 0 {
			t.Fatalf("second pass deleted %d (%v)", n, err)
		}
	})
}

// Audit retention, too, deletes at most a batch per statement.
func TestDeleteTransfersBeforeInBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var rows []*store.Transfer
		for i := range 25 {
			rows = append(rows, &store.Transfer{Operation: store.OpDownload, Status: store.StatusOK, Protocol: "ftp",
				StartedAt: time.Now().Add(-48*time.Hour + time.Duration(i)*time.Minute)})
		}
		if err := s.RecordTransfers(ctx, rows, nil); err != nil {
			t.Fatal(err)
		}
		var batches []int64
		s.OnRetentionBatch(func(n int64) { batches = append(batches, n) })
		if n, err := s.DeleteTransfersBefore(ctx, time.Now().Add(-24*time.Hour), 10); err != nil || n != 25 {
			t.Fatalf("deleted %d (%v), want 25", n, err)
		}
		if len(batches) != 3 || batches[0] != 10 || batches[1] != 10 || batches[2] != 5 {
			t.Fatalf("batches %v, want [10 10 5]", batches)
		}
	})
}

// On PostgreSQL, RunExclusive lets one node at a time run a job: while one
// store (a node: its own connection pool) runs it, another skips it; once
// it is done, the other runs it. Without the advisory lock both would run.
func TestRunExclusiveOneNodeAtATime(t *testing.T) {
	url := storetest.NewPostgresDB(t)
	ctx := context.Background()
	open := func() *store.Store {
		s, err := store.Open(ctx, url, store.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	started, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		ran, err := a.RunExclusive(ctx, "retention", func(context.Context) error {
			close(started)
			<-release
			return nil
		})
		if err == nil && !ran {
			t.Error("node a did not run the job with nobody else holding it")
		}
		done <- err
	}()
	<-started
	ranB := false
	ran, err := b.RunExclusive(ctx, "retention", func(context.Context) error { ranB = true; return nil })
	if err != nil || ran || ranB {
		t.Fatalf("node b ran the job while node a held it: ran %v (%v)", ran, err)
	}
	// Another name is another lock.
	if ran, err := b.RunExclusive(ctx, "other", func(context.Context) error { return nil }); err != nil || !ran {
		t.Fatalf("a job of another name did not run: %v (%v)", ran, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ran, err := b.RunExclusive(ctx, "retention", func(context.Context) error { ranB = true; return nil }); err != nil || !ran || !ranB {
		t.Fatalf("node b did not run the job once node a was done: %v (%v)", ran, err)
	}
}

// On SQLite (one node per database file) the job always runs.
func TestRunExclusiveSQLite(t *testing.T) {
	s := storetest.Open(t, storetest.Backends()[0])
	ran, err := s.RunExclusive(context.Background(), "retention", func(context.Context) error { return nil })
	if err != nil || !ran {
		t.Fatalf("ran %v (%v)", ran, err)
	}
}
