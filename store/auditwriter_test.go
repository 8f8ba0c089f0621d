package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// Rows from many goroutines all land, in batches, and Close writes what is
// still queued; a row that cannot be written (a partner that does not
// exist) costs only itself; after Close, Add writes at once.
func TestAuditWriter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		w := &store.AuditWriter{Store: s, Queue: 16} // small: senders wait for room
		w.Start()
		const goroutines, each = 8, 200
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					w.Add(&store.Transfer{Protocol: "ftp", Operation: store.OpDownload, Status: store.StatusOK,
						Path: fmt.Sprintf("/g%d/f%d", g, i), Bytes: 1})
				}
			}()
		}
		// One row the database refuses, amid the others.
		w.Add(&store.Transfer{Protocol: "ftp", Operation: store.OpDownload, Status: store.StatusOK,
			PartnerID: store.StrPtr("no-such-partner"), Path: "/refused"})
		wg.Wait()
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := s.CountTransfers(ctx, store.TransferFilter{Operation: store.OpDownload})
		if err != nil || n != goroutines*each {
			t.Fatalf("%d rows written (%v), want %d", n, err, goroutines*each)
		}
		w.Add(&store.Transfer{Protocol: "ftp", Operation: store.OpLogin, Status: store.StatusOK})
		if n, err := s.CountTransfers(ctx, store.TransferFilter{Operation: store.OpLogin}); err != nil || n != 1 {
			t.Fatalf("a row added after Close: %d rows (%v)", n, err)
		}
		// Rows keep the order they were added in (IDs are time-ordered).
		rows, err := s.ListTransfers(ctx, store.TransferFilter{Operation: store.OpDownload, PathPrefix: "/g3/", Limit: each})
		if err != nil || len(rows) != each {
			t.Fatalf("rows of one goroutine: %d %v", len(rows), err)
		}
		for i, r := range rows { // newest first
			if want := fmt.Sprintf("/g3/f%d", each-1-i); r.Path != want {
				t.Fatalf("row %d is %s, want %s", i, r.Path, want)
			}
		}
	})
}

// OnWrite runs in the transaction of each batch, after its rows: what it
// writes commits with them. A batch it fails is written row by row, and a
// row it fails alone is still written, without what OnWrite added.
func TestAuditWriterOnWrite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var mu sync.Mutex
		seen := map[string]int{}
		w := &store.AuditWriter{Store: s}
		w.OnWrite = func(ctx context.Context, tx *store.Store, rows []*store.Transfer) error {
			for _, r := range rows {
				// The rows are already in the transaction.
				if _, err := tx.TransferByID(ctx, r.ID); err != nil {
					return fmt.Errorf("row %s not in the transaction: %w", r.Path, err)
				}
				if r.Path == "/bad" {
					return fmt.Errorf("refused %s", r.Path)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rows {
				seen[r.Path]++
			}
			return nil
		}
		w.Start()
		for i := range 50 {
			w.Add(&store.Transfer{Protocol: "ftp", Operation: store.OpDelete, Status: store.StatusOK, Path: fmt.Sprintf("/f%d", i)})
		}
		w.Add(&store.Transfer{Protocol: "ftp", Operation: store.OpDelete, Status: store.StatusOK, Path: "/bad"})
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := s.CountTransfers(ctx, store.TransferFilter{Operation: store.OpDelete})
		if err != nil || n != 51 {
			t.Fatalf("%d rows written (%v), want 51: a row OnWrite refuses is still written", n, err)
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range 50 {
			if p := fmt.Sprintf("/f%d", i); seen[p] != 1 {
				t.Fatalf("OnWrite saw %s %d times, want once", p, seen[p])
			}
		}
		if seen["/bad"] != 0 {
			t.Fatalf("the refused row counted as handled")
		}
	})
}

// A row marked ApplyUsage changes its partner's usage with it; WaitUsage
// returns once the changes queued for the partner are written, without
// waiting out the writer's linger, and at once when none are queued.
func TestAuditWriterWaitUsage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
		other := &store.Partner{Slug: "other", Name: "Other", Enabled: true}
		for _, x := range []*store.Partner{p, other} {
			if err := s.CreatePartner(ctx, x); err != nil {
				t.Fatal(err)
			}
			if err := s.AddUsage(ctx, x.ID, 1000, 10); err != nil {
				t.Fatal(err)
			}
		}
		w := &store.AuditWriter{Store: s, Linger: time.Hour}
		w.Start()
		defer w.Close(ctx)
		waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := w.WaitUsage(waitCtx, p.ID); err != nil {
			t.Fatalf("nothing queued: %v", err)
		}
		for range 3 {
			w.Add(&store.Transfer{Protocol: "ftp", Operation: store.OpDelete, Status: store.StatusOK, Path: "/f",
				PartnerID: store.StrPtr(p.ID), UsageBytes: -100, UsageFiles: -1, ApplyUsage: true})
		}
		start := time.Now()
		if err := w.WaitUsage(waitCtx, p.ID); err != nil {
			t.Fatalf("WaitUsage: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("WaitUsage took %v: it waited for the linger", d)
		}
		u, err := s.PartnerUsage(ctx, p.ID)
		if err != nil || u.UsedBytes != 700 || u.UsedFiles != 7 {
			t.Fatalf("usage %d/%d (%v), want 700/7", u.UsedBytes, u.UsedFiles, err)
		}
		if u, err := s.PartnerUsage(ctx, other.ID); err != nil || u.UsedBytes != 1000 || u.UsedFiles != 10 {
			t.Fatalf("another partner's usage changed: %d/%d (%v)", u.UsedBytes, u.UsedFiles, err)
		}
		if n, err := s.CountTransfers(ctx, store.TransferFilter{Operation: store.OpDelete}); err != nil || n != 3 {
			t.Fatalf("%d rows (%v), want 3", n, err)
		}
	})
}

