package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func TestMailFolderChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := mailPartner(t, s, "acme")
		f, err := s.EnsureMailFolder(ctx, p.ID, store.MailInbox)
		if err != nil {
			t.Fatal(err)
		}
		v0, none, err := s.MailFolderChanges(ctx, f.ID, 0)
		if err != nil || len(none) != 0 || v0.Messages != 0 || v0.UIDValidity != f.UIDValidity || v0.UIDNext != 1 {
			t.Fatalf("empty folder: %+v %v %v", v0, none, err)
		}
		insertMail(t, s, f, 5)
		v1, all, err := s.MailFolderChanges(ctx, f.ID, 0)
		if err != nil || len(all) != 5 || v1.Messages != 5 || v1.UIDNext != 6 || v1.Modseq <= v0.Modseq {
			t.Fatalf("5 messages: %+v %d %v", v1, len(all), err)
		}
		for i, m := range all {
			if m.UID != int64(i+1) || m.Size != 10 || m.BlobKey == "" || m.InternalDate.IsZero() || m.Modseq <= v0.Modseq {
				t.Fatalf("row %d: %+v", i, m)
			}
		}
		if v, same, err := s.MailFolderChanges(ctx, f.ID, v1.Modseq); err != nil || len(same) != 0 || v != v1 {
			t.Fatalf("unchanged: %+v %v %v", v, same, err)
		}

		if _, err := s.UpdateMailFlags(ctx, f.ID, []int64{2}, store.FlagsAdd, []string{`\Flagged`}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.DeleteMailMessages(ctx, f.ID, []int64{4}, false); err != nil {
			t.Fatal(err)
		}
		insertMail(t, s, f, 1)
		v2, changed, err := s.MailFolderChanges(ctx, f.ID, v1.Modseq)
		if err != nil || v2.Messages != 5 || v2.Modseq <= v1.Modseq {
			t.Fatalf("after changes: %+v %v", v2, err)
		}
		if len(changed) != 2 || changed[0].UID != 2 || changed[0].Flags != `\Flagged` || changed[1].UID != 6 {
			t.Fatalf("changed rows: %+v", changed)
		}

		uids, err := s.MailFolderUIDs(ctx, f.ID)
		if err != nil || !slices.Equal(uids, []int64{1, 2, 3, 5, 6}) {
			t.Fatalf("UIDs: %v %v", uids, err)
		}
		// A dense set is read as one range, a sparse one as a list; UIDs
		// that are gone are skipped either way.
		for _, want := range [][]int64{{1, 2, 3, 4, 5, 6}, {2, 5}, {1, 6}, {3}, {1, 6, 40}, {2, 4, 90}} {
			hs, err := s.MailHeaders(ctx, f.ID, want)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, h := range hs {
				if string(h.Header) != "Subject: x\r\n\r\n" {
					t.Fatalf("header of %d: %q", h.UID, h.Header)
				}
				got = append(got, h.UID)
			}
			if exp := slices.DeleteFunc(slices.Clone(want), func(u int64) bool { return !slices.Contains(uids, u) }); !slices.Equal(got, exp) {
				t.Fatalf("MailHeaders(%v) = %v, want %v", want, got, exp)
			}
		}

		if _, err := s.DeleteMailFolder(ctx, f.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.MailFolderChanges(ctx, f.ID, 0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted folder: %v", err)
		}
	})
}
