package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func mailPartner(t testing.TB, s *store.Store, slug string) *store.Partner {
	t.Helper()
	p := &store.Partner{Slug: slug, Name: slug, Enabled: true}
	if err := s.CreatePartner(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func insertMail(t *testing.T, s *store.Store, f *store.MailFolder, n int) []store.MailMessage {
	t.Helper()
	var out []store.MailMessage
	for range n {
		msgs := []store.MailMessage{{PartnerID: f.PartnerID, FolderID: f.ID, Size: 10, InternalDate: time.Now(),
			Header: []byte("Subject: x\r\n\r\n"), Subject: "x"}}
		if err := s.InsertMailMessages(context.Background(), store.MailBlob{Key: store.NewID(), Size: 10}, msgs); err != nil {
			t.Fatal(err)
		}
		out = append(out, msgs...)
	}
	return out
}

func TestMailFoldersAndUIDs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := mailPartner(t, s, "acme")
		inbox, err := s.EnsureMailFolder(ctx, p.ID, store.MailInbox)
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.EnsureMailFolder(ctx, p.ID, store.MailInbox)
		if err != nil || again.ID != inbox.ID {
			t.Fatalf("EnsureMailFolder twice: %v %v", again, err)
		}
		other, err := s.CreateMailFolder(ctx, p.ID, "Archive", true)
		if err != nil {
			t.Fatal(err)
		}
		if other.UIDValidity <= inbox.UIDValidity {
			t.Fatalf("UIDVALIDITY must come from a growing counter: %d then %d", inbox.UIDValidity, other.UIDValidity)
		}
		if _, err := s.CreateMailFolder(ctx, p.ID, "Archive", true); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate folder: %v", err)
		}

		msgs := insertMail(t, s, inbox, 3)
		if got := []int64{msgs[0].UID, msgs[1].UID, msgs[2].UID}; !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("UIDs %v", got)
		}
		// Deleted UIDs are never reused.
		if removed, _, err := s.DeleteMailMessages(ctx, inbox.ID, []int64{3}, false); err != nil || !slices.Equal(removed, []int64{3}) {
			t.Fatalf("delete: %v %v", removed, err)
		}
		if m := insertMail(t, s, inbox, 1); m[0].UID != 4 {
			t.Fatalf("UID after delete = %d, want 4", m[0].UID)
		}
		f, _ := s.MailFolderByID(ctx, inbox.ID)
		if f.UIDNext != 5 {
			t.Fatalf("UIDNEXT %d", f.UIDNext)
		}

		// Concurrent deliveries get distinct, gapless UIDs.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { insertMail(t, s, inbox, 2) })
		}
		wg.Wait()
		uids, err := s.MailUIDs(ctx, inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []int64{1, 2, 4}
		for u := int64(5); u <= 20; u++ {
			want = append(want, u)
		}
		if !slices.Equal(uids, want) {
			t.Fatalf("UIDs %v, want %v", uids, want)
		}
	})
}

