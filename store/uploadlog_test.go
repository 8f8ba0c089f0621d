package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
)

// openLogged opens (and migrates) the SQLite database at path, with the
// upload log beside it; closed when the test ends unless closed before.
func openLogged(t *testing.T, path string) (*store.Store, int) {
	t.Helper()
	s, err := store.Open(context.Background(), "", store.Options{SQLitePath: path, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	moved, unreadable, err := s.OpenUploadLog(context.Background(), path+"-uploads")
	if err != nil {
		t.Fatal(err)
	}
	if unreadable != 0 {
		t.Fatalf("%d unreadable intents in the upload log", unreadable)
	}
	return s, moved
}

func usage(t *testing.T, s *store.Store, partnerID string) (int64, int64) {
	t.Helper()
	u, err := s.PartnerUsage(context.Background(), partnerID)
	if err != nil {
		t.Fatal(err)
	}
	return u.UsedBytes, u.UsedFiles
}

func transferByID(t *testing.T, s *store.Store, id string) *store.Transfer {
	t.Helper()
	r, err := s.TransferByID(context.Background(), id)
	if err != nil {
		t.Fatalf("row %s: %v", id, err)
	}
	return r
}

// With the upload log, a small upload of a partner without a quota writes
// nothing to the database before its finish: the audit writer's batch
// writes its row done and its usage; an abort writes its failed row and
// no usage; a quota set while such uploads are on their way counts them.
func TestUploadLogFinishAbortQuota(t *testing.T) {
	ctx := context.Background()
	s, _ := openLogged(t, filepath.Join(t.TempDir(), "ferry.db"))
	p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
	if err := s.CreatePartner(ctx, p); err != nil {
		t.Fatal(err)
	}
	n := 0
	begin := func(size int64) *store.Transfer {
		t.Helper()
		n++
		r := &store.Transfer{PartnerID: &p.ID, Username: "alice", Protocol: "ftp", Operation: store.OpUpload,
			Path: "/in/f" + string(rune('a'+n)), Bytes: size, FileSize: size, UsageBytes: size, UsageFiles: 1,
			SHA256: "ab", StartedAt: time.Now(), StagingPath: ".ferry-partial/x", DeferUsage: true}
		if err := s.BeginUpload(ctx, r); err != nil {
			t.Fatalf("begin upload %d: %v", n, err)
		}
		return r
	}
	committing := func(want int, when string) {
		t.Helper()
		rows, err := s.CommittingUploads(ctx)
		if err != nil || len(rows) != want {
			t.Fatalf("%s: %d intents in the database (%v), want %d", when, len(rows), err, want)
		}
	}

	w := &store.AuditWriter{Store: s, Linger: time.Hour}
	w.Start()
	a := begin(100)
	if !a.ApplyUsage || a.Reserved == nil || a.Reserved.QuotaBytes != 0 {
		t.Fatalf("ApplyUsage %v, Reserved %+v; want the usage left for the finish", a.ApplyUsage, a.Reserved)
	}
	committing(0, "begun")
	hooked := false
	w.Finish(a, time.Now(), func(tx *store.Store) error { hooked = true; return nil })
	if err := w.WaitUsage(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if b, f := usage(t, s, p.ID); b != 100 || f != 1 {
		t.Fatalf("usage after the finish: %d bytes, %d files", b, f)
	}
	if r := transferByID(t, s, a.ID); r.Status != store.StatusOK || r.SHA256 != "ab" || r.StagingPath != "" || r.FinishedAt == nil {
		t.Fatalf("finished row: %+v", r)
	}
	if !hooked {
		t.Fatal("the finish's hook did not run")
	}

	// FinishUpload (a caller without an audit writer) writes it too, once.
	g := begin(50)
	if err := s.FinishUpload(ctx, g.ID, time.Now(), "cd", nil); err != nil {
		t.Fatal(err)
	}
	if r := transferByID(t, s, g.ID); r.Status != store.StatusOK || r.SHA256 != "cd" {
		t.Fatalf("row finished by FinishUpload: %+v", r)
	}
	if err := s.FinishUpload(ctx, g.ID, time.Now(), "", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second finish: %v, want ErrNotFound", err)
	}
	if b, f := usage(t, s, p.ID); b != 150 || f != 2 {
		t.Fatalf("usage after FinishUpload: %d bytes, %d files", b, f)
	}

	c := begin(400)
	if err := s.AbortUpload(ctx, c.ID, "rename failed"); err != nil {
		t.Fatal(err)
	}
	if r := transferByID(t, s, c.ID); r.Status != store.StatusFailed || r.Error != "rename failed" {
		t.Fatalf("aborted row: %+v", r)
	}
	if b, f := usage(t, s, p.ID); b != 150 || f != 2 {
		t.Fatalf("usage after the abort: %d bytes, %d files", b, f)
	}

	// A quota set while an upload's intent is in the log: it counts.
	d := begin(500)
	p.QuotaBytes = 1_000
	if err := s.UpdatePartner(ctx, p); err != nil {
		t.Fatal(err)
	}
	// 150 counted + 500 in the log + 400 > 1,000.
	over := &store.Transfer{PartnerID: &p.ID, Protocol: "ftp", Operation: store.OpUpload, Path: "/in/over",
		Bytes: 400, FileSize: 400, UsageBytes: 400, UsageFiles: 1, StartedAt: time.Now(), DeferUsage: true}
	if err := s.BeginUpload(ctx, over); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("upload past the quota with a logged upload on its way: %v, want ErrQuotaExceeded", err)
	}
	e := begin(300) // 150 + 500 + 300 fits, reserved at once: the partner has a quota now
	if e.ApplyUsage || e.Reserved == nil || e.Reserved.UsedBytes != 450 {
		t.Fatalf("with a quota: ApplyUsage %v, Reserved %+v; want reserved at once", e.ApplyUsage, e.Reserved)
	}
	committing(1, "one upload reserved in the database")
	w.Finish(d, time.Now(), nil)
	w.Finish(e, time.Now(), nil)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if b, f := usage(t, s, p.ID); b != 950 || f != 4 {
		t.Fatalf("usage after every finish: %d bytes, %d files; want 950, 4", b, f)
	}
	committing(0, "all finished")
}

// A process that dies with uploads between their publish and their
// finish leaves their intents in the log: the next OpenUploadLog moves
// them into upload_intents, unreserved, for recovery (FinishUpload adds
// their usage then), except one whose row was written; a partner deleted
// meanwhile is cleared from its intent.
func TestUploadLogAfterACrash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ferry.db")
	s, _ := openLogged(t, path)
	p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
	gone := &store.Partner{Slug: "gone", Name: "Gone", Enabled: true}
	for _, p := range []*store.Partner{p, gone} {
		if err := s.CreatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	begin := func(partnerID *string, name string) *store.Transfer {
		t.Helper()
		r := &store.Transfer{PartnerID: partnerID, Username: "alice", Protocol: "ftp", Operation: store.OpUpload,
			Path: name, Bytes: 10, FileSize: 10, UsageBytes: 10, UsageFiles: 1, StartedAt: time.Now(),
			StagingPath: ".ferry-partial/" + name[1:], DeferUsage: true}
		if err := s.BeginUpload(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := begin(&p.ID, "/a")
	b := begin(&gone.ID, "/b")
	c := begin(&p.ID, "/c")
	// c's row was written, the log's mark of it was not: as if the process
	// died between the two.
	row := *c // with its usage, as the writer writes it
	row.Status = store.StatusOK
	if err := s.RecordTransfers(ctx, []*store.Transfer{&row}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePartner(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	// Another process cannot take the log while this one has it.
	if _, _, err := s.OpenUploadLog(ctx, path+"-uploads"); err == nil {
		t.Fatal("a second OpenUploadLog on one store succeeded")
	}
	other, err := store.Open(ctx, "", store.Options{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.OpenUploadLog(ctx, path+"-uploads"); !errors.Is(err, store.ErrUploadLogInUse) {
		t.Fatalf("a second process's OpenUploadLog: %v, want ErrUploadLogInUse", err)
	}
	other.Close()
	s.Close() // the "crash": no finish, the intents stay in the log

	s2, moved := openLogged(t, path)
	if moved != 2 {
		t.Fatalf("moved %d intents from the log, want 2 (a and b)", moved)
	}
	rows, err := s2.CommittingUploads(ctx)
	if err != nil || len(rows) != 2 || rows[0].ID != a.ID || rows[1].ID != b.ID {
		t.Fatalf("intents after the restart: %+v %v", rows, err)
	}
	if rows[0].StagingPath != ".ferry-partial/a" || rows[0].Status != store.StatusCommitting || rows[0].FinishedAt != nil {
		t.Fatalf("intent a: %+v", rows[0])
	}
	if rows[1].PartnerID != nil {
		t.Fatalf("intent of the deleted partner keeps partner %v", *rows[1].PartnerID)
	}
	if err := s2.FinishUpload(ctx, a.ID, time.Now(), "", nil); err != nil {
		t.Fatal(err)
	}
	if b, f := usage(t, s2, p.ID); b != 20 || f != 2 {
		t.Fatalf("usage after recovery finished a: %d bytes, %d files; want 20, 2 (a's, and c's with its row)", b, f)
	}
	if fi, err := os.Stat(path + "-uploads"); err != nil || fi.Size() != 0 {
		t.Fatalf("the log after its intents moved: %v %v", fi, err)
	}
}

// A logged upload whose finish the database refuses (its partner was
// deleted after the upload began), by the audit writer or FinishUpload, is
// parked in upload_intents, where recovery ends it, and leaves the log.
func TestUploadLogParksAFailedFinish(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ferry.db")
	s, _ := openLogged(t, path)
	p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
	if err := s.CreatePartner(ctx, p); err != nil {
		t.Fatal(err)
	}
	r := &store.Transfer{PartnerID: &p.ID, Username: "alice", Protocol: "ftp", Operation: store.OpUpload,
		Path: "/a", Bytes: 10, FileSize: 10, UsageBytes: 10, UsageFiles: 1, StartedAt: time.Now(),
		StagingPath: ".ferry-partial/a", DeferUsage: true}
	if err := s.BeginUpload(ctx, r); err != nil {
		t.Fatal(err)
	}
	r2 := *r
	r2.ID, r2.Path, r2.StagingPath = "", "/b", ".ferry-partial/b"
	if err := s.BeginUpload(ctx, &r2); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePartner(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	w := &store.AuditWriter{Store: s, Linger: time.Hour}
	w.Start()
	w.Finish(r, time.Now(), nil)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// FinishUpload, the same.
	if err := s.FinishUpload(ctx, r2.ID, time.Now(), "", nil); err == nil {
		t.Fatal("FinishUpload of an upload whose partner is gone succeeded")
	}
	rows, err := s.CommittingUploads(ctx)
	if err != nil || len(rows) != 2 || rows[0].ID != r.ID || rows[0].PartnerID != nil || rows[1].ID != r2.ID {
		t.Fatalf("intents after the failed finishes: %+v %v", rows, err)
	}
	if fi, err := os.Stat(path + "-uploads"); err != nil || fi.Size() != 0 {
		t.Fatalf("the log after the intent was parked: %v %v", fi, err)
	}
}

// The server keeps a partner seen without a quota from reading it again
// before every small upload; a quota another process sets (the CLI's
// `ferry partner set`, inside its own transaction) applies to the next
// upload all the same, and so does one set, or a partner deleted, in the
// server's own process.
func TestUploadLogSeesAQuotaSetElsewhere(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ferry.db")
	s, _ := openLogged(t, path)
	cli, err := store.Open(ctx, "", store.Options{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	p := &store.Partner{Slug: "acme", Name: "Acme", Enabled: true}
	if err := s.CreatePartner(ctx, p); err != nil {
		t.Fatal(err)
	}
	n := 0
	begin := func(size int64) (*store.Transfer, error) {
		n++
		r := &store.Transfer{PartnerID: &p.ID, Protocol: "ftp", Operation: store.OpUpload, Path: fmt.Sprintf("/in/f%d", n),
			Bytes: size, FileSize: size, UsageBytes: size, UsageFiles: 1, StartedAt: time.Now(), DeferUsage: true}
		return r, s.BeginUpload(ctx, r)
	}
	for range 3 { // read once, then known without a quota
		if r, err := begin(100); err != nil || !r.ApplyUsage {
			t.Fatalf("upload without a quota: %v, ApplyUsage %v", err, r.ApplyUsage)
		}
	}
	setQuota := func(st *store.Store, q int64) {
		t.Helper()
		if err := st.Tx(ctx, func(tx *store.Store) error {
			cur, err := tx.PartnerByID(ctx, p.ID)
			if err != nil {
				return err
			}
			cur.QuotaBytes = q
			return tx.UpdatePartner(ctx, cur)
		}); err != nil {
			t.Fatal(err)
		}
	}
	// 300 logged on their way + 100 > 350.
	setQuota(cli, 350)
	if _, err := begin(100); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("upload past a quota another process set: %v, want ErrQuotaExceeded", err)
	}
	if r, err := begin(50); err != nil || r.ApplyUsage {
		t.Fatalf("upload within it: %v, ApplyUsage %v; want reserved at once", err, r.ApplyUsage)
	}

	// Removed by the other process, then set again in the server's own.
	setQuota(cli, 0)
	if r, err := begin(100); err != nil || !r.ApplyUsage {
		t.Fatalf("upload after the quota was removed: %v, ApplyUsage %v", err, r.ApplyUsage)
	}
	setQuota(s, 10)
	if _, err := begin(100); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Fatalf("upload past a quota the server set: %v, want ErrQuotaExceeded", err)
	}

	// A transaction that rolled back changed nothing, and marks nothing.
	setQuota(s, 0)
	if _, err := begin(1); err != nil {
		t.Fatal(err)
	}
	marks := func() int64 {
		t.Helper()
		fi, err := os.Stat(path + "-partners")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := marks()
	_ = cli.Tx(ctx, func(tx *store.Store) error {
		cur, err := tx.PartnerByID(ctx, p.ID)
		if err != nil {
			return err
		}
		cur.QuotaBytes = 10
		if err := tx.UpdatePartner(ctx, cur); err != nil {
			return err
		}
		return errors.New("undo")
	})
	if r, err := begin(100); err != nil || !r.ApplyUsage {
		t.Fatalf("upload after a rolled back quota: %v, ApplyUsage %v", err, r.ApplyUsage)
	}
	if after := marks(); after != before {
		t.Fatalf("a rolled back update marked a change: %d bytes, %d before", after, before)
	}

	// A deleted partner is not taken to be there without a quota.
	if err := cli.DeletePartner(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := begin(100); err == nil {
		t.Fatal("an upload of a deleted partner was logged")
	}
}
