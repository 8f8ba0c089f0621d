// Package stack grows a new goroutine's stack ahead of deep calls.
//
// A goroutine starts with the runtime's smallest stack, and a call chain
// deeper than that grows it by doubling, copying everything the stack holds
// each time. Ferry's store goes deep (SQLite's C code, translated to Go),
// and some of its callers run on goroutines made for one job: the FTP
// engine's goroutine for each session and each transfer, the ban check of
// each accepted connection. Grow, called first thing on such a goroutine,
// makes the stack big enough in one step, while it holds next to nothing.
package stack

// Depth is what the deepest of those jobs takes of a stack: after Grow, an
// upload's publish grew the FTP transfer goroutine's stack no more (Go CPU
// profile of ftpd's BenchmarkUpload, 2026-12-07).
const Depth = 64 << 10

// Grow grows the calling goroutine's stack to hold Depth bytes more than
// it holds now. On a goroutine whose stack is that big already it costs the
// clearing of Depth bytes.
//
//go:noinline
func Grow() {
	var frame [Depth]byte
	keep(frame[:])
}

//go:noinline
func keep([]byte) {}
