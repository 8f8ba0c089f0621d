package web

import (
	"context"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// The chart reads the hours older than chartLive from the database once
// and then from its cache; the last hours are read at every request.
func TestUploadHoursCachesPastHours(t *testing.T) {
	st := storetest.Open(t, storetest.Backends()[0])
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Hour).Add(30 * time.Minute)
	s := &Server{Store: st, Now: func() time.Time { return now }}
	record := func(at time.Time, op, status string) {
		t.Helper()
		if err := st.RecordTransfer(ctx, &store.Transfer{ID: store.NewIDAt(at), Operation: op, Status: status, Protocol: "ftp",
			Bytes: 1, StartedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	old := now.Truncate(time.Hour).Add(-5 * time.Hour)
	for range 3 {
		record(old.Add(time.Minute), store.OpUpload, store.StatusOK)
	}
	record(old.Add(time.Minute), store.OpUpload, store.StatusFailed)
	record(old.Add(time.Minute), store.OpDownload, store.StatusOK)
	record(now.Add(-time.Minute), store.OpUpload, store.StatusOK)
	start := now.Truncate(time.Hour).Add(-7*24*time.Hour + time.Hour)
	counts := func() map[time.Time]int64 {
		t.Helper()
		hs, err := s.uploadHours(ctx, start, now)
		if err != nil {
			t.Fatal(err)
		}
		m := map[time.Time]int64{}
		for _, h := range hs {
			m[h.Hour] += h.Count
		}
		return m
	}
	cur := now.Truncate(time.Hour)
	if m := counts(); m[old] != 3 || m[cur] != 1 || len(m) != 2 {
		t.Fatalf("first read: %v", m)
	}
	// A new upload now is counted at once; a row added to an hour that is
	// over is not read again (the cache answers for it).
	record(now.Add(-2*time.Minute), store.OpUpload, store.StatusOK)
	record(old.Add(2*time.Minute), store.OpUpload, store.StatusOK)
	if m := counts(); m[old] != 3 || m[cur] != 2 {
		t.Fatalf("second read: %v", m)
	}
	// Hours later, the hour that was live is read once more and cached.
	now = now.Add(3 * time.Hour)
	start = now.Truncate(time.Hour).Add(-7*24*time.Hour + time.Hour)
	if m := counts(); m[old] != 3 || m[cur] != 2 || len(m) != 2 {
		t.Fatalf("three hours later: %v", m)
	}
}
