package stack_test

import (
	"math"
	"runtime"
	"testing"

	"github.com/ferryhq/ferry/internal/stack"
)

// deep calls itself n times with a frame of about half a KiB each: n = 100
// takes about as much stack as an upload's publish.
//
//go:noinline
func deep(n int) byte {
	var buf [512]byte
	buf[n%len(buf)] = byte(n)
	if n == 0 {
		return buf[0]
	}
	return deep(n-1) + buf[n%len(buf)]
}

// BenchmarkDeepCallOnNewGoroutine: a new goroutine makes a call chain about
// as deep as an upload's publish, after Grow and, the reference, without.
//
//	go test -run '^$' -bench . ./internal/stack
func BenchmarkDeepCallOnNewGoroutine(b *testing.B) {
	for _, tc := range []struct {
		name string
		grow bool
	}{{"Grow", true}, {"reference=without", false}} {
		b.Run(tc.name, func(b *testing.B) {
			done := make(chan byte)
			for b.Loop() {
				go func() {
					if tc.grow {
						stack.Grow()
					}
					done <- deep(100)
				}()
				<-done
			}
		})
	}
}

// Grow really grows the stack: a goroutine that called it holds at least
// Depth bytes more of stack than one that did not (were the frame moved to
// the heap, as the compiler does with locals over 128 KiB, or optimized
// away, it would not).
func TestGrowGrowsTheStack(t *testing.T) {
	inUse := func(grow bool) uint64 {
		ready, release := make(chan struct{}), make(chan struct{})
		go func() {
			if grow {
				stack.Grow()
			}
			close(ready)
			<-release
		}()
		<-ready
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		close(release)
		return m.StackInuse
	}
	// The least of a few tries, against other goroutines' stacks.
	least := func(grow bool) uint64 {
		best := uint64(math.MaxUint64)
		for range 5 {
			best = min(best, inUse(grow))
		}
		return best
	}
	plain, grown := least(false), least(true)
	if grown < plain+stack.Depth {
		t.Fatalf("stack in use %d bytes after Grow, %d without: want at least %d more", grown, plain, stack.Depth)
	}
}
