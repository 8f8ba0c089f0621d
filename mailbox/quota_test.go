package mailbox_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
)

func setMailQuota(t *testing.T, e *mailtest.Env, partner string, n int64) {
	t.Helper()
	if _, err := e.Partners.UpdatePartner(context.Background(), partner, partners.PartnerPatch{MailQuotaBytes: &n}, nil); err != nil {
		t.Fatal(err)
	}
}

// checkUsage compares the cached usage with the sum over the messages.
func checkUsage(t *testing.T, e *mailtest.Env, partnerID string, want int64) {
	t.Helper()
	ctx := context.Background()
	_, used, err := e.Mail.Quota(ctx, partnerID)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := e.DB.MailUsage(ctx, partnerID)
	if err != nil {
		t.Fatal(err)
	}
	if used != want || sum != want {
		t.Fatalf("usage: cached %d, sum %d, want %d", used, sum, want)
	}
}

func blobFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

func TestMailQuota(t *testing.T) {
	each(t, func(t *testing.T, e *mailtest.Env) {
		ctx := context.Background()
		raw := mailtest.Message("Quota", "some text that takes room")
		size := int64(len(raw))
		setMailQuota(t, e, "acme", 3*size)
		for range 3 {
			if _, err := e.Mail.Deliver(ctx, "acme", raw); err != nil {
				t.Fatal(err)
			}
		}
		checkUsage(t, e, e.Acme.ID, 3*size)
		files := blobFiles(t, e.Mail.Dir)
		_, err := e.Mail.Deliver(ctx, "acme", raw)
		var qe *store.MailQuotaError
		if !errors.Is(err, mailbox.ErrOverQuota) || !errors.As(err, &qe) || !qe.Over(e.Acme.ID) {
			t.Fatalf("delivery past the quota: %v", err)
		}
		if got := blobFiles(t, e.Mail.Dir); got != files {
			t.Fatalf("refused delivery left a blob: %d files, want %d", got, files)
		}
		checkUsage(t, e, e.Acme.ID, 3*size)

		// Several recipients: one full mailbox refuses the whole delivery,
		// naming only the full one.
		inboxOther, _ := e.Mail.Folder(ctx, e.Other.ID, "INBOX")
		_, err = e.Mail.DeliverTo(ctx, []mailbox.Recipient{{PartnerID: e.Other.ID}, {PartnerID: e.Acme.ID}},
			bytesReader(raw), mailbox.DeliverOptions{})
		if !errors.As(err, &qe) || len(qe.PartnerIDs) != 1 || !qe.Over(e.Acme.ID) {
			t.Fatalf("two recipients, one full: %v", err)
		}
		if uids, _ := e.DB.MailUIDs(ctx, inboxOther.ID); len(uids) != 0 {
			t.Fatalf("other got %v", uids)
		}
		checkUsage(t, e, e.Other.ID, 0)

		// A copy counts and is refused; a move within the mailbox is not.
		if err := e.Mail.CreateFolder(ctx, e.Acme.ID, "Archive"); err != nil {
			t.Fatal(err)
		}
		inbox, _ := e.Mail.Folder(ctx, e.Acme.ID, "INBOX")
		archive, _ := e.Mail.Folder(ctx, e.Acme.ID, "Archive")
		if _, _, err := e.Mail.Copy(ctx, inbox.ID, []int64{1}, archive.ID, false); !errors.Is(err, mailbox.ErrOverQuota) {
			t.Fatalf("copy past the quota: %v", err)
		}
		if _, _, err := e.Mail.Copy(ctx, inbox.ID, []int64{1, 2}, archive.ID, true); err != nil {
			t.Fatalf("move in a full mailbox: %v", err)
		}
		checkUsage(t, e, e.Acme.ID, 3*size)

		// Expunge and folder deletion free room.
		if removed, err := e.Mail.Expunge(ctx, inbox.ID, nil, false); err != nil || len(removed) != 1 {
			t.Fatalf("expunge: %v %v", removed, err)
		}
		checkUsage(t, e, e.Acme.ID, 2*size)
		if _, err := e.Mail.Deliver(ctx, "acme", raw); err != nil {
			t.Fatalf("after expunge: %v", err)
		}
		if err := e.Mail.DeleteFolder(ctx, e.Acme.ID, "Archive"); err != nil {
			t.Fatal(err)
		}
		checkUsage(t, e, e.Acme.ID, size)

		// Lowering the quota below the usage refuses new mail but keeps the
		// old; 0 is unlimited.
		setMailQuota(t, e, "acme", size/2)
		if _, err := e.Mail.Deliver(ctx, "acme", raw); !errors.Is(err, mailbox.ErrOverQuota) {
			t.Fatalf("below usage: %v", err)
		}
		setMailQuota(t, e, "acme", 0)
		for range 5 {
			if _, err := e.Mail.Deliver(ctx, "acme", raw); err != nil {
				t.Fatal(err)
			}
		}
		checkUsage(t, e, e.Acme.ID, 6*size)
		if used, err := e.DB.RecalcMailUsage(ctx, e.Acme.ID); err != nil || used != 6*size {
			t.Fatalf("recalc: %d %v", used, err)
		}
	})
}

// Concurrent deliveries never take a mailbox past its quota: exactly as
// many as fit are stored.
func TestMailQuotaConcurrentDeliveries(t *testing.T) {
	each(t, func(t *testing.T, e *mailtest.Env) {
		ctx := context.Background()
		raw := mailtest.Message("Race", "deliveries at once")
		size := int64(len(raw))
		setMailQuota(t, e, "acme", 7*size+size/2)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, full := 0, 0
		for range 24 {
			wg.Go(func() {
				_, err := e.Mail.DeliverTo(ctx, []mailbox.Recipient{{PartnerID: e.Acme.ID}, {PartnerID: e.Other.ID}},
					bytesReader(raw), mailbox.DeliverOptions{})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, mailbox.ErrOverQuota):
					full++
				default:
					t.Errorf("deliver: %v", err)
				}
			})
		}
		wg.Wait()
		if ok != 7 || full != 17 {
			t.Fatalf("%d delivered, %d refused; want 7 and 17", ok, full)
		}
		checkUsage(t, e, e.Acme.ID, 7*size)
		checkUsage(t, e, e.Other.ID, 7*size)
	})
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
