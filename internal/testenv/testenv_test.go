package testenv

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Ports handed out are distinct, bindable, outside the kernel's ephemeral
// range when there is room, and a range is consecutive.
func TestFreePorts(t *testing.T) {
	seen := map[int]bool{}
	add := func(p int) {
		t.Helper()
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if !bindable(p) {
			t.Errorf("port %d is not bindable", p)
		}
	}
	low, high := poolBounds()
	for range 100 {
		_, port, _ := net.SplitHostPort(FreePort(t))
		p, _ := strconv.Atoi(port)
		if p < low || p > high {
			t.Errorf("port %d outside %d-%d", p, low, high)
		}
		add(p)
	}
	for _, n := range []int{1, 20, 40, 100} {
		first, last := FreePortRange(t, n)
		if last-first+1 != n {
			t.Fatalf("FreePortRange(%d) = %d-%d", n, first, last)
		}
		for p := first; p <= last; p++ {
			add(p)
		}
	}
}

// A port another program holds is never handed out.
func TestFreePortSkipsHeldPorts(t *testing.T) {
	// Hold every port of the next block this process would lock: lock it
	// first through the pool, then release the lock but keep listeners.
	first, last := FreePortRange(t, blockSize)
	var held []net.Listener
	for p := first; p <= last; p++ {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ln)
	}
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	pool.mu.Lock()
	for p := first; p <= last; p++ {
		delete(pool.taken, p)
		pool.free = append([]int{p}, pool.free...) // offered first
	}
	pool.mu.Unlock()
	for range blockSize {
		_, port, _ := net.SplitHostPort(FreePort(t))
		if p, _ := strconv.Atoi(port); p >= first && p <= last {
			t.Fatalf("handed out %d, held by a listener", p)
		}
	}
}

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