// Rows that come while a batch is written wait for their own Linger too:
// a steady stream makes one transaction per Linger, not one per
// transaction's time (which wrote the few rows that came during each
// write at once, in transactions of their own).
func TestAuditWriterBatchesSteadyStream(t *testing.T) {
	s := storetest.Open(t, storetest.Backends()[0])
	ctx := context.Background()
	const linger = 40 * time.Millisecond
	var mu sync.Mutex
	var batches []int
	w := &store.AuditWriter{Store: s, Linger: linger,
		OnWrite: func(_ context.Context, _ *store.Store, rows []*store.Transfer) error {
			mu.Lock()
			batches = append(batches, len(rows))
			mu.Unlock()
			time.Sleep(5 * time.Millisecond) // a transaction takes a while
			return nil
		}}
	w.Start()
	start := time.Now()
	const rows = 300
	for i := range rows {
		w.Add(&store.Transfer{Protocol: "ftp", Operation: store.OpDownload, Status: store.StatusOK,
			Path: fmt.Sprintf("/f%d", i), Bytes: 1})
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Each batch's first row came after the one before was taken, and it
	// waited linger: at most one batch per linger, one more for Close.
	if most := int(took/linger) + 2; len(batches) > most {
		t.Fatalf("%d rows over %v in %d transactions, want at most %d (one per %v): %v",
			rows, took.Round(time.Millisecond), len(batches), most, linger, batches)
	}
	if n, err := s.CountTransfers(ctx, store.TransferFilter{Operation: store.OpDownload}); err != nil || n != rows {
		t.Fatalf("%d rows written (%v), want %d", n, err, rows)
	}
}

// A batch of upload finishes yields SQLite's single writer to a
// transaction that comes while it runs (an upload's reservation, which
// its client waits for): that transaction runs after the finish in
// progress, not after the whole batch; every finish is still written, once,
// with OnWrite told of each row once.
func TestAuditWriterYields(t *testing.T) {
	be := storetest.Backends()[0] // the writer queue is SQLite's
	s := storetest.Open(t, be)
	ctx := context.Background()
	p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
	if err := s.CreatePartner(ctx, p); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		events []string
		told   = map[string]int{}
	)
	note := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	w := &store.AuditWriter{Store: s, Linger: time.Hour}
	w.OnWrite = func(_ context.Context, _ *store.Store, rows []*store.Transfer) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rows {
			told[r.ID]++
		}
		return nil
	}
	w.Start()
	const n = 20
	fg := make(chan error, 1)
	var rows []*store.Transfer
	for i := range n {
		row := &store.Transfer{PartnerID: &p.ID, Protocol: "ftp", Operation: store.OpUpload, Path: fmt.Sprintf("/up%d", i),
			Bytes: 1, FileSize: 1, UsageBytes: 1, UsageFiles: 1, StartedAt: time.Now()}
		if err := s.BeginUpload(ctx, row); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	for i, row := range rows {
		w.Finish(row, time.Now(), func(tx *store.Store) error {
			note(fmt.Sprintf("finish %d", i))
			if i != 0 {
				return nil
			}
			// While the batch holds the writer, a transaction asks for it.
			go func() {
				fg <- s.Tx(ctx, func(*store.Store) error { note("foreground"); return nil })
			}()
			for deadline := time.Now().Add(10 * time.Second); !s.WritersWaiting(); {
				if time.Now().After(deadline) {
					return fmt.Errorf("the foreground transaction never waited")
				}
				time.Sleep(time.Millisecond)
			}
			return nil
		})
	}
	if err := w.Close(ctx); err != nil { // writes the batch
		t.Fatal(err)
	}
	if err := <-fg; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != n+1 || events[0] != "finish 0" || events[1] != "foreground" {
		t.Fatalf("order: %v, want the foreground transaction right after the first finish", events)
	}
	for _, row := range rows {
		got, err := s.TransferByID(ctx, row.ID)
		if err != nil || got.Status != store.StatusOK {
			t.Fatalf("%s: %+v (%v), want finished", row.Path, got, err)
		}
		if told[row.ID] != 1 {
			t.Fatalf("OnWrite told of %s %d times, want once", row.Path, told[row.ID])
		}
	}
	if left, err := s.CommittingUploads(ctx); err != nil || len(left) != 0 {
		t.Fatalf("%d uploads still committing (%v)", len(left), err)
	}
}
