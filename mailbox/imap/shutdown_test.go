package imap_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ferryhq/ferry/mailbox/imap"
	"github.com/ferryhq/ferry/mailbox/internal/mailtest"
	"github.com/ferryhq/ferry/store/storetest"
)

// Shutdown right after Serve started, however the two interleave: Serve
// returns ErrServerClosed, the listener is closed, and (under -race) the
// two do not race inside the IMAP library (its Serve adds to a WaitGroup
// that its Close waits on).
func TestShutdownRightAfterServe(t *testing.T) {
	e := mailtest.New(t, storetest.Backend{})
	for i := range 50 {
		srv := &imap.Server{Store: e.Mail, Logins: e.Logins, TLSConfig: e.TLS}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		if i%2 == 1 {
			// Let Serve reach the library's accept loop half of the time.
			if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
				c.Close()
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("round %d: Shutdown: %v", i, err)
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, imap.ErrServerClosed) {
				t.Fatalf("round %d: Serve: %v", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: Serve still running after Shutdown", i)
		}
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			t.Fatalf("round %d: the listener still accepts after Shutdown", i)
		}
	}
}
