package testenv

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// Server is the shape of every Ferry server: Serve on a listener until
// Shutdown.
type Server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// Serve runs srv on a listener of its own on 127.0.0.1 (a port the kernel
// picks, free at that moment) and returns the listener's address. When the
// test ends it shuts srv down, and fails the test unless Shutdown
// succeeded and Serve returned closed (its ErrServerClosed).
func Serve(t testing.TB, srv Server, closed error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("%T shutdown: %v", srv, err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, closed) {
				t.Errorf("%T Serve returned %v after Shutdown", srv, err)
			}
		case <-ctx.Done():
			t.Errorf("%T Serve still running 5s after Shutdown", srv)
		}
	})
	return ln.Addr().String()
}
