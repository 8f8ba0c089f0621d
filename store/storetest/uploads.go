package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
)

// WaitUploadsFinished waits until no upload in st is left committing, and
// fails t after 10 s. An FTP server's audit writer marks an upload done,
// with what the upload hook queues (its alert, its webhook deliveries), in
// its next batch, after the client's 226 (store.AuditWriter.Finish), and
// adds then the usage of an upload whose partner has no quota
// (store.Transfer.DeferUsage): a test calls this after its FTP uploads and
// before it looks at their rows, alerts, deliveries or usage, or asserts
// that there are none.
func WaitUploadsFinished(t testing.TB, st *store.Store) {
	t.Helper()
	const timeout, every = 10 * time.Second, 5 * time.Millisecond
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		rows, err := st.CommittingUploads(ctx)
		cancel()
		if err != nil {
			t.Fatalf("list committing uploads: %v", err)
		}
		if len(rows) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, r := range rows {
				fmt.Fprintf(&b, "\n\t%s %s by %q, started %s", r.ID, r.Path, r.Username, r.StartedAt.Format(time.RFC3339Nano))
			}
			t.Fatalf("%d uploads still committing after %v (the audit writer did not mark them done; see its log):%s",
				len(rows), timeout, b.String())
		}
		time.Sleep(every)
	}
}
