package notify_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
)

// An upload over FTP becomes exactly one mail to the partner's contacts
// (and its subscribers, envelope only), with the right headers and body,
// and one copy in the partner's mailbox.
func TestUploadOverFTPSendsOneMail(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if err := e.db.AddSubscriber(ctx, e.acme.ID, "manager@ferry.test"); err != nil {
			t.Fatal(err)
		}
		c := e.startFTP()
		if err := c.MakeDir("in"); err != nil {
			t.Fatal(err)
		}
		content := bytes.Repeat([]byte("0123456789"), 1000)
		if err := c.Stor("in/Rechnung März.csv", bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		sum := fmt.Sprintf("%x", sha256.Sum256(content))
		e.uploadsFinished()

		rows := e.rows(store.NotificationFilter{PartnerID: e.acme.ID})
		if len(rows) != 1 || rows[0].Kind != store.NotifyKindUpload || rows[0].Status != store.NotifyPending {
			t.Fatalf("outbox after the upload: %+v", rows)
		}
		n := e.notifier()
		if k := runOnce(t, n); k != 1 {
			t.Fatalf("claimed %d, want 1", k)
		}
		e.relay.wait(1, 5*time.Second)
		if k := runOnce(t, n); k != 0 {
			t.Fatalf("second round claimed %d, want 0", k)
		}
		time.Sleep(50 * time.Millisecond)
		msgs := e.relay.messages()
		if len(msgs) != 1 {
			t.Fatalf("relay got %d messages, want exactly 1", len(msgs))
		}
		m := msgs[0]
		if m.From != "alerts@ferry.test" {
			t.Errorf("MAIL FROM %q", m.From)
		}
		slices.Sort(m.To)
		if want := []string{"boss@acme.example", "manager@ferry.test", "ops@acme.example"}; !slices.Equal(m.To, want) {
			t.Errorf("RCPT TO %v, want %v", m.To, want)
		}
		p := parse(t, m.Data)
		subject, err := p.Header.Subject()
		if err != nil || subject != "[Ferry] ACME Corp: new file Rechnung März.csv" {
			t.Errorf("Subject %q (%v)", subject, err)
		}
		if raw := p.Header.Get("Subject"); !strings.Contains(raw, "=?utf-8?") {
			t.Errorf("raw Subject %q is not RFC 2047 encoded", raw)
		}
		if id, _ := p.Header.MessageID(); id != rows[0].MessageID {
			t.Errorf("Message-ID %q, want the outbox row's %q", id, rows[0].MessageID)
		}
		if d, err := p.Header.Date(); err != nil || time.Since(d) > time.Minute {
			t.Errorf("Date %v (%v)", d, err)
		}
		from, _ := p.Header.AddressList("From")
		to, _ := p.Header.AddressList("To")
		if len(from) != 1 || from[0].Address != "alerts@ferry.test" || from[0].Name != "Ferry Alerts" {
			t.Errorf("From %v", from)
		}
		var toAddrs []string
		for _, a := range to {
			toAddrs = append(toAddrs, a.Address)
		}
		slices.Sort(toAddrs)
		if want := []string{"boss@acme.example", "ops@acme.example"}; !slices.Equal(toAddrs, want) {
			t.Errorf("To %v, want %v (subscribers stay off the header)", toAddrs, want)
		}
		if ct, _, _ := p.Header.ContentType(); ct != "multipart/alternative" {
			t.Errorf("Content-Type %q", ct)
		}
		if p.Header.Get("Auto-Submitted") != "auto-generated" || p.Header.Get("MIME-Version") != "1.0" {
			t.Errorf("Auto-Submitted %q, MIME-Version %q", p.Header.Get("Auto-Submitted"), p.Header.Get("MIME-Version"))
		}
		for _, want := range []string{"Rechnung März.csv", "Folder:   /in", "9.8 KiB (10000 bytes)", sum, "Uploader: alice",
			time.Now().UTC().Format("2006-01-02")} {
			if !strings.Contains(p.Text, want) {
				t.Errorf("text part lacks %q:\n%s", want, p.Text)
			}
		}
		for _, want := range []string{"Rechnung März.csv", "<td>/in</td>", sum, "<td>alice</td>"} {
			if !strings.Contains(p.HTML, want) {
				t.Errorf("HTML part lacks %q:\n%s", want, p.HTML)
			}
		}

		row, err := e.outbox.Get(ctx, rows[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if row.Status != store.NotifySent || row.SentAt == nil || row.RelayedAt == nil || row.MailboxAt == nil ||
			row.Attempts != 1 || row.LastError != "" {
			t.Errorf("row after sending: %+v", row)
		}
		inbox := e.inbox(e.acme.ID)
		if len(inbox) != 1 || inbox[0].MessageID != row.MessageID || !strings.Contains(inbox[0].Subject, "Rechnung März.csv") {
			t.Fatalf("partner mailbox: %+v", inbox)
		}
	})
}

// The relay down: the mail waits (pending, error kept) and goes out when
// the relay is back; the mailbox copy is stored once.
func TestRelayDownThenUp(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.relay.stop()
		row, err := e.outbox.SendTest(ctx, e.acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		n := e.notifier()
		n.Now = func() time.Time { return now }
		for attempt := 1; attempt <= 3; attempt++ {
			if k := runOnce(t, n); k != 1 {
				t.Fatalf("attempt %d: claimed %d", attempt, k)
			}
			got, _ := e.outbox.Get(ctx, row.ID)
			if got.Status != store.NotifyPending || got.Attempts != attempt || !strings.Contains(got.LastError, "refused") {
				t.Fatalf("attempt %d: %+v", attempt, got)
			}
			// The failed attempt's settlement records the copy it stored,
			// so the next attempts do not look for it again.
			if got.MailboxAt == nil {
				t.Fatalf("attempt %d: the mailbox copy is not recorded", attempt)
			}
			// Exponential backoff with jitter: base 1s doubles per attempt,
			// the delay lies in its upper half.
			base := time.Second << (attempt - 1)
			if d := got.NextAt.Sub(now); d < base/2-time.Millisecond || d > base+time.Millisecond {
				t.Errorf("attempt %d: retry in %v, want %v..%v", attempt, d, base/2, base)
			}
			if k := runOnce(t, n); k != 0 {
				t.Fatalf("claimed %d before the retry time", k)
			}
			now = got.NextAt.Add(time.Millisecond)
		}
		e.relay.start()
		if k := runOnce(t, n); k != 1 {
			t.Fatalf("claimed %d after the relay came back", k)
		}
		msgs := e.relay.wait(1, 5*time.Second)
		if id, _ := parse(t, msgs[0].Data).Header.MessageID(); id != row.MessageID {
			t.Errorf("Message-ID %q, want %q", id, row.MessageID)
		}
		got, _ := e.outbox.Get(ctx, row.ID)
		if got.Status != store.NotifySent || got.Attempts != 4 || got.LastError != "" {
			t.Errorf("after the relay came back: %+v", got)
		}
		if inbox := e.inbox(e.acme.ID); len(inbox) != 1 {
			t.Errorf("partner mailbox holds %d copies, want 1", len(inbox))
		}
	})
}

