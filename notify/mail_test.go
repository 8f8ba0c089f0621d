package notify_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
)

// A message a partner sent outside is relayed as written, to its own
// recipients only (no contacts, no template, no mailbox copy); without a
// relay it waits and is retried.
func TestQueuedMailIsRelayedAsWritten(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		raw := []byte("From: ACME Corp <acme@mail.test>\r\nTo: bob@partner-co.example\r\nSubject: Re: order\r\n\r\nShipped.\r\n")
		ctx := context.Background()
		if err := e.outbox.QueueMail(ctx, e.acme.ID, "ACME Corp <acme@mail.test>", []string{"bob@partner-co.example"}, raw); err != nil {
			t.Fatal(err)
		}
		// No relay: not sent, pending for a retry.
		n := e.notifier()
		n.Relay = nil
		runOnce(t, n)
		rows := e.rows(store.NotificationFilter{Kind: store.NotifyKindMail})
		if len(rows) != 1 || rows[0].Status != store.NotifyPending || rows[0].LastError == "" {
			t.Fatalf("without a relay: %+v", rows)
		}
		// With the relay it goes out once, unchanged.
		n = e.notifier()
		n.Now = func() time.Time { return time.Now().Add(time.Hour) }
		runOnce(t, n)
		got := e.relay.wait(1, 5*time.Second)
		if got[0].From != "acme@mail.test" || len(got[0].To) != 1 || got[0].To[0] != "bob@partner-co.example" || !bytes.Equal(got[0].Data, raw) {
			t.Fatalf("relayed: from %s to %v\n%s", got[0].From, got[0].To, got[0].Data)
		}
		rows = e.rows(store.NotificationFilter{Kind: store.NotifyKindMail})
		if rows[0].Status != store.NotifySent || rows[0].RelayedAt == nil {
			t.Fatalf("after sending: %+v", rows[0])
		}
		if len(e.inbox(e.acme.ID)) != 0 {
			t.Fatal("the sent mail was copied into the partner's INBOX")
		}
	})
}