func TestMailFlagsCopyRename(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := mailPartner(t, s, "acme")
		inbox, _ := s.EnsureMailFolder(ctx, p.ID, store.MailInbox)
		insertMail(t, s, inbox, 3)
		before, _ := s.MailFolderByID(ctx, inbox.ID)

		got, err := s.UpdateMailFlags(ctx, inbox.ID, []int64{1, 2}, store.FlagsAdd, []string{`\Seen`, `\Flagged`})
		if err != nil || len(got) != 2 || got[0].Flags != `\Flagged \Seen` {
			t.Fatalf("add flags: %+v %v", got, err)
		}
		changes, _ := s.MailChanges(ctx, inbox.ID, before.Modseq)
		if len(changes) != 2 || changes[0].UID != 1 || changes[1].UID != 2 {
			t.Fatalf("changes since %d: %+v", before.Modseq, changes)
		}
		got, _ = s.UpdateMailFlags(ctx, inbox.ID, []int64{2}, store.FlagsRemove, []string{`\seen`})
		if got[0].Flags != `\Flagged` {
			t.Fatalf("remove: %q", got[0].Flags)
		}
		_, _ = s.UpdateMailFlags(ctx, inbox.ID, []int64{3}, store.FlagsSet, []string{`\Deleted`})
		removed, blobs, err := s.DeleteMailMessages(ctx, inbox.ID, nil, true)
		if err != nil || !slices.Equal(removed, []int64{3}) || len(blobs) != 1 {
			t.Fatalf("expunge: %v %v %v", removed, blobs, err)
		}

		arch, _ := s.CreateMailFolder(ctx, p.ID, "Archive", true)
		sub, _ := s.CreateMailFolder(ctx, p.ID, "Archive/2024", true)
		src, dst, err := s.CopyMailMessages(ctx, inbox.ID, []int64{1, 2}, arch.ID, false)
		if err != nil || !slices.Equal(src, []int64{1, 2}) || !slices.Equal(dst, []int64{1, 2}) {
			t.Fatalf("copy: %v %v %v", src, dst, err)
		}
		src, dst, err = s.CopyMailMessages(ctx, inbox.ID, []int64{2}, sub.ID, true)
		if err != nil || !slices.Equal(src, []int64{2}) || !slices.Equal(dst, []int64{1}) {
			t.Fatalf("move: %v %v %v", src, dst, err)
		}
		if uids, _ := s.MailUIDs(ctx, inbox.ID); !slices.Equal(uids, []int64{1}) {
			t.Fatalf("inbox after move: %v", uids)
		}
		// The blob of message 1 is shared by INBOX and Archive: not collectable.
		m1, _ := s.MailMessagesByUID(ctx, inbox.ID, []int64{1}, true)
		if gone, err := s.DeleteMailBlob(ctx, m1[0].BlobKey); err != nil || gone {
			t.Fatalf("shared blob deleted: %v %v", gone, err)
		}
		if string(m1[0].Header) != "Subject: x\r\n\r\n" {
			t.Fatalf("header %q", m1[0].Header)
		}

		if err := s.RenameMailFolder(ctx, p.ID, "Archive", "Old", "/"); err != nil {
			t.Fatal(err)
		}
		fs, _ := s.MailFolders(ctx, p.ID)
		var names []string
		for _, f := range fs {
			names = append(names, f.Name)
		}
		if !slices.Equal(names, []string{"INBOX", "Old", "Old/2024"}) {
			t.Fatalf("after rename: %v", names)
		}
		renamed, _ := s.MailFolder(ctx, p.ID, "Old")
		if renamed.UIDValidity != arch.UIDValidity {
			t.Fatal("rename changed UIDVALIDITY")
		}
		stats, err := s.MailFolderStats(ctx, p.ID)
		if err != nil || stats[inbox.ID].Messages != 1 || stats[inbox.ID].Unseen != 0 || stats[arch.ID].Bytes != 20 {
			t.Fatalf("stats %+v %v", stats, err)
		}
		page, err := s.MailPage(ctx, arch.ID, 0, 1)
		if err != nil || len(page) != 1 || page[0].UID != 2 {
			t.Fatalf("page %+v %v", page, err)
		}
		page, _ = s.MailPage(ctx, arch.ID, 2, 10)
		if len(page) != 1 || page[0].UID != 1 {
			t.Fatalf("page 2 %+v", page)
		}
		if _, err := s.DeleteMailFolder(ctx, arch.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMailLock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p := mailPartner(t, s, "acme")
		inbox, _ := s.EnsureMailFolder(ctx, p.ID, store.MailInbox)
		if err := s.AcquireMailLock(ctx, inbox.ID, "a", time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.AcquireMailLock(ctx, inbox.ID, "b", time.Minute); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second holder: %v", err)
		}
		if err := s.RenewMailLock(ctx, inbox.ID, "b", time.Minute); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("renew by non-holder: %v", err)
		}
		if err := s.ReleaseMailLock(ctx, inbox.ID, "b"); err != nil {
			t.Fatal(err)
		}
		if err := s.AcquireMailLock(ctx, inbox.ID, "b", time.Minute); !errors.Is(err, store.ErrConflict) {
			t.Fatal("a non-holder released the lock")
		}
		if err := s.ReleaseMailLock(ctx, inbox.ID, "a"); err != nil {
			t.Fatal(err)
		}
		// A crashed holder's lock expires.
		if err := s.AcquireMailLock(ctx, inbox.ID, "c", 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 5*time.Second, func() error {
			if err := s.AcquireMailLock(ctx, inbox.ID, "d", time.Minute); err != nil {
				return fmt.Errorf("expired lock not taken over: %w", err)
			}
			return nil
		})
	})
}