// A 5xx is permanent: the mail is dead at once with the relay's reply kept,
// listed under status dead; Retry sends it again with the same Message-ID.
func TestPermanentFailureIsDead(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.relay.mu.Lock()
		e.relay.dataErr = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Spam detected"}
		e.relay.mu.Unlock()
		row, err := e.outbox.SendTest(ctx, e.acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		n := e.notifier()
		runOnce(t, n)
		dead, next, err := e.outbox.List(ctx, notify.Filter{Status: store.NotifyDead, PartnerID: e.acme.ID})
		if err != nil || next != "" {
			t.Fatal(err, next)
		}
		if len(dead) != 1 || dead[0].ID != row.ID || !strings.Contains(dead[0].LastError, "554") ||
			!strings.Contains(dead[0].LastError, "Spam detected") || dead[0].Attempts != 1 {
			t.Fatalf("dead list: %+v", dead)
		}
		if _, err := e.outbox.Retry(ctx, store.NewID()); !errors.Is(err, notify.ErrNotFound) {
			t.Errorf("Retry(unknown) = %v, want ErrNotFound", err)
		}
		e.relay.mu.Lock()
		e.relay.dataErr = nil
		e.relay.mu.Unlock()
		got, err := e.outbox.Retry(ctx, row.ID)
		if err != nil || got.Status != store.NotifyPending || got.Attempts != 0 || got.LastError != "" {
			t.Fatalf("Retry: %+v, %v", got, err)
		}
		if _, err := e.outbox.Retry(ctx, row.ID); !errors.Is(err, notify.ErrNotDead) {
			t.Errorf("Retry(pending) = %v, want ErrNotDead", err)
		}
		runOnce(t, n)
		msgs := e.relay.wait(1, 5*time.Second)
		if id, _ := parse(t, msgs[0].Data).Header.MessageID(); id != row.MessageID {
			t.Errorf("Message-ID %q, want %q", id, row.MessageID)
		}
		if got, _ := e.outbox.Get(ctx, row.ID); got.Status != store.NotifySent {
			t.Errorf("after retry: %+v", got)
		}
	})
}

