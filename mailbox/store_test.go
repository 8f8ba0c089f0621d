package mailbox_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/mailbox"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
)

func each(t *testing.T, fn func(t *testing.T, e *mailtest.Env)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, mailtest.New(t, b)) })
	}
}

func read(t *testing.T, e *mailtest.Env, m *store.MailMessage) string {
	t.Helper()
	r, err := e.Mail.Open(m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDeliver(t *testing.T) {
	each(t, func(t *testing.T, e *mailtest.Env) {
		ctx := context.Background()
		raw := mailtest.Message("Upload report", "A file arrived.")
		d, err := e.Mail.Deliver(ctx, "acme", raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Mail.Deliver(ctx, e.Acme.ID, []byte("Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\n\nbare LF\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Mail.Deliver(ctx, "nobody", raw); !errors.Is(err, mailbox.ErrNoSuchMailbox) {
			t.Fatalf("unknown partner: %v", err)
		}
		inbox, _ := e.Mail.Folder(ctx, e.Acme.ID, "inbox")
		msgs, err := e.DB.MailMessagesByUID(ctx, inbox.ID, []int64{1, 2}, true)
		if err != nil || len(msgs) != 2 {
			t.Fatalf("%v %v", msgs, err)
		}
		m := msgs[0]
		if got := read(t, e, &m); got != string(raw) || m.Size != int64(len(raw)) || d.Size != m.Size {
			t.Fatalf("stored %q (size %d), want the bytes received", got, m.Size)
		}
		if m.Subject != "Upload report" || m.FromAddr != "Sender <sender@example.org>" || m.MessageID != "Upload.report@example.org" ||
			m.SentAt == nil || !bytes.HasSuffix(m.Header, []byte("\r\n\r\n")) || !bytes.HasPrefix(raw, m.Header) {
			t.Fatalf("metadata %+v", m)
		}
		m = msgs[1]
		if got := read(t, e, &m); got != "Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n\r\nbare LF\r\n" || m.Subject != "grüße" {
			t.Fatalf("canonical CRLF / decoded subject: %q %q", got, m.Subject)
		}
		// Blobs live under the mail folder, not in any partner's FTP tree.
		p := filepath.Join(e.Dir, "mail", d.Blob[len(d.Blob)-2:], d.Blob+".eml")
		if _, err := os.Stat(p); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSizeLimit(t *testing.T) {
	e := mailtest.New(t, storetest.Backend{})
	e.Mail.MaxMessageBytes = 100
	_, err := e.Mail.Deliver(context.Background(), "acme", bytes.Repeat([]byte("x\r\n"), 100))
	if !errors.Is(err, mailbox.ErrTooBig) {
		t.Fatalf("got %v", err)
	}
	if n, _ := e.Mail.Sweep(context.Background(), -time.Hour); n != 0 {
		t.Fatalf("a refused message left %d blobs", n)
	}
}

func TestSweepCollectsOrphans(t *testing.T) {
	each(t, func(t *testing.T, e *mailtest.Env) {
		ctx := context.Background()
		keep, _ := e.Mail.Deliver(ctx, "acme", mailtest.Message("keep", "x"))
		gone, _ := e.Mail.Deliver(ctx, "acme", mailtest.Message("gone", "x"))
		// A crash between blob and transaction leaves a file without a row.
		orphan := filepath.Join(e.Dir, "mail", "zz", "01900000-0000-7000-8000-0000000000zz.eml")
		os.MkdirAll(filepath.Dir(orphan), 0o750)
		os.WriteFile(orphan, []byte("Subject: half\r\n\r\n"), 0o640)
		// A message deleted behind the store's back leaves a blob row without messages.
		inbox, _ := e.Mail.Folder(ctx, e.Acme.ID, "INBOX")
		if _, _, err := e.DB.DeleteMailMessages(ctx, inbox.ID, []int64{gone.Messages[0].UID}, false); err != nil {
			t.Fatal(err)
		}
		// Young blobs are left alone: a delivery may be in flight.
		if n, err := e.Mail.Sweep(ctx, time.Hour); err != nil || n != 0 {
			t.Fatalf("sweep with grace: %d %v", n, err)
		}
		if n, err := e.Mail.Sweep(ctx, -time.Second); err != nil || n != 2 {
			t.Fatalf("sweep removed %d (%v), want 2", n, err)
		}
		if _, err := os.Stat(orphan); !os.IsNotExist(err) {
			t.Fatal("orphan file kept")
		}
		msgs, _ := e.DB.MailMessages(ctx, inbox.ID)
		if len(msgs) != 1 || msgs[0].BlobKey != keep.Blob || read(t, e, &msgs[0]) != string(mailtest.Message("keep", "x")) {
			t.Fatalf("kept message damaged: %+v", msgs)
		}
	})
}

func TestFoldersAndAPI(t *testing.T) {
	each(t, func(t *testing.T, e *mailtest.Env) {
		ctx := context.Background()
		m := e.Mail
		for i := range 3 {
			if _, err := m.Deliver(ctx, "acme", mailtest.Message("msg "+string(rune('a'+i)), "x")); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.CreateFolder(ctx, e.Acme.ID, "Projects/2024/Q1"); err != nil {
			t.Fatal(err)
		}
		if err := m.CreateFolder(ctx, e.Acme.ID, "projects/2024/Q1"); err != nil {
			t.Fatal("folder names are case-sensitive (except INBOX):", err)
		}
		if err := m.CreateFolder(ctx, e.Acme.ID, "Projects"); !errors.Is(err, mailbox.ErrFolderExists) {
			t.Fatalf("exists: %v", err)
		}
		for _, bad := range []string{"", "a//b", "a/*", "x\x01"} {
			if err := m.CreateFolder(ctx, e.Acme.ID, bad); !errors.Is(err, mailbox.ErrBadFolderName) {
				t.Errorf("CreateFolder(%q): %v", bad, err)
			}
		}
		if err := m.DeleteFolder(ctx, e.Acme.ID, "Projects"); !errors.Is(err, mailbox.ErrHasChildren) {
			t.Fatalf("delete parent: %v", err)
		}
		if err := m.RenameFolder(ctx, e.Acme.ID, "Projects", "Archive/Projects"); err != nil {
			t.Fatal(err)
		}
		if err := m.DeleteFolder(ctx, e.Acme.ID, "INBOX"); !errors.Is(err, mailbox.ErrBadFolderName) {
			t.Fatalf("delete INBOX: %v", err)
		}
		sum, err := m.Summary(ctx, e.Acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range sum {
			names = append(names, f.Name)
		}
		want := []string{"Archive", "Archive/Projects", "Archive/Projects/2024", "Archive/Projects/2024/Q1", "INBOX",
			"projects", "projects/2024", "projects/2024/Q1"}
		if !slices.Equal(names, want) {
			t.Fatalf("folders %v, want %v", names, want)
		}
		if in := sum[4]; in.Messages != 3 || in.Unseen != 3 || in.Bytes == 0 {
			t.Fatalf("INBOX summary %+v", in)
		}
		page, err := m.MessagePage(ctx, e.Acme.ID, "INBOX", 0, 2)
		if err != nil || len(page) != 2 || page[0].UID != 3 || page[0].Subject != "msg c" {
			t.Fatalf("page 1: %+v %v", page, err)
		}
		page2, _ := m.MessagePage(ctx, e.Acme.ID, "INBOX", page[1].UID, 2)
		if len(page2) != 1 || page2[0].UID != 1 {
			t.Fatalf("page 2: %+v", page2)
		}
		if err := m.DeleteMessage(ctx, e.Acme.ID, page[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := m.DeleteMessage(ctx, e.Acme.ID, page[0].ID); !errors.Is(err, mailbox.ErrNoSuchMessage) {
			t.Fatalf("second delete: %v", err)
		}
		// Another partner's message is not found through acme.
		od, _ := m.Deliver(ctx, "other", mailtest.Message("theirs", "x"))
		if err := m.DeleteMessage(ctx, e.Acme.ID, od.Messages[0].ID); !errors.Is(err, mailbox.ErrNoSuchMessage) {
			t.Fatalf("cross-partner delete: %v", err)
		}
		// Renaming INBOX moves its messages and leaves it empty.
		if err := m.RenameFolder(ctx, e.Acme.ID, "INBOX", "Old mail"); err != nil {
			t.Fatal(err)
		}
		sum, _ = m.Summary(ctx, e.Acme.ID)
		for _, f := range sum {
			if (f.Name == "INBOX" && f.Messages != 0) || (f.Name == "Old mail" && f.Messages != 2) {
				t.Fatalf("after INBOX rename: %+v", f)
			}
		}
		if !strings.Contains(names[0], "Archive") {
			t.Fatal(names)
		}
	})
}

// A folder the caller resolved (IMAP APPEND) and another session deleted
// before the delivery committed: no such folder, and no blob left behind.
func TestDeliverToResolvedFolderGone(t *testing.T) {
	each(t, func(t *testing.T, e *mailtest.Env) {
		ctx := context.Background()
		if err := e.Mail.CreateFolder(ctx, e.Acme.ID, "Drafts"); err != nil {
			t.Fatal(err)
		}
		f, err := e.Mail.Folder(ctx, e.Acme.ID, "Drafts")
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.Mail.DeliverTo(ctx, []mailbox.Recipient{{PartnerID: e.Acme.ID, Folder: f.Name, Resolved: f}},
			strings.NewReader("Subject: one\r\n\r\nx\r\n"), mailbox.DeliverOptions{})
		if err != nil || d.Messages[0].FolderID != f.ID || d.Messages[0].UID != 1 {
			t.Fatalf("deliver to a resolved folder: %+v %v", d, err)
		}
		if err := e.Mail.DeleteFolder(ctx, e.Acme.ID, "Drafts"); err != nil {
			t.Fatal(err)
		}
		_, err = e.Mail.DeliverTo(ctx, []mailbox.Recipient{{PartnerID: e.Acme.ID, Folder: f.Name, Resolved: f}},
			strings.NewReader("Subject: two\r\n\r\nx\r\n"), mailbox.DeliverOptions{})
		if !errors.Is(err, mailbox.ErrNoSuchFolder) {
			t.Fatalf("deliver to a deleted folder: %v", err)
		}
		var files []string
		_ = filepath.WalkDir(filepath.Join(e.Dir, "mail"), func(p string, de os.DirEntry, err error) error {
			if err == nil && !de.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		if len(files) != 0 {
			t.Fatalf("blobs left: %v", files)
		}
	})
}
