package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/migrations"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// TestTxWholeOrNothing: a transaction commits whole or leaves nothing, and
// whatever ended one (an error, a panic, a cancelled context, a failed
// COMMIT) leaves the store able to run the next. On SQLite every
// transaction runs on one connection kept for writes; a transaction left
// open on it would block every writer after it.
func TestTxWholeOrNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		create := func(tx *store.Store, slug string) error {
			return tx.CreatePartner(ctx, &store.Partner{Slug: slug, Name: slug, Enabled: true})
		}
		exists := func(slug string) bool {
			t.Helper()
			_, err := s.PartnerBySlug(ctx, slug)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}
		// The store still writes, in and out of a transaction.
		works := func(slug string) {
			t.Helper()
			if err := s.Tx(ctx, func(tx *store.Store) error { return create(tx, slug) }); err != nil {
				t.Fatalf("transaction after the one before: %v", err)
			}
			if err := create(s, slug+"-out"); err != nil {
				t.Fatalf("write outside a transaction: %v", err)
			}
			if !exists(slug) {
				t.Fatalf("%s: committed row missing", slug)
			}
		}

		boom := errors.New("boom")
		err := s.Tx(ctx, func(tx *store.Store) error {
			if err := create(tx, "failed"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || exists("failed") {
			t.Fatalf("failed transaction: err %v, row kept %v", err, exists("failed"))
		}
		works("after-error")

		func() {
			defer func() {
				if r := recover(); r != "panic in a transaction" {
					t.Fatalf("recovered %v", r)
				}
			}()
			_ = s.Tx(ctx, func(tx *store.Store) error {
				if err := create(tx, "panicked"); err != nil {
					return err
				}
				panic("panic in a transaction")
			})
		}()
		if exists("panicked") {
			t.Fatal("row of a transaction that panicked was kept")
		}
		works("after-panic")

		// A nested transaction is a savepoint: its failure undoes only
		// its own rows.
		err = s.Tx(ctx, func(tx *store.Store) error {
			if err := create(tx, "outer"); err != nil {
				return err
			}
			inner := tx.Tx(ctx, func(tx2 *store.Store) error {
				if err := create(tx2, "inner"); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(inner, boom) {
				t.Errorf("inner transaction: %v, want boom", inner)
			}
			return nil
		})
		if err != nil || !exists("outer") || exists("inner") {
			t.Fatalf("nested: err %v, outer kept %v (want true), inner kept %v (want false)", err, exists("outer"), exists("inner"))
		}
		works("after-nested")

		// A context cancelled during the transaction fails the statements
		// after it; nothing is kept.
		cctx, cancel := context.WithCancel(ctx)
		err = s.Tx(cctx, func(tx *store.Store) error {
			if err := tx.CreatePartner(cctx, &store.Partner{Slug: "cancelled", Name: "c", Enabled: true}); err != nil {
				return err
			}
			cancel()
			return tx.CreatePartner(cctx, &store.Partner{Slug: "cancelled-2", Name: "c", Enabled: true})
		})
		if err == nil || exists("cancelled") || exists("cancelled-2") {
			t.Fatalf("cancelled: err %v, rows kept %v %v", err, exists("cancelled"), exists("cancelled-2"))
		}
		if err := s.Tx(cctx, func(*store.Store) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("transaction on a cancelled context: %v, want context.Canceled", err)
		}
		works("after-cancel")

		if s.Dialect() != migrations.SQLite {
			return
		}
		// A COMMIT that fails (a foreign key checked at COMMIT) leaves
		// SQLite's transaction open: it is rolled back.
		err = s.Tx(ctx, func(tx *store.Store) error {
			if err := tx.ExecForTest(ctx, "PRAGMA defer_foreign_keys = ON"); err != nil {
				return err
			}
			if err := create(tx, "commit-failed"); err != nil {
				return err
			}
			return tx.RecordTransfers(ctx, []*store.Transfer{{PartnerID: store.StrPtr(store.NewID()), Username: "x",
				Protocol: "ftp", Operation: store.OpDownload, Path: "/x", Status: store.StatusOK}}, nil)
		})
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "foreign key") {
			t.Fatalf("commit with a broken foreign key: %v, want its error", err)
		}
		if exists("commit-failed") {
			t.Fatal("row of a transaction whose COMMIT failed was kept")
		}
		works("after-commit-failure")
	})
}

// partnerBatch creates its partners at the end of the transaction.
type partnerBatch struct {
	slugs   []string
	flushed int
	fail    error
}

func (b *partnerBatch) Flush(ctx context.Context, tx *store.Store) error {
	b.flushed++
	if b.fail != nil {
		return b.fail
	}
	for _, slug := range b.slugs {
		if err := tx.CreatePartner(ctx, &store.Partner{Slug: slug, Name: slug, Enabled: true}); err != nil {
			return err
		}
	}
	return nil
}

// TestTxBatch: a transaction keeps one Batcher per key, flushes it once
// after the transaction's function, inside the transaction, and a Flush
// that fails rolls the whole transaction back. Outside a transaction there
// is none.
func TestTxBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		type key struct{}
		if b := s.Batch(key{}, func() store.Batcher { return &partnerBatch{} }); b != nil {
			t.Fatalf("a Batcher outside a transaction: %v", b)
		}
		run := func(fail error, slugs ...string) (*partnerBatch, error) {
			var pb *partnerBatch
			err := s.Tx(ctx, func(tx *store.Store) error {
				if err := tx.CreatePartner(ctx, &store.Partner{Slug: "own-" + slugs[0], Name: "own", Enabled: true}); err != nil {
					return err
				}
				for _, slug := range slugs {
					b := tx.Batch(key{}, func() store.Batcher { return &partnerBatch{fail: fail} }).(*partnerBatch)
					if pb != nil && b != pb {
						t.Error("a second Batcher under one key")
					}
					pb = b
					b.slugs = append(b.slugs, slug)
				}
				if pb.flushed != 0 {
					t.Error("flushed before the function returned")
				}
				return nil
			})
			return pb, err
		}
		pb, err := run(nil, "a", "b")
		if err != nil || pb.flushed != 1 {
			t.Fatalf("Tx: %v, flushed %d times", err, pb.flushed)
		}
		for _, slug := range []string{"own-a", "a", "b"} {
			if _, err := s.PartnerBySlug(ctx, slug); err != nil {
				t.Errorf("%s: %v", slug, err)
			}
		}
		boom := errors.New("boom")
		if _, err := run(boom, "c"); !errors.Is(err, boom) {
			t.Fatalf("Tx with a failing Flush: %v", err)
		}
		for _, slug := range []string{"own-c", "c"} {
			if _, err := s.PartnerBySlug(ctx, slug); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s after the failed Flush: %v, want ErrNotFound", slug, err)
			}
		}
	})
}