// A recipient the relay refuses with 5xx is left out; the others get the
// mail and the refusal is noted. A 4xx to a recipient retries the whole mail.
func TestRecipientRefusals(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.relay.mu.Lock()
		e.relay.rcptErr = map[string]*smtp.SMTPError{
			"boss@acme.example": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
			"ops@acme.example":  {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try later"},
		}
		e.relay.mu.Unlock()
		row, _ := e.outbox.SendTest(ctx, e.acme.ID)
		now := time.Now()
		n := e.notifier()
		n.Now = func() time.Time { return now }
		runOnce(t, n)
		got, _ := e.outbox.Get(ctx, row.ID)
		if got.Status != store.NotifyPending || !strings.Contains(got.LastError, "451") {
			t.Fatalf("after a 451: %+v", got)
		}
		e.relay.mu.Lock()
		delete(e.relay.rcptErr, "ops@acme.example")
		e.relay.mu.Unlock()
		now = got.NextAt
		runOnce(t, n)
		msgs := e.relay.wait(1, 5*time.Second)
		if !slices.Equal(msgs[0].To, []string{"ops@acme.example"}) {
			t.Errorf("RCPT %v", msgs[0].To)
		}
		got, _ = e.outbox.Get(ctx, row.ID)
		if got.Status != store.NotifySent || got.Recipients != "ops@acme.example" ||
			!strings.Contains(got.LastError, "boss@acme.example") || !strings.Contains(got.LastError, "550") {
			t.Errorf("after a partial send: %+v", got)
		}
	})
}

// A worker that claimed rows and died before sending (its lease runs out)
// holds nothing up for good: the next run sends the mail, with the
// Message-ID fixed at insert.
func TestCrashBetweenClaimAndSend(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		row, err := e.outbox.SendTest(ctx, e.acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		// The "killed" worker: claims with a 2-minute lease, never settles.
		claimed, err := e.db.ClaimNotifications(ctx, store.ClaimOptions{Now: time.Now(), Lease: 2 * time.Minute, Limit: 10})
		if err != nil || len(claimed) != 1 || claimed[0].Status != store.NotifySending {
			t.Fatalf("claim: %+v, %v", claimed, err)
		}
		n := e.notifier()
		if k := runOnce(t, n); k != 0 {
			t.Fatalf("claimed %d rows still leased to the dead worker", k)
		}
		n.Now = func() time.Time { return time.Now().Add(3 * time.Minute) }
		if k := runOnce(t, n); k != 1 {
			t.Fatalf("claimed %d after the lease ran out, want 1", k)
		}
		msgs := e.relay.wait(1, 5*time.Second)
		if id, _ := parse(t, msgs[0].Data).Header.MessageID(); id != row.MessageID {
			t.Errorf("Message-ID %q, want %q", id, row.MessageID)
		}
		got, _ := e.outbox.Get(ctx, row.ID)
		if got.Status != store.NotifySent || got.Attempts != 2 {
			t.Errorf("row: %+v", got)
		}
	})
}

