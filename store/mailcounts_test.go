package store_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

// The folder counts each folder row keeps (messages, bytes, unseen) equal
// what counting the messages gives, after deliveries, flag changes (also
// concurrent ones on the same messages), copies, moves, expunges and a
// folder's deletion.
func TestMailFolderCountsKept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := mailPartner(t, s, "acme")
		check := func(step string) {
			t.Helper()
			kept, err := s.MailFolderStats(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			counted, err := s.MailFolderStatsCounted(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(kept, counted) {
				t.Fatalf("after %s: kept %+v, counted %+v", step, kept, counted)
			}
		}
		inbox, _ := s.EnsureMailFolder(ctx, p.ID, store.MailInbox)
		insertMail(t, s, inbox, 5)
		seen := []store.MailMessage{{PartnerID: p.ID, FolderID: inbox.ID, Size: 7, Flags: `\Seen`, InternalDate: time.Now()}}
		if err := s.InsertMailMessages(ctx, store.MailBlob{Key: store.NewID(), Size: 7}, seen); err != nil {
			t.Fatal(err)
		}
		check("delivery")
		if st, _ := s.MailFolderStats(ctx, p.ID); st[inbox.ID].Messages != 6 || st[inbox.ID].Unseen != 5 || st[inbox.ID].Bytes != 57 {
			t.Fatalf("stats %+v", st[inbox.ID])
		}
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				for j := range 10 {
					op := store.FlagsAdd
					if (i+j)%2 == 1 {
						op = store.FlagsRemove
					}
					if _, err := s.UpdateMailFlags(ctx, inbox.ID, []int64{1, 2, 3}, op, []string{`\Seen`}); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		check("concurrent flag changes")
		if _, err := s.UpdateMailFlags(ctx, inbox.ID, []int64{4, 5}, store.FlagsSet, []string{`\Seen`, `\Deleted`}); err != nil {
			t.Fatal(err)
		}
		check("set")
		arch, _ := s.CreateMailFolder(ctx, p.ID, "Archive", true)
		if _, _, err := s.CopyMailMessages(ctx, inbox.ID, []int64{1, 4, 6}, arch.ID, false); err != nil {
			t.Fatal(err)
		}
		check("copy")
		if _, _, err := s.CopyMailMessages(ctx, inbox.ID, []int64{2}, arch.ID, true); err != nil {
			t.Fatal(err)
		}
		check("move")
		if _, _, err := s.DeleteMailMessages(ctx, inbox.ID, nil, true); err != nil {
			t.Fatal(err)
		}
		check("expunge")
		if _, err := s.DeleteMailFolder(ctx, arch.ID); err != nil {
			t.Fatal(err)
		}
		check("folder deleted")
	})
}
