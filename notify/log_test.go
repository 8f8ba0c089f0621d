package notify_test

import (
	"context"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
)

// Every alert sent is one INFO line of the server log, every failed
// attempt one WARN line with the relay's answer.
func TestAlertsAreLogged(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var log testenv.Buffer
		n := e.notifier()
		n.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))

		sent, err := e.outbox.SendTest(ctx, e.acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		if k := runOnce(t, n); k != 1 {
			t.Fatalf("claimed %d, want 1", k)
		}
		e.relay.wait(1, 5*time.Second)
		line := regexp.MustCompile(`level=INFO msg="notify: mail sent" notification=` + sent.ID + ` kind=test partner=` + e.acme.ID +
			` message_id="?` + regexp.QuoteMeta(sent.MessageID) + `"? to=\S+@\S+`)
		if got := line.FindAllString(log.String(), -1); len(got) != 1 {
			t.Fatalf("want one INFO line for the sent alert:\n%s", log.String())
		}

		e.relay.stop()
		failed, err := e.outbox.SendTest(ctx, e.acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		if k := runOnce(t, n); k != 1 {
			t.Fatalf("claimed %d, want 1", k)
		}
		line = regexp.MustCompile(`level=WARN msg="notify: mail failed, will retry" notification=` + failed.ID + ` .*attempt=1 `)
		if got := line.FindAllString(log.String(), -1); len(got) != 1 {
			t.Fatalf("want one WARN line for the failed attempt:\n%s", log.String())
		}
	})
}