// A worker stuck after the relay took the mail, until its lease ran out:
// another worker sends the mail again, byte for byte the same (same
// Message-ID and Date), the partner mailbox keeps one copy, and the stuck
// worker's late settle is refused.
func TestResendAfterLostLeaseIsIdentical(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		row, _ := e.outbox.SendTest(ctx, e.acme.ID)
		n1, n2 := e.notifier(), e.notifier()
		n2.Outbox = &notify.Outbox{Store: e.open(), Domain: "mail.test"} // another node
		n2.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
		var first atomic.Bool
		e.relay.mu.Lock()
		e.relay.onData = func() {
			// The first delivery stalls here, after the relay has the
			// mail, while the second node takes over.
			if first.CompareAndSwap(false, true) {
				if k, err := n2.RunOnce(context.Background()); k != 1 || err != nil {
					t.Errorf("second node claimed %d (%v), want 1", k, err)
				}
			}
		}
		e.relay.mu.Unlock()
		if k := runOnce(t, n1); k != 1 {
			t.Fatalf("first node claimed %d", k)
		}
		msgs := e.relay.wait(2, 5*time.Second)
		if !bytes.Equal(msgs[0].Data, msgs[1].Data) {
			t.Errorf("the resent mail differs:\n%s\n---\n%s", msgs[0].Data, msgs[1].Data)
		}
		if id, _ := parse(t, msgs[1].Data).Header.MessageID(); id != row.MessageID {
			t.Errorf("Message-ID %q, want %q", id, row.MessageID)
		}
		if got, _ := e.outbox.Get(ctx, row.ID); got.Status != store.NotifySent || got.Attempts != 2 {
			t.Errorf("row: %+v", got)
		}
		if inbox := e.inbox(e.acme.ID); len(inbox) != 1 {
			t.Errorf("partner mailbox holds %d copies, want 1", len(inbox))
		}
	})
}

// With a digest window, a burst of 50 uploads over FTP is one mail listing
// all 50 files; every row of the burst ends sent.
func TestDigestFoldsBurst(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.outbox.Digest = time.Minute
		c := e.startFTP()
		for i := range 50 {
			if err := c.Stor(fmt.Sprintf("batch-%02d.txt", i), strings.NewReader(fmt.Sprintf("file %d\n", i))); err != nil {
				t.Fatal(err)
			}
		}
		// All 50 alerts queued (in the FTP server's audit writer's
		// batches, after each 226) before the notifier looks: none is
		// sent inside the window, and the digest then holds them all.
		e.uploadsFinished()
		if rows := e.rows(store.NotificationFilter{PartnerID: e.acme.ID}); uploadsIn(t, rows) != 50 {
			t.Fatalf("%d uploads in the alerts queued for the burst, want 50", uploadsIn(t, rows))
		}
		n := e.notifier()
		if k := runOnce(t, n); k != 0 {
			t.Fatalf("claimed %d inside the digest window", k)
		}
		n.Now = func() time.Time { return time.Now().Add(time.Minute + time.Second) }
		if k := runOnce(t, n); k != 1 {
			t.Fatalf("claimed %d batches after the window, want 1", k)
		}
		msgs := e.relay.wait(1, 5*time.Second)
		if k := runOnce(t, n); k != 0 {
			t.Fatalf("claimed %d more", k)
		}
		if len(e.relay.messages()) != 1 {
			t.Fatalf("%d mails, want 1", len(e.relay.messages()))
		}
		p := parse(t, msgs[0].Data)
		subject, _ := p.Header.Subject()
		if subject != "[Ferry] ACME Corp: 50 new files (batch-00.txt, ...)" {
			t.Errorf("Subject %q", subject)
		}
		for i := range 50 {
			if name := fmt.Sprintf("batch-%02d.txt", i); !strings.Contains(p.Text, name) || !strings.Contains(p.HTML, name) {
				t.Errorf("digest lacks %s", name)
			}
		}
		rows := e.rows(store.NotificationFilter{PartnerID: e.acme.ID})
		if uploadsIn(t, rows) != 50 {
			t.Fatalf("%d uploads in the rows", uploadsIn(t, rows))
		}
		head := rows[len(rows)-1] // the oldest
		for _, r := range rows {
			if r.Status != store.NotifySent || r.BatchID != head.ID {
				t.Errorf("row %s: status %s batch %s, want sent in %s", r.ID, r.Status, r.BatchID, head.ID)
			}
		}
		if id, _ := p.Header.MessageID(); id != head.MessageID {
			t.Errorf("Message-ID %q, want the batch head's %q", id, head.MessageID)
		}
		if inbox := e.inbox(e.acme.ID); len(inbox) != 1 {
			t.Errorf("partner mailbox holds %d messages, want 1", len(inbox))
		}
	})
}

