package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// A dead digest batch that an operator retries is resent with exactly the
// content of its first try: uploads that arrived meanwhile get a mail of
// their own instead of being folded in under the old Message-ID.
func TestRetriedDigestKeepsItsContent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := mailPartner(t, s, "acme")
		base := time.Now().Add(-time.Hour)
		upload := func(name string, at time.Time) *store.Notification {
			t.Helper()
			n := &store.Notification{PartnerID: p.ID, Kind: store.NotifyKindUpload, MessageID: name + "@test",
				Payload: `{}`, CreatedAt: at, NextAt: at}
			if err := s.InsertNotification(ctx, n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		claim := func(now time.Time) []store.Notification {
			t.Helper()
			got, err := s.ClaimNotifications(ctx, store.ClaimOptions{Now: now, Lease: time.Minute, Digest: 10 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		batch := func(id string) []string { t.Helper(); return batchIDs(t, s, id) }
		sorted := func(ids ...string) []string { slices.Sort(ids); return ids }

		a := upload("a", base)
		b := upload("b", base.Add(time.Minute))
		got := claim(base.Add(2 * time.Minute))
		if len(got) != 1 || got[0].ID != a.ID {
			t.Fatalf("first claim: %+v", got)
		}
		if ids := batch(a.ID); !slices.Equal(ids, sorted(a.ID, b.ID)) {
			t.Fatalf("first batch %v, want a and b", ids)
		}
		if err := s.SettleNotification(ctx, a.ID, got[0].Token, store.Settlement{Status: store.NotifyDead, LastError: "relay down"}); err != nil {
			t.Fatal(err)
		}

		// New uploads within the digest window of a, then the retry.
		c := upload("c", base.Add(3*time.Minute))
		d := upload("d", base.Add(4*time.Minute))
		if _, err := s.RetryNotification(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		got = claim(time.Now())
		heads := map[string]store.Notification{}
		for _, n := range got {
			heads[n.ID] = n
		}
		if _, ok := heads[a.ID]; !ok {
			t.Fatalf("retry not claimed: %+v", got)
		}
		if ids := batch(a.ID); !slices.Equal(ids, sorted(a.ID, b.ID)) {
			t.Fatalf("retried batch %v changed content, want a and b only", ids)
		}
		// c and d form a digest of their own.
		if _, ok := heads[c.ID]; !ok || len(got) != 2 {
			t.Fatalf("new uploads not claimed as their own batch: %+v", got)
		}
		if ids := batch(c.ID); !slices.Equal(ids, sorted(c.ID, d.ID)) {
			t.Fatalf("new batch %v, want c and d", ids)
		}

		// A retried dead single upload is not folded into a newer digest.
		for _, n := range got {
			if err := s.SettleNotification(ctx, n.ID, n.Token, store.Settlement{Status: store.NotifyDead}); err != nil {
				t.Fatal(err)
			}
		}
		e := upload("e", base.Add(2*time.Minute)) // older than c: claimed first
		if _, err := s.RetryNotification(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		got = claim(time.Now())
		if ids := batch(e.ID); !slices.Equal(ids, []string{e.ID}) {
			t.Fatalf("new upload folded a retried batch: %v", ids)
		}
		if ids := batch(c.ID); !slices.Equal(ids, sorted(c.ID, d.ID)) {
			t.Fatalf("retried batch c: %v", ids)
		}
		if len(got) != 2 {
			t.Fatalf("third claim: %+v", got)
		}
	})
}

// A claim ends its transaction after the batch in progress when another
// transaction waits for SQLite's writer (an upload's reservation waits
// before its 226), and the next claim takes the rest.
func TestClaimYieldsTheWriter(t *testing.T) {
	s := storetest.Open(t, storetest.Backends()[0]) // the writer queue is SQLite's
	ctx := context.Background()
	due := time.Now().Add(-time.Minute)
	for _, slug := range []string{"p1", "p2", "p3", "p4"} {
		p := mailPartner(t, s, slug)
		n := &store.Notification{PartnerID: p.ID, Kind: store.NotifyKindUpload, MessageID: slug + "@test",
			Payload: `{}`, CreatedAt: due, NextAt: due}
		if err := s.InsertNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	fg := make(chan error, 1)
	started := false
	o := store.WithBetweenHeads(store.ClaimOptions{Now: time.Now(), Lease: time.Minute}, func() {
		if started {
			return
		}
		started = true
		// While the claim holds the writer, a transaction asks for it.
		go func() { fg <- s.Tx(ctx, func(*store.Store) error { return nil }) }()
		for deadline := time.Now().Add(10 * time.Second); !s.WritersWaiting(); {
			if time.Now().After(deadline) {
				t.Error("the other transaction never waited")
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	got, err := s.ClaimNotifications(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("claimed %d batches with a transaction waiting, want 1 (then yield)", len(got))
	}
	if err := <-fg; err != nil {
		t.Fatal(err)
	}
	rest, err := s.ClaimNotifications(ctx, store.ClaimOptions{Now: time.Now(), Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 3 {
		t.Fatalf("the next claim took %d batches, want the other 3", len(rest))
	}
	for _, n := range rest {
		if n.ID == got[0].ID {
			t.Fatalf("batch %s claimed twice", n.ID)
		}
	}
}

// InsertNotification writes its row with a hand-written INSERT: every
// stored field of Notification, set to a value of its own, must come back
// as it went in. A field added to Notification and not to the INSERT fails
// here.
func TestInsertNotificationKeepsEveryField(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := mailPartner(t, s, "acme")
		var in store.Notification
		v := reflect.ValueOf(&in).Elem()
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			switch f.Kind() {
			case reflect.String:
				f.SetString(fmt.Sprintf("%s-%d", sf.Name, i))
			case reflect.Int:
				f.SetInt(int64(i))
			case reflect.Bool:
				f.SetBool(true)
			}
		}
		at := func(s int) time.Time { return time.Date(2026, 12, 7, 3, 0, s, 123456000, time.UTC) }
		mailbox, relayed, sent := at(1), at(2), at(3)
		in.ID, in.BatchID, in.PartnerID, in.Status, in.Payload = store.NewID(), "", p.ID, store.NotifyPending, `{"n":1}`
		in.NextAt, in.CreatedAt, in.MailboxAt, in.RelayedAt, in.SentAt = at(4), at(5), &mailbox, &relayed, &sent
		in.BatchID = in.ID
		if err := s.InsertNotification(ctx, &in); err != nil {
			t.Fatal(err)
		}
		rows, err := s.NotificationBatch(ctx, in.ID)
		if err != nil || len(rows) != 1 {
			t.Fatalf("read back: %v, %d rows", err, len(rows))
		}
		out := rows[0]
		ov := reflect.ValueOf(&out).Elem()
		for i := range v.NumField() {
			name := v.Type().Field(i).Name
			want, got := v.Field(i).Interface(), ov.Field(i).Interface()
			switch w := want.(type) {
			case time.Time:
				if !w.Equal(got.(time.Time)) {
					t.Errorf("%s: stored %v, want %v", name, got, w)
				}
			case *time.Time:
				if g := got.(*time.Time); g == nil || !w.Equal(*g) {
					t.Errorf("%s: stored %v, want %v", name, g, *w)
				}
			default:
				if !reflect.DeepEqual(want, got) {
					t.Errorf("%s: stored %v, want %v", name, got, want)
				}
			}
		}
	})
}

// BenchmarkInsertNotification writes alerts' outbox rows with
// InsertNotification, beside gorm's Create (how they were written before)
// in the same run, on each backend: 32 rows per transaction, as the audit
// writer's finish batch writes them. ns/row is per row.
func BenchmarkInsertNotification(b *testing.B) {
	const batch = 32
	for _, be := range storetest.Backends() {
		for _, w := range []struct {
			name   string
			insert func(*store.Store, context.Context, *store.Notification) error
		}{
			{"InsertNotification", (*store.Store).InsertNotification},
			{"reference=gorm-Create", (*store.Store).InsertNotificationWithGorm},
		} {
			b.Run(be.Name+"/"+w.name, func(b *testing.B) {
				s := storetest.Open(b, be)
				ctx := context.Background()
				p := mailPartner(b, s, "acme")
				for b.Loop() {
					err := s.Tx(ctx, func(tx *store.Store) error {
						for range batch {
							now := time.Now().UTC()
							n := &store.Notification{ID: store.NewID(), PartnerID: p.ID, Kind: store.NotifyKindUpload,
								Status: store.NotifyPending, Payload: `{"path":"/in/report.csv"}`, NextAt: now, CreatedAt: now}
							n.BatchID, n.MessageID = n.ID, n.ID+"@test"
							if err := w.insert(tx, ctx, n); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/row")
			})
		}
	}
}

// The hot statements (prepared once on SQLite, store/stmts.go) answer as
// gorm's path does: a duplicate key is ErrConflict, and a row written in
// a transaction that fails is gone with it, on both backends and whether
// the statement was first run inside a transaction or outside one.
func TestHotStatementsInAndOutOfTransactions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := mailPartner(t, s, "acme")
		note := func() *store.Notification {
			return &store.Notification{PartnerID: p.ID, Kind: store.NotifyKindUpload, Payload: `{"n":1}`,
				MessageID: "<" + store.NewID() + "@ferry.test>"}
		}
		boom := errors.New("boom")
		var inTx string
		err := s.Tx(ctx, func(tx *store.Store) error {
			n := note()
			if err := tx.InsertNotification(ctx, n); err != nil {
				return err
			}
			inTx = n.ID
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("transaction: %v, want boom", err)
		}
		if _, err := s.NotificationByID(ctx, inTx); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("row of the rolled back transaction: %v, want ErrNotFound", err)
		}
		first := note()
		if err := s.InsertNotification(ctx, first); err != nil {
			t.Fatal(err)
		}
		again := note()
		again.ID = first.ID
		if err := s.InsertNotification(ctx, again); !errors.Is(err, store.ErrConflict) {
			t.Errorf("same ID again: %v, want ErrConflict", err)
		}
		err = s.Tx(ctx, func(tx *store.Store) error {
			again := note()
			again.ID = first.ID
			return tx.InsertNotification(ctx, again)
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("same ID again in a transaction: %v, want ErrConflict", err)
		}
		if _, err := s.NotificationByID(ctx, first.ID); err != nil {
			t.Errorf("first row: %v", err)
		}
	})
}

// A digest folds at most DigestMax uploads, the oldest first; the rest
// wait for a mail of their own, in the next claim.
func TestDigestFoldsAtMostDigestMax(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := mailPartner(t, s, "acme")
		ids := pendingUploads(t, s, p.ID, 7, time.Second) // oldest first
		claim := func() []store.Notification {
			t.Helper()
			got, err := s.ClaimNotifications(ctx, store.ClaimOptions{Now: time.Now(), Lease: time.Minute,
				Digest: 10 * time.Minute, DigestMax: 3, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		batch := func(id string) []string { t.Helper(); return batchIDs(t, s, id) }
		for i, want := range [][]string{ids[0:3], ids[3:6], ids[6:7]} {
			got := claim()
			if len(got) != 1 || got[0].ID != want[0] {
				t.Fatalf("claim %d: %d heads (%v), want the head %s", i, len(got), got, want[0])
			}
			if b := batch(got[0].ID); !slices.Equal(b, want) {
				t.Fatalf("claim %d: batch %v, want %v", i, b, want)
			}
		}
	})
}

// A digest folds at most DigestBytes of payloads (rows of uploads finished
// together list many uploads each), the oldest first.
func TestDigestFoldsAtMostDigestBytes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := mailPartner(t, s, "acme")
		base := time.Now().Add(-time.Hour)
		var ids []string
		for i := range 7 {
			at := base.Add(time.Duration(i) * time.Second)
			payload := fmt.Sprintf(`{"pad":"%s"}`, strings.Repeat("x", 600-len(`{"pad":""}`))) // 600 bytes
			r := &store.Notification{PartnerID: p.ID, Kind: store.NotifyKindUpload, MessageID: fmt.Sprintf("b%d@test", i),
				Payload: payload, CreatedAt: at, NextAt: at}
			if err := s.InsertNotification(ctx, r); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		// 2,000 bytes: the head and two more rows of 600.
		for i, want := range [][]string{ids[0:3], ids[3:6], ids[6:7]} {
			got, err := s.ClaimNotifications(ctx, store.ClaimOptions{Now: time.Now(), Lease: time.Minute,
				Digest: 10 * time.Minute, DigestBytes: 2000, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].ID != want[0] {
				t.Fatalf("claim %d: %d heads (%v), want the head %s", i, len(got), got, want[0])
			}
			if b := batchIDs(t, s, got[0].ID); !slices.Equal(b, want) {
				t.Fatalf("claim %d: batch %v, want %v", i, b, want)
			}
		}
	})
}

// batchIDs lists the IDs of the rows of the batch headed by id, sorted.
func batchIDs(t *testing.T, s *store.Store, id string) []string {
	t.Helper()
	rows, err := s.NotificationBatch(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

// A digest of more uploads than one transaction folds is folded whole, in
// transactions of its own after the claim's: another transaction (an
// upload's reservation) gets SQLite's writer between them, instead of
// waiting for the whole fold.
func TestDigestFoldTakesTurns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := mailPartner(t, s, "acme")
		n := 2*store.FoldChunk + 45 // the claim's chunk, then two more
		ids := pendingUploads(t, s, p.ID, n, time.Millisecond)
		turns := 0
		o := store.WithBetweenFolds(store.ClaimOptions{Now: time.Now(), Lease: time.Minute, Digest: time.Hour}, func() {
			turns++
			// Outside the fold's transactions: a write gets its turn now.
			done := make(chan error, 1)
			go func() { done <- s.Tx(ctx, func(*store.Store) error { return nil }) }()
			select {
			case err := <-done:
				if err != nil {
					t.Error(err)
				}
			case <-time.After(5 * time.Second):
				t.Error("a transaction waited for the whole fold")
			}
		})
		got, err := s.ClaimNotifications(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != ids[0] {
			t.Fatalf("claimed %d heads (%v), want the oldest upload's", len(got), got)
		}
		if turns != 2 {
			t.Errorf("the fold took %d turns after the claim, want 2", turns)
		}
		slices.Sort(ids)
		if b := batchIDs(t, s, got[0].ID); !slices.Equal(b, ids) {
			t.Fatalf("the digest holds %d of the %d uploads", len(b), len(ids))
		}
		// Every row of the batch is under the claim: its settlement takes
		// them all.
		if err := s.SettleNotification(ctx, got[0].ID, got[0].Token, store.Settlement{Status: store.NotifySent}); err != nil {
			t.Fatal(err)
		}
		sent, err := s.ListNotifications(ctx, store.NotificationFilter{Status: store.NotifySent})
		if err != nil {
			t.Fatal(err)
		}
		if len(sent) != n {
			t.Fatalf("%d rows sent after the settlement, want %d", len(sent), n)
		}
	})
}

// pendingUploads queues n upload alerts of a partner, due an hour ago and
// step apart, and returns their IDs, oldest first.
func pendingUploads(t *testing.T, s *store.Store, partnerID string, n int, step time.Duration) []string {
	t.Helper()
	base := time.Now().Add(-time.Hour)
	var ids []string
	for i := range n {
		at := base.Add(time.Duration(i) * step)
		r := &store.Notification{PartnerID: partnerID, Kind: store.NotifyKindUpload, MessageID: fmt.Sprintf("u%d@test", i),
			Payload: `{}`, CreatedAt: at, NextAt: at}
		if err := s.InsertNotification(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	return ids
}
