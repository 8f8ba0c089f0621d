// Package freeport hands out TCP ports for listeners that cannot be given a
// net.Listener (a child process, an FTP passive range): tests through
// internal/testenv, and the bench commands.
package freeport

import (
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Ports for listeners a test cannot hand over as a net.Listener (a child
// `ferry` process, an FTP passive range) come from blocks of blockSize
// consecutive ports outside the kernel's ephemeral range, where outgoing
// connections and bind(":0") take theirs. Each block is locked with flock(2)
// on a file under os.TempDir() for the life of the test process, so two test
// processes (go test runs packages in parallel) never take the same block,
// and every port is checked by binding it, on all addresses, when it is
// handed out; a port is never handed out twice in one process.
const blockSize = 32

// The lowest port a block may start at: well above the ports services and
// Ferry's defaults use (2121, 2525, 1143, 1110, 8080, 9990).
const poolLow = 10000

// pool is this test process's reservation of ports: process-wide because
// the flock and the "never twice" promise are per process.
var pool struct {
	mu    sync.Mutex
	locks []*os.File // held until the process exits; closing one would free its block
	free  []int      // ports of locked blocks not handed out yet
	taken map[int]bool
}

// Port returns a port that could be bound on every address just now and
// that no other call in this process (and no other process using this
// package) was given.
func Port() (int, error) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	for range 4 * blockSize {
		if len(pool.free) == 0 {
			if err := lockBlocks(1); err != nil {
				return 0, err
			}
		}
		p := pool.free[0]
		pool.free = pool.free[1:]
		if Bindable(p) {
			pool.taken[p] = true
			return p, nil
		}
	}
	return 0, errors.New("freeport: no bindable port in the blocks this process locked")
}

// Range returns n consecutive ports, first to last inclusive, each
// bindable on every address just now and never handed out before in this
// process: an FTP passive range.
func Range(n int) (first, last int, err error) {
	if n < 1 {
		return 0, 0, fmt.Errorf("freeport: range of %d ports", n)
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	blocks := (n + blockSize - 1) / blockSize
	var lastErr error
	for range 20 {
		start := len(pool.free)
		if err := lockBlocks(blocks); err != nil {
			lastErr = err
			continue
		}
		fresh := pool.free[start:]
		ok := true
		for _, p := range fresh[:n] {
			if !Bindable(p) {
				ok = false
				break
			}
		}
		if !ok {
			lastErr = errors.New("a port of the range is in use")
			continue // the blocks stay locked; their ports serve Port
		}
		first, last = fresh[0], fresh[n-1]
		for p := first; p <= last; p++ {
			pool.taken[p] = true
		}
		pool.free = append(pool.free[:start], fresh[n:]...)
		return first, last, nil
	}
	return 0, 0, fmt.Errorf("freeport: %d consecutive ports: %w", n, lastErr)
}

// Bounds is where ports are taken from (see poolBounds).
func Bounds() (low, high int) { return poolBounds() }

// lockBlocks locks count adjacent blocks of ports at a random place of the
// pool and appends their ports that were never handed out to pool.free.
// pool.mu is held.
func lockBlocks(count int) error {
	if pool.taken == nil {
		pool.taken = map[int]bool{}
	}
	low, high := poolBounds()
	nblocks := (high - low + 1) / blockSize
	if nblocks < count {
		return fmt.Errorf("no room for %d ports between %d and %d", count*blockSize, low, high)
	}
	dir := filepath.Join(os.TempDir(), "ferry-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	for range 200 {
		b := mrand.IntN(nblocks - count + 1)
		var files []*os.File
		for i := range count {
			f, err := lockBlock(dir, low+(b+i)*blockSize)
			if err != nil {
				break
			}
			files = append(files, f)
		}
		if len(files) < count {
			for _, f := range files {
				f.Close()
			}
			continue
		}
		pool.locks = append(pool.locks, files...)
		for p := low + b*blockSize; p < low+(b+count)*blockSize; p++ {
			if !pool.taken[p] {
				pool.free = append(pool.free, p)
			}
		}
		return nil
	}
	return errors.New("every block tried is locked by another test process")
}

// lockBlock takes the lock of the block starting at port, or fails at once
// when another process holds it.
func lockBlock(dir string, port int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)+".lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// poolBounds is where blocks are taken: below the ephemeral range when it
// leaves room there (Linux's default 32768-60999), else above it.
func poolBounds() (low, high int) {
	lo, hi := 32768, 60999
	if raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(raw)); len(f) == 2 {
			a, err1 := strconv.Atoi(f[0])
			b, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && a <= b {
				lo, hi = a, b
			}
		}
	}
	if lo-poolLow >= 64*blockSize {
		return poolLow, lo - 1
	}
	if 65535-hi >= 16*blockSize {
		return hi + 1, 65535
	}
	return poolLow, 65535 // no room outside: every port is still checked by binding
}

// Bindable reports whether port can be bound on every address (as Ferry's
// passive listeners and ":2525"-style listeners do) and on 127.0.0.1.
func Bindable(port int) bool {
	for _, addr := range []string{":", "127.0.0.1:"} {
		ln, err := net.Listen("tcp", addr+strconv.Itoa(port))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}