// uploadsIn counts the uploads the upload alerts rows hold: one each, or
// those of an UploadsPayload (uploads finished in one transaction).
func uploadsIn(t *testing.T, rows []store.Notification) int {
	t.Helper()
	n := 0
	for _, r := range rows {
		ups, err := notify.UploadsOf(r.Payload)
		if err != nil {
			t.Fatalf("payload of %s: %v", r.ID, err)
		}
		n += len(ups)
	}
	return n
}

// A digest of more uploads than ListedFiles names the first ones, in the
// order they came, and says how many more there are and the size of all.
func TestDigestListsItsFirstFiles(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.outbox.Digest = time.Minute
		ctx := context.Background()
		const total = notify.ListedFiles + 10
		err := e.db.Tx(ctx, func(tx *store.Store) error {
			for i := range total {
				err := e.outbox.OnUpload(ctx, tx, &store.Transfer{ID: store.NewID(), PartnerID: &e.acme.ID, Username: "alice",
					Path: fmt.Sprintf("/in/part-%03d.csv", i), FileSize: 1024, SHA256: strings.Repeat("ab", 32)})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		n := e.notifier()
		n.Now = func() time.Time { return time.Now().Add(time.Minute + time.Second) }
		if k := runOnce(t, n); k != 1 {
			t.Fatalf("claimed %d batches, want 1", k)
		}
		p := parse(t, e.relay.wait(1, 5*time.Second)[0].Data)
		if subject, _ := p.Header.Subject(); subject != fmt.Sprintf("[Ferry] ACME Corp: %d new files (part-000.csv, ...)", total) {
			t.Errorf("Subject %q", subject)
		}
		for _, body := range []string{p.Text, p.HTML} {
			for i := range total {
				name := fmt.Sprintf("part-%03d.csv", i)
				if listed := strings.Contains(body, name); listed != (i < notify.ListedFiles) {
					t.Errorf("%s listed: %v", name, listed)
				}
			}
			if !strings.Contains(body, fmt.Sprintf("%d new files on Ferry, 60.0 KiB (61440 bytes) in all.", total)) ||
				!strings.Contains(body, "and 10 more files, not listed here") {
				t.Errorf("the digest does not count what it leaves out:\n%s", body)
			}
		}
	})
}

// A file name with CR/LF and "Bcc:" cannot add a header or a recipient.
func TestHeaderInjectionThroughFileName(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		c := e.startFTP()
		// Over FTP a name cannot hold CR/LF (commands are lines), but it can
		// hold the rest.
		if err := c.Stor("x Bcc: thief@evil.example.txt", strings.NewReader("a")); err != nil {
			t.Fatal(err)
		}
		e.uploadsFinished()
		// Sent now: queued together, the two would fold into one mail.
		runOnce(t, e.notifier())
		e.relay.wait(1, 5*time.Second)
		// Through the hook directly, as any other front end might.
		ctx := context.Background()
		evil := "/in/report\r\nBcc: thief@evil.example\r\nX-Injected: yes\r\n\r\nbody.csv"
		err := e.db.Tx(ctx, func(tx *store.Store) error {
			return e.outbox.OnUpload(ctx, tx, &store.Transfer{ID: store.NewID(), PartnerID: &e.acme.ID,
				Username: "alice\r\nCc: thief2@evil.example", Path: evil, FileSize: 1, SHA256: "00\r\nBcc: x@y"})
		})
		if err != nil {
			t.Fatal(err)
		}
		runOnce(t, e.notifier())
		msgs := e.relay.wait(2, 5*time.Second)
		for _, m := range msgs {
			slices.Sort(m.To)
			if !slices.Equal(m.To, []string{"boss@acme.example", "ops@acme.example"}) {
				t.Errorf("RCPT %v", m.To)
			}
			names := headerLines(m.Data)
			for _, n := range names {
				if k := strings.ToLower(n); k == "bcc" || k == "cc" || k == "x-injected" {
					t.Errorf("injected header %q in\n%s", n, m.Data)
				}
			}
			for _, line := range strings.Split(string(m.Data), "\r\n") {
				if l := strings.ToLower(line); strings.HasPrefix(l, "bcc:") || strings.HasPrefix(l, "x-injected:") ||
					strings.HasPrefix(l, "cc:") {
					t.Errorf("a line starts a header: %q", line)
				}
			}
			p := parse(t, m.Data)
			subject, _ := p.Header.Subject()
			if strings.ContainsAny(subject, "\r\n") || !strings.Contains(subject, "Bcc: thief") {
				t.Errorf("Subject %q", subject)
			}
			if strings.Contains(p.HTML, "<br") && strings.Contains(p.HTML, "X-Injected: yes<") {
				t.Errorf("HTML carries the raw name")
			}
		}
	})
}

