package testenv

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTB records Fatalf instead of failing the real test.
type fakeTB struct {
	testing.TB
	mu    sync.Mutex
	fatal string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	panic(f)
}

// failure runs fn with a fakeTB and returns what it failed with.
func failure(tb testing.TB, fn func(testing.TB)) (msg string) {
	f := &fakeTB{TB: tb}
	defer func() {
		if r := recover(); r != nil && r != any(f) {
			panic(r)
		}
		msg = f.fatal
	}()
	fn(f)
	return ""
}

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, 5*time.Second, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	start := time.Now()
	msg := failure(t, func(tb testing.TB) {
		Eventually(tb, 100*time.Millisecond, func() error { return errors.New("still 7 rows") })
	})
	if !strings.Contains(msg, "still 7 rows") || time.Since(start) > 5*time.Second {
		t.Fatalf("failure %q after %v", msg, time.Since(start))
	}
}

// A process that exits ends the readiness wait at once, with its log.
func TestProcExitEndsWait(t *testing.T) {
	p := Start(t, "sh", exec.Command("sh", "-c", "echo listen on :2525: address already in use; exit 3"))
	start := time.Now()
	msg := failure(t, func(tb testing.TB) {
		p.t = tb
		p.WaitReady(time.Minute, func() error { return errors.New("no answer") })
	})
	p.t = t
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the wait took %v", d)
	}
	if !strings.Contains(msg, "exited before it was ready") || !strings.Contains(msg, "address already in use") {
		t.Fatalf("failure: %q", msg)
	}
}

func TestSkipSummary(t *testing.T) {
	skipped.mu.Lock()
	saved := skipped.counts
	skipped.counts = nil
	skipped.mu.Unlock()
	defer func() { skipped.mu.Lock(); skipped.counts = saved; skipped.mu.Unlock() }()
	if s := SkipSummary(); s != "" {
		t.Fatalf("no skips: %q", s)
	}
	for _, w := range []string{"lftp", "curl", "curl", "curl"} {
		recordSkip(w)
	}
	if s, want := SkipSummary(), "SKIPPED for missing tools: curl (3 tests), lftp (1 test)"; s != want {
		t.Fatalf("%q, want %q", s, want)
	}
}
