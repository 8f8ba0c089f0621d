package testenv

import (
	"errors"
	"testing"
	"time"
)

// pollEvery is how often Eventually asks again.
const pollEvery = 20 * time.Millisecond

// Eventually calls cond until it returns nil and fails the test with cond's
// last error when timeout passes first. Tests wait on a condition they can
// observe this way, never on a fixed sleep.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := poll(timeout, nil, cond); err != nil {
		t.Fatalf("not within %v: %v", timeout, err)
	}
}

// errStopped is poll's answer when stop closed before cond held.
var errStopped = errors.New("stopped")

// poll calls cond every pollEvery until it returns nil (poll returns nil),
// timeout passes (cond's last error), or stop closes (errStopped).
func poll(timeout time.Duration, stop <-chan struct{}, cond func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-stop:
			return errStopped
		case <-deadline.C:
			return err
		case <-tick.C:
		}
	}
}