// Two notifiers (two nodes) on one database send each mail exactly once.
func TestTwoNotifiersSendEachMailOnce(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const total = 120
		want := map[string]bool{}
		for range total {
			row, err := e.outbox.SendTest(ctx, e.acme.ID)
			if err != nil {
				t.Fatal(err)
			}
			want[row.MessageID] = true
		}
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for i := range 2 {
			n := e.notifier()
			n.Mailbox = nil // the relay path is what is shared here
			n.Batch = 8
			if i == 1 {
				n.Outbox = &notify.Outbox{Store: e.open(), Domain: "mail.test"}
			}
			wg.Add(1)
			go func() { defer wg.Done(); _ = n.Run(rctx) }()
		}
		e.relay.wait(total, 60*time.Second)
		time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
		cancel()
		wg.Wait()
		msgs := e.relay.messages()
		seen := map[string]int{}
		for _, m := range msgs {
			id, _ := parse(t, m.Data).Header.MessageID()
			seen[id]++
		}
		if len(msgs) != total || len(seen) != total {
			t.Errorf("%d mails with %d distinct Message-IDs, want %d", len(msgs), len(seen), total)
		}
		for id, k := range seen {
			if k != 1 || !want[id] {
				t.Errorf("Message-ID %s sent %d times", id, k)
			}
		}
		if rows := e.rows(store.NotificationFilter{Status: store.NotifySent}); len(rows) != total {
			t.Errorf("%d rows sent, want %d", len(rows), total)
		}
	})
}

// Without a relay the alerts reach the partner mailbox only, and are
// marked sent with no relayed_at.
func TestNoRelayMailboxOnly(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		row, _ := e.outbox.SendTest(ctx, e.acme.ID)
		n := e.notifier()
		n.Relay = nil
		runOnce(t, n)
		got, _ := e.outbox.Get(ctx, row.ID)
		if got.Status != store.NotifySent || got.RelayedAt != nil || got.MailboxAt == nil {
			t.Errorf("row: %+v", got)
		}
		if inbox := e.inbox(e.acme.ID); len(inbox) != 1 || inbox[0].MessageID != row.MessageID {
			t.Errorf("mailbox: %+v", inbox)
		}
		if len(e.relay.messages()) != 0 {
			t.Error("the relay got mail")
		}
	})
}

