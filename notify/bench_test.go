package notify_test

import (
	"context"
	"testing"
	"time"
)

// BenchmarkOutboxToSMTP measures mails per second from the outbox on
// PostgreSQL to a local SMTP listener: claim, render, send over SMTP (kept
// connections), settle, with the default 4 workers; "+mailbox" also stores each partner-mailbox copy
// (a fsynced file and a transaction per mail). Run:
//
//	go test -run '^$' -bench OutboxToSMTP -benchtime 2000x ./notify
func BenchmarkOutboxToSMTP(b *testing.B) {
	for _, withMailbox := range []bool{false, true} {
		name := "relay"
		if withMailbox {
			name = "relay+mailbox"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, storeBackend(b, "postgres"))
			ctx := context.Background()
			for range b.N {
				if _, err := e.outbox.SendTest(ctx, e.acme.ID); err != nil {
					b.Fatal(err)
				}
			}
			n := e.notifier()
			if !withMailbox {
				n.Mailbox = nil
			}
			b.ResetTimer()
			start := time.Now()
			sent := 0
			for sent < b.N {
				k, err := n.RunOnce(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if k == 0 {
					b.Fatalf("nothing to claim after %d of %d", sent, b.N)
				}
				sent += k
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if got := len(e.relay.messages()); got != b.N {
				b.Fatalf("relay got %d mails, want %d", got, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "mails/s")
			n.Relay.Close()
		})
	}
}
