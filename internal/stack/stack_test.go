package stack_test

import (
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