// Crossing a quota threshold mails the partner and the operators once;
// falling below and crossing again mails again.
func TestQuotaAlertsOncePerCrossing(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.outbox.QuotaThresholds = []int{80, 95}
		p, err := e.svc.Partner(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		p.QuotaBytes = 1000
		if err := e.db.UpdatePartner(ctx, p); err != nil {
			t.Fatal(err)
		}
		recovered := false
		upload := func(size int64) {
			t.Helper()
			tr := &store.Transfer{PartnerID: &e.acme.ID, Username: "alice", Protocol: "ftp", Operation: store.OpUpload,
				Path: fmt.Sprintf("/f%d", size), FileSize: size, UsageBytes: size, UsageFiles: 1}
			if err := e.db.BeginUpload(ctx, tr); err != nil {
				t.Fatal(err)
			}
			if recovered {
				// As recovery finishes it: the usage is read, not known.
				tr.Reserved = nil
			}
			if err := e.db.FinishUpload(ctx, tr.ID, time.Now(), "", func(tx *store.Store) error {
				return e.outbox.OnUpload(ctx, tx, tr)
			}); err != nil {
				t.Fatal(err)
			}
		}
		quotaRows := func() []store.Notification {
			return e.rows(store.NotificationFilter{Kind: store.NotifyKindQuota})
		}
		upload(500) // 50 %
		upload(350) // 85 %: crosses 80
		upload(50)  // 90 %
		if q := quotaRows(); len(q) != 1 || !strings.Contains(q[0].Payload, `"threshold":80`) {
			t.Fatalf("after 90 %%: %+v", q)
		}
		upload(60) // 96 %: crosses 95
		if q := quotaRows(); len(q) != 2 || !strings.Contains(q[0].Payload, `"threshold":95`) {
			t.Fatalf("after 96 %%: %+v", q)
		}
		upload(1) // still above
		if q := quotaRows(); len(q) != 2 {
			t.Fatalf("an upload above the threshold alerted again: %d", len(q))
		}
		if err := e.db.SetUsage(ctx, e.acme.ID, 100, 1); err != nil { // files deleted
			t.Fatal(err)
		}
		recovered = true
		upload(750) // 85 %: crosses 80 again
		if q := quotaRows(); len(q) != 3 || !strings.Contains(q[0].Payload, `"threshold":80`) {
			t.Fatalf("after crossing 80 %% again: %+v", q)
		}

		runOnce(t, e.notifier())
		// The six uploads queued up before the notifier ran: they go out
		// in one mail; each quota crossing has its own.
		msgs := e.relay.wait(4, 5*time.Second)
		var quota, uploads []received
		for _, m := range msgs {
			switch {
			case strings.Contains(string(m.Data), "X-Ferry-Kind: quota"):
				quota = append(quota, m)
			case strings.Contains(string(m.Data), "X-Ferry-Kind: upload"):
				uploads = append(uploads, m)
			}
		}
		if len(quota) != 3 || len(uploads) != 1 || len(msgs) != 4 {
			t.Fatalf("%d quota mails, %d upload mails, %d in all; want 3, 1, 4", len(quota), len(uploads), len(msgs))
		}
		text := parse(t, uploads[0].Data).Text
		for _, f := range []string{"f500", "f350", "f50", "f60", "f1", "f750"} {
			if !strings.Contains(text, "File:     "+f+"\r\n") && !strings.Contains(text, "File:     "+f+"\n") {
				t.Errorf("the upload mail does not list %s:\n%s", f, text)
			}
		}
		for _, m := range quota {
			if !slices.Contains(m.To, "operator@ferry.test") || !slices.Contains(m.To, "ops@acme.example") {
				t.Errorf("quota mail RCPT %v lacks the operator or the contact", m.To)
			}
			if strings.Contains(strings.ToLower(string(m.Data)), "operator@ferry.test") {
				t.Errorf("the operator's address shows in the mail")
			}
			subject, _ := parse(t, m.Data).Header.Subject()
			if !strings.HasPrefix(subject, "[Ferry] ACME Corp: storage ") {
				t.Errorf("Subject %q", subject)
			}
		}
	})
}

