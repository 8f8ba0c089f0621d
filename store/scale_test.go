package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// IDFloor sorts below every ID made at or after its time and above every
// ID made a millisecond or more before it.
func TestIDFloor(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	floor := store.IDFloor(at)
	for _, c := range []struct {
		id    string
		above bool
	}{{store.NewIDAt(at), true}, {store.NewIDAt(at.Add(time.Hour)), true}, {store.NewID(), true},
		{store.NewIDAt(at.Add(-time.Millisecond)), false}, {store.NewIDAt(at.Add(-24 * time.Hour)), false}} {
		if (c.id >= floor) != c.above {
			t.Errorf("%s >= %s is %v", c.id, floor, !c.above)
		}
	}
}

// The dashboard's counts per hour come from the database, grouped by the
// hour the operation started in; a since filter keeps the older rows out.
func TestTransfersPerHour(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		h0 := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
		var rows []*store.Transfer
		add := func(at time.Time, op, status string, bytes int64) {
			rows = append(rows, &store.Transfer{ID: store.NewIDAt(at), Operation: op, Status: status, Protocol: "ftp", Bytes: bytes, StartedAt: at})
		}
		add(h0.Add(5*time.Minute), store.OpUpload, store.StatusOK, 10)
		add(h0.Add(50*time.Minute), store.OpUpload, store.StatusOK, 20)
		add(h0.Add(2*time.Hour+time.Minute), store.OpUpload, store.StatusOK, 5)
		add(h0.Add(2*time.Hour+2*time.Minute), store.OpUpload, store.StatusFailed, 7)
		add(h0.Add(2*time.Hour+3*time.Minute), store.OpDownload, store.StatusOK, 9)
		add(h0.Add(-2*time.Hour), store.OpUpload, store.StatusOK, 100) // before since
		if err := s.RecordTransfers(ctx, rows, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.TransfersPerHour(ctx, store.TransferFilter{Operation: store.OpUpload, Status: store.StatusOK, Since: h0})
		if err != nil {
			t.Fatal(err)
		}
		want := []store.HourCount{{Hour: h0, Count: 2, Bytes: 30}, {Hour: h0.Add(2 * time.Hour), Count: 1, Bytes: 5}}
		if len(got) != len(want) {
			t.Fatalf("hours %+v, want %+v", got, want)
		}
		for i := range want {
			if !got[i].Hour.Equal(want[i].Hour) || got[i].Count != want[i].Count || got[i].Bytes != want[i].Bytes {
				t.Errorf("hour %d: %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}

// A since filter finds every row started at or after it, including rows
// whose ID was made later than their start (a long upload), and the last
// page of a time range ends at the range.
func TestListTransfersSince(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		since := time.Now().UTC().Add(-time.Hour)
		rows := []*store.Transfer{
			{Operation: store.OpUpload, Status: store.StatusOK, Protocol: "ftp", StartedAt: since.Add(time.Second)}, // ID made now
			{ID: store.NewIDAt(since.Add(time.Minute)), Operation: store.OpLogin, Status: store.StatusOK, Protocol: "ftp", StartedAt: since.Add(time.Minute)},
			{ID: store.NewIDAt(since.Add(-time.Minute)), Operation: store.OpLogin, Status: store.StatusOK, Protocol: "ftp", StartedAt: since.Add(-time.Minute)},
			{ID: store.NewIDAt(since.Add(-2 * time.Hour)), Operation: store.OpLogin, Status: store.StatusOK, Protocol: "ftp", StartedAt: since.Add(-2 * time.Hour)},
		}
		if err := s.RecordTransfers(ctx, rows, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListTransfers(ctx, store.TransferFilter{Since: since})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d rows since %s, want 2: %+v", len(got), since, got)
		}
		if n, err := s.CountTransfers(ctx, store.TransferFilter{Since: since}); err != nil || n != 2 {
			t.Fatalf("count %d (%v), want 2", n, err)
		}
	})
}

// A partner's accounts a page at a time, by username.
func TestAccountPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := &store.Partner{Slug: "acme", Name: "Acme"}
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"carl", "anna", "bert"} {
			if err := s.CreateAccount(ctx, &store.Account{PartnerID: p.ID, Username: u, PasswordHash: "x", Permissions: "list", Enabled: true}); err != nil {
				t.Fatal(err)
			}
		}
		first, err := s.AccountPage(ctx, p.ID, "", 2)
		if err != nil || len(first) != 2 || first[0].Username != "anna" || first[1].Username != "bert" {
			t.Fatalf("first page %+v (%v)", first, err)
		}
		next, err := s.AccountPage(ctx, p.ID, "bert", 2)
		if err != nil || len(next) != 1 || next[0].Username != "carl" {
			t.Fatalf("second page %+v (%v)", next, err)
		}
	})
}

// A token is found by ID with one query, and not once revoked.
func TestAPITokenByID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tok := &store.APIToken{Name: "ci", Role: "admin", TokenHash: "abc"}
		if err := s.CreateAPIToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		got, err := s.APITokenByID(ctx, tok.ID)
		if err != nil || got.Name != "ci" {
			t.Fatalf("by ID: %+v (%v)", got, err)
		}
		if err := s.RevokeAPIToken(ctx, tok.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.APITokenByID(ctx, tok.ID); err == nil {
			t.Fatal("a revoked token was found")
		}
	})
}

// path_prefix matches the prefix exactly (case-sensitive, LIKE's
// wildcards taken literally) on both databases; on SQLite it is also a
// range of the path index.
func TestListTransfersPathPrefix(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var rows []*store.Transfer
		for _, p := range []string{"/in/a", "/in/b/c", "/In/d", "/inbox", "/in_x/e", "/in%/f"} {
			rows = append(rows, &store.Transfer{Operation: store.OpUpload, Status: store.StatusOK, Protocol: "ftp", Path: p})
		}
		if err := s.RecordTransfers(ctx, rows, nil); err != nil {
			t.Fatal(err)
		}
		for prefix, want := range map[string]int{"/in/": 2, "/in": 5, "/In/": 1, "/in_": 1, "/in%": 1, "/zz": 0} {
			got, err := s.ListTransfers(ctx, store.TransferFilter{PathPrefix: prefix})
			if err != nil || len(got) != want {
				t.Errorf("prefix %q: %d rows (%v), want %d", prefix, len(got), err, want)
			}
		}
	})
}
