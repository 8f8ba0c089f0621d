package testenv

import (
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/ferryhq/ferry/internal/freeport"
)

// FreePort returns a loopback address "127.0.0.1:port" for a listener the
// test cannot hand a net.Listener (a child `ferry`): the port could be
// bound on every address just now, lies outside the kernel's ephemeral
// range, and no other call of this test process, nor any other test process
// running beside it, was given it (see package freeport).
func FreePort(t testing.TB) string {
	t.Helper()
	p, err := freeport.Port()
	if err != nil {
		t.Fatalf("FreePort: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
}

// FreePortRange returns n consecutive ports, first to last inclusive, free
// in the same sense as FreePort's: an FTP passive range.
func FreePortRange(t testing.TB, n int) (first, last int) {
	t.Helper()
	first, last, err := freeport.Range(n)
	if err != nil {
		t.Fatalf("FreePortRange: %v", err)
	}
	return first, last
}

// PortRange formats FreePortRange's answer as FERRY_FTP_PASSIVE_PORTS wants it.
func PortRange(t testing.TB, n int) string {
	t.Helper()
	first, last := FreePortRange(t, n)
	return fmt.Sprintf("%d-%d", first, last)
}