// The API side: listing pages through the outbox newest first and filters
// by partner, status and kind; bad filters are refused.
func TestListFiltersAndPages(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		other, _ := e.svc.Partner(ctx, "other")
		for range 5 {
			if _, err := e.outbox.SendTest(ctx, e.acme.ID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.outbox.SendTest(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.outbox.SendTest(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SendTest(unknown partner) = %v", err)
		}
		var all []store.Notification
		cursor := ""
		for {
			page, next, err := e.outbox.List(ctx, notify.Filter{PartnerID: e.acme.ID, Limit: 2, Before: cursor})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if next == "" {
				break
			}
			cursor = next
		}
		if len(all) != 5 || !slices.IsSortedFunc(all, func(a, b store.Notification) int { return strings.Compare(b.ID, a.ID) }) {
			t.Errorf("paged list: %d rows", len(all))
		}
		if rows, _, _ := e.outbox.List(ctx, notify.Filter{Status: store.NotifyPending, Kind: store.NotifyKindTest}); len(rows) != 6 {
			t.Errorf("pending tests: %d", len(rows))
		}
		for _, f := range []notify.Filter{{Status: "lost"}, {Kind: "fax"}, {Limit: 501}} {
			if _, _, err := e.outbox.List(ctx, f); !errors.Is(err, notify.ErrInvalid) {
				t.Errorf("List(%+v) = %v, want ErrInvalid", f, err)
			}
		}
	})
}

// Run sends within moments of an upload and stops when its context ends.
func TestRunSendsPromptly(t *testing.T) {
	e := newEnv(t, storeBackend(t, "sqlite"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	n := e.notifier()
	n.PollInterval = time.Second
	go func() { done <- n.Run(ctx) }()
	c := e.startFTP()
	start := time.Now()
	if err := c.Stor("now.txt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	e.relay.wait(1, 10*time.Second)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("mail took %v", d)
	}
	// SendTest wakes the notifier at once, not at the next poll.
	if _, err := e.outbox.SendTest(context.Background(), e.acme.ID); err != nil {
		t.Fatal(err)
	}
	e.relay.wait(2, 10*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// With UploadSpacing, a partner's upload that comes within it of the
// partner's last upload mail waits for its end, and what came meanwhile
// goes out in one mail; another partner's upload is not held.
func TestUploadMailSpacing(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const spacing = 700 * time.Millisecond
		e.outbox.UploadSpacing = spacing
		other, err := e.db.PartnerBySlug(ctx, "other")
		if err != nil {
			t.Fatal(err)
		}
		upload := func(partnerID, name string) {
			t.Helper()
			err := e.db.Tx(ctx, func(tx *store.Store) error {
				return e.outbox.OnUpload(ctx, tx, &store.Transfer{ID: store.NewID(), PartnerID: &partnerID,
					Username: "alice", Path: "/in/" + name, FileSize: 1, StartedAt: time.Now()})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		n := e.notifier()
		upload(e.acme.ID, "first.csv")
		mailed := time.Now() // the claim comes after this
		if k := runOnce(t, n); k != 1 {
			t.Fatalf("first upload: %d mails claimed, want 1", k)
		}
		upload(e.acme.ID, "second.csv")
		upload(e.acme.ID, "third.csv")
		upload(other.ID, "elsewhere.csv")
		if k := runOnce(t, n); k != 1 {
			t.Fatalf("within the spacing: %d mails claimed, want only the other partner's", k)
		}
		e.relay.wait(2, 5*time.Second)
		for runOnce(t, n) == 0 {
			if time.Since(mailed) > 5*spacing {
				t.Fatal("the held uploads were never mailed")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if d := time.Since(mailed); d < spacing {
			t.Errorf("the next mail was claimed %v after the last, want at least %v", d, spacing)
		}
		msgs := e.relay.wait(3, 5*time.Second)
		last := string(msgs[2].Data)
		if !strings.Contains(last, "second.csv") || !strings.Contains(last, "third.csv") {
			t.Errorf("the held uploads were not mailed together:\n%s", last)
		}
	})
}
