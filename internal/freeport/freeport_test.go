package freeport

import (
	"net"
	"strconv"
	"testing"
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
		if !Bindable(p) {
			t.Errorf("port %d is not bindable", p)
		}
	}
	low, high := poolBounds()
	for range 100 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if p < low || p > high {
			t.Errorf("port %d outside %d-%d", p, low, high)
		}
		add(p)
	}
	for _, n := range []int{1, 20, 40, 100} {
		first, last, err := Range(n)
		if err != nil || last-first+1 != n {
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
	first, last, err := Range(blockSize)
	if err != nil {
		t.Fatal(err)
	}
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
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if p >= first && p <= last {
			t.Fatalf("handed out %d, held by a listener", p)
		}
	}
}