// What a transaction queues with afterCommit runs once, after the
// outermost commit (when another connection sees its rows), never for a
// transaction or savepoint that rolled back; outside a transaction it runs
// at once.
func TestTxAfterCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var ran []string
		visible := func(slug string) bool {
			_, err := s.PartnerBySlug(ctx, slug)
			return err == nil
		}
		queue := func(tx *store.Store, name, slug string) {
			tx.AfterCommitForTest(func() {
				if slug != "" && !visible(slug) {
					t.Errorf("%s ran before %s was committed", name, slug)
				}
				ran = append(ran, name)
			})
		}
		create := func(tx *store.Store, slug string) error {
			return tx.CreatePartner(ctx, &store.Partner{Slug: slug, Name: slug, Enabled: true})
		}

		queue(s, "outside", "")
		if len(ran) != 1 {
			t.Fatalf("outside a transaction: ran %v", ran)
		}
		ran = nil
		err := s.Tx(ctx, func(tx *store.Store) error {
			if err := create(tx, "outer"); err != nil {
				return err
			}
			queue(tx, "outer", "outer")
			if len(ran) != 0 {
				t.Fatal("ran inside the transaction")
			}
			_ = tx.Tx(ctx, func(in *store.Store) error {
				queue(in, "rolled-back savepoint", "")
				return errors.New("undo the savepoint")
			})
			return tx.Tx(ctx, func(in *store.Store) error {
				if err := create(in, "inner"); err != nil {
					return err
				}
				queue(in, "inner", "inner")
				if len(ran) != 0 {
					t.Fatal("a savepoint's ran before the outer commit")
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(ran, ",") != "outer,inner" {
			t.Fatalf("after the commit ran %v, want outer,inner", ran)
		}
		ran = nil
		_ = s.Tx(ctx, func(tx *store.Store) error {
			queue(tx, "rolled back", "")
			// A savepoint that committed inside it goes with it.
			if err := tx.Tx(ctx, func(in *store.Store) error {
				queue(in, "savepoint of a rolled back transaction", "")
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return errors.New("undo")
		})
		if len(ran) != 0 {
			t.Fatalf("a rolled back transaction's ran: %v", ran)
		}
	})
}
