package smtp_test

import (
	"bytes"
	"log/slog"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/mailbox/smtp"
	"github.com/ferryhq/ferry/store/storetest"
)

// BenchmarkAccept measures messages/s accepted (10 KiB each, 8 parallel
// senders, one connection each, many messages per connection) by Ferry;
// the Postfix reference runs only where Debian's postfix is installed.
func BenchmarkAccept(b *testing.B) {
	msg := append(mailtest.Message("bench", ""), bytes.Repeat([]byte(strings.Repeat("x", 78)+"\r\n"), 128)...)
	b.Run("ferry", func(b *testing.B) {
		e := start(b, storetest.Backend{}, func(s *smtp.Server) { s.Logger = slog.New(slog.DiscardHandler) })
		benchSend(b, e.addr, msg)
	})
	b.Run("postfix", func(b *testing.B) {
		if _, err := exec.LookPath("postfix"); err != nil {
			b.Skip("postfix is not installed: the reference is measured where it is (see issue 7)")
		}
		b.Skip("postfix reference: scheduled by the lead")
	})
}

func benchSend(b *testing.B, addr string, msg []byte) {
	b.SetBytes(int64(len(msg)))
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := gosmtp.Dial(addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Quit()
		for pb.Next() {
			if err := c.SendMail("bench@example.org", []string{"acme@" + mailtest.Domain}, bytes.NewReader(msg)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
