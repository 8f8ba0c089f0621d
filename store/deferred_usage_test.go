package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// An upload of a partner without a quota, begun with DeferUsage, writes no
// usage before its finish: the counters take it when the upload is
// finished, once, whichever way it is finished (the background writer's
// batch, or FinishUpload as recovery runs it); an abort gives back nothing
// it did not take. A partner with a quota is reserved at once, as before,
// and its quota counts the uploads still unreserved.
func TestDeferredUploadUsage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		// Usage from before, so that a refund taken by mistake shows.
		if err := s.AddUsage(ctx, p.ID, 10_000, 10); err != nil {
			t.Fatal(err)
		}
		used := func(wantBytes, wantFiles int64, when string) {
			t.Helper()
			u, err := s.PartnerUsage(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if u.UsedBytes != wantBytes || u.UsedFiles != wantFiles {
				t.Fatalf("%s: usage %d bytes, %d files; want %d, %d", when, u.UsedBytes, u.UsedFiles, wantBytes, wantFiles)
			}
		}
		n := 0
		begin := func(size int64) *store.Transfer {
			t.Helper()
			n++
			r := &store.Transfer{PartnerID: &p.ID, Username: "alice", Protocol: "ftp", Operation: store.OpUpload,
				Path: "/in/f" + string(rune('a'+n)), Bytes: size, FileSize: size, UsageBytes: size, UsageFiles: 1,
				StartedAt: time.Now(), StagingPath: ".ferry-partial/x", DeferUsage: true}
			if err := s.BeginUpload(ctx, r); err != nil {
				t.Fatalf("begin upload %d: %v", n, err)
			}
			return r
		}

		// Finished by the background writer: added in its batch.
		w := &store.AuditWriter{Store: s, Linger: time.Hour}
		w.Start()
		a := begin(100)
		if !a.ApplyUsage || a.Reserved == nil || a.Reserved.QuotaBytes != 0 {
			t.Fatalf("no quota: ApplyUsage %v, Reserved %+v; want the usage left for the finish", a.ApplyUsage, a.Reserved)
		}
		used(10_000, 10, "begun without a quota")
		w.Finish(a, time.Now(), nil)
		if err := w.WaitUsage(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		used(10_100, 11, "finished by the writer")

		// Finished by recovery: FinishUpload adds it from the intent.
		b := begin(200)
		used(10_100, 11, "begun")
		if err := s.FinishUpload(ctx, b.ID, time.Now(), "", nil); err != nil {
			t.Fatal(err)
		}
		used(10_300, 12, "finished by FinishUpload")
		if err := s.FinishUpload(ctx, b.ID, time.Now(), "", nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second finish: %v, want ErrNotFound", err)
		}
		used(10_300, 12, "finished twice")

		// Aborted: nothing was taken, nothing is given back.
		c := begin(400)
		if err := s.AbortUpload(ctx, c.ID, "rename failed"); err != nil {
			t.Fatal(err)
		}
		used(10_300, 12, "aborted")

		// A quota set while an upload is unreserved: that upload counts
		// against it, and the next upload is reserved at once.
		d := begin(500)
		p.QuotaBytes = 11_000
		if err := s.UpdatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		// 10,300 counted + 500 pending + 300 > 11,000.
		if err := s.BeginUpload(ctx, &store.Transfer{PartnerID: &p.ID, Protocol: "ftp", Operation: store.OpUpload,
			Path: "/in/over", Bytes: 300, FileSize: 300, UsageBytes: 300, UsageFiles: 1, StartedAt: time.Now(),
			DeferUsage: true}); !errors.Is(err, store.ErrQuotaExceeded) {
			t.Fatalf("upload past the quota with an unreserved upload pending: %v, want ErrQuotaExceeded", err)
		}
		e := begin(150)
		if e.ApplyUsage || e.Reserved == nil || e.Reserved.QuotaBytes != 11_000 || e.Reserved.UsedBytes != 10_450 {
			t.Fatalf("with a quota: ApplyUsage %v, Reserved %+v; want reserved at once (10,450 bytes)", e.ApplyUsage, e.Reserved)
		}
		used(10_450, 13, "reserved with a quota")
		w.Finish(d, time.Now(), nil)
		w.Finish(e, time.Now(), nil)
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		used(10_950, 14, "both finished")
		if rows, err := s.CommittingUploads(ctx); err != nil || len(rows) != 0 {
			t.Fatalf("committing after the finishes: %d (%v)", len(rows), err)
		}
	})
}
