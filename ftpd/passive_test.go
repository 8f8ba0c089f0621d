package ftpd_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/testenv"
)

// freeRange is a passive range of n ports, free now and given to no other
// test.
func freeRange(t testing.TB, n int) [2]int {
	t.Helper()
	first, last := testenv.FreePortRange(t, n)
	return [2]int{first, last}
}

// keepPassivePorts gives the plain server the range to itself, with ports
// kept open; the harness's implicit FTPS server opens its own per transfer.
// With the control listener on all interfaces the engine keeps them, on
// 127.0.0.1 Ferry does (on that address only).
func keepPassivePorts(s *ftpd.Server) { s.KeepPassivePorts = !s.Implicit }

// epsvPort sends EPSV and returns the announced port.
func epsvPort(t *testing.T, c *ctl) int {
	t.Helper()
	msg := c.must(229, "EPSV")
	port, err := strconv.Atoi(strings.TrimSuffix(msg[strings.Index(msg, "(|||")+4:], "|)"))
	if err != nil {
		t.Fatalf("EPSV reply %q: %v", msg, err)
	}
	return port
}

// Passive ports stay open and are reused: each PASV/EPSV reserves a port
// of the range (on all interfaces the engine's, shared by client address;
// on the control address Ferry's, one transfer at a time). Many sessions
// from one address on a small range reuse the same ports all the time;
// closing a reservation, used or not, must never take another session's
// reservation of that port with it (the engine's own release would: its
// transfers then waited for a connection that had been turned away).
func TestSharedPassivePorts(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", "127.0.0.1:0"} {
		t.Run(listen, func(t *testing.T) { testSharedPassivePorts(t, listen) })
	}
}

func testSharedPassivePorts(t *testing.T, listen string) {
	e := newEnv(t, envOpts{passive: freeRange(t, 10), configure: keepPassivePorts, listen: listen})
	data := bytes.Repeat([]byte("shared passive ports\n"), 200)
	mustWrite(t, e.partnerFile("acme", "f.txt"), data)

	const sessions, rounds = 7, 25
	errs := make(chan error, sessions)
	var wg sync.WaitGroup
	for i := range sessions {
		c := e.dial("alice", ftp.DialWithTimeout(20*time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				rc, err := c.Retr("f.txt")
				if err != nil {
					errs <- fmt.Errorf("session %d, RETR %d: %w", i, r, err)
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, data) {
					errs <- fmt.Errorf("session %d, RETR %d: %d bytes, %v", i, r, len(got), err)
					return
				}
				if _, err := c.List("/"); err != nil {
					errs <- fmt.Errorf("session %d, LIST %d: %w", i, r, err)
					return
				}
			}
		}()
	}
	// Meanwhile a session that reserves ports and never connects: each
	// EPSV closes its previous, unused reservation.
	idle := e.raw(e.addr)
	idle.login("alice")
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		default:
			epsvPort(t, idle)
			time.Sleep(time.Millisecond)
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A connection to a reserved passive port from another address is closed
// at once and leaves the reservation to the session's client.
func TestSharedPassivePortRefusesOtherAddresses(t *testing.T) {
	e := newEnv(t, envOpts{passive: freeRange(t, 10), configure: keepPassivePorts, listen: "0.0.0.0:0"})
	mustWrite(t, e.partnerFile("acme", "a.txt"), []byte("a\n"))
	c := e.raw(e.addr)
	c.login("alice")
	port := epsvPort(t, c)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	intruder, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("dial from 127.0.0.2: %v", err)
	}
	_ = intruder.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := intruder.Read(make([]byte, 1)); err == nil || n > 0 {
		t.Fatalf("a connection from another address was kept (%d bytes, %v)", n, err)
	}
	intruder.Close()
	// The session's own client still gets its data connection.
	dc, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	c.must(150, "NLST")
	_ = dc.SetReadDeadline(time.Now().Add(5 * time.Second))
	list, err := io.ReadAll(dc)
	if err != nil || !strings.Contains(string(list), "a.txt") {
		t.Fatalf("NLST over the reserved port: %q %v", list, err)
	}
	c.expect(226)
}

// Each transfer's own listener is closed after it: the process's open
// files do not grow with the transfers.
func TestPassiveListenersClosedAfterTransfers(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts envOpts
	}{
		{"kernel-chosen ports", envOpts{}},
		{"range, not kept", envOpts{passive: freeRange(t, 20)}},
		// Kept on the control address: the engine's listener of each
		// transfer is closed with it, the range's ports stay (3 at most).
		{"range, kept", envOpts{passive: freeRange(t, 2), configure: keepPassivePorts}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			mustWrite(t, e.partnerFile("acme", "f.txt"), []byte("x\n"))
			c := e.dial("alice")
			retrAll(t, c, "f.txt", 0) // warm up: connection pools, caches
			before := openFiles(t)
			for range 40 {
				retrAll(t, c, "f.txt", 0)
			}
			testenv.Eventually(t, 5*time.Second, func() error {
				if after := openFiles(t); after > before+5 {
					return fmt.Errorf("open files grew from %d to %d over 40 transfers", before, after)
				}
				return nil
			})
		})
	}
}

func openFiles(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// With the control listener on one address (127.0.0.1, a dev run's
// default) the passive listeners are on that address only, not on every
// interface: a connection to the announced port through another address
// is refused, the client's own gets its data. PASV and EPSV, with a range
// (kept ports asked for or not) and with kernel-chosen ports.
func TestPassiveListenersOnControlAddress(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts envOpts
	}{
		{"range", envOpts{passive: freeRange(t, 10)}},
		{"range, kept ports asked for", envOpts{passive: freeRange(t, 10), configure: keepPassivePorts}},
		{"kernel-chosen ports", envOpts{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			mustWrite(t, e.partnerFile("acme", "a.txt"), []byte("a\n"))
			c := e.raw(e.addr)
			c.login("alice")
			for _, cmd := range []string{"EPSV", "PASV"} {
				var port int
				if cmd == "EPSV" {
					port = epsvPort(t, c)
				} else {
					msg := c.must(227, "PASV")
					f := strings.Split(strings.TrimRight(msg[strings.Index(msg, "(")+1:], ")."), ",")
					hi, _ := strconv.Atoi(f[4])
					lo, _ := strconv.Atoi(f[5])
					port = hi*256 + lo
				}
				if other, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)), 5*time.Second); err == nil {
					other.Close()
					t.Fatalf("%s: port %d answers on 127.0.0.2, not only on the control address", cmd, port)
				}
				dc, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
				if err != nil {
					t.Fatalf("%s: data connection to 127.0.0.1:%d: %v", cmd, port, err)
				}
				c.must(150, "NLST")
				_ = dc.SetReadDeadline(time.Now().Add(5 * time.Second))
				list, err := io.ReadAll(dc)
				dc.Close()
				if err != nil || !strings.Contains(string(list), "a.txt") {
					t.Fatalf("%s: NLST: %q %v", cmd, list, err)
				}
				c.expect(226)
			}
		})
	}
}

// A PASV tries a sample of the range, not every port (see passiveCandidates
// in passive.go): with three quarters of a 200-port range held by another
// program, every transfer still finds a free port, and only free ones are
// announced.
func TestPassivePortsMostlyTaken(t *testing.T) {
	r := freeRange(t, 200)
	held := map[int]bool{}
	for p := r[0]; p <= r[1]; p++ {
		if p%4 == 0 {
			continue // free
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("hold port %d: %v", p, err)
		}
		t.Cleanup(func() { ln.Close() })
		held[p] = true
	}
	e := newEnv(t, envOpts{passive: r})
	mustWrite(t, e.partnerFile("acme", "a.txt"), []byte("a\n"))
	c := e.raw(e.addr)
	c.login("alice")
	for i := range 40 {
		dc := c.pasv()
		port := dc.RemoteAddr().(*net.TCPAddr).Port
		if held[port] || port < r[0] || port > r[1] {
			t.Fatalf("transfer %d: EPSV announced port %d, held by another program or outside %d-%d", i, port, r[0], r[1])
		}
		if list := c.listOn(dc, "NLST"); !strings.Contains(string(list), "a.txt") {
			t.Fatalf("transfer %d: NLST: %q", i, list)
		}
	}
}

// A small range is tried whole; a large one (a NAT's thousands of ports)
// costs a PASV no more than 64 candidates.
func TestPassiveAttempts(t *testing.T) {
	for _, tc := range []struct{ first, last, want int }{
		{50000, 50009, 10}, {50000, 50063, 64}, {50000, 50199, 64}, {40000, 49999, 64},
	} {
		if got := ftpd.PassiveAttempts(tc.first, tc.last); got != tc.want {
			t.Errorf("range %d-%d: %d candidates, want %d", tc.first, tc.last, got, tc.want)
		}
	}
}

// Kept ports on the control address stay open between transfers on that
// address only, turn away connections no transfer waits for, and close
// with the server.
func TestKeptPortsOnControlAddress(t *testing.T) {
	e := newEnv(t, envOpts{passive: freeRange(t, 3), configure: keepPassivePorts})
	mustWrite(t, e.partnerFile("acme", "a.txt"), []byte("a\n"))
	c := e.raw(e.addr)
	c.login("alice")
	used := map[int]bool{}
	for range 12 {
		dc := c.pasv()
		used[dc.RemoteAddr().(*net.TCPAddr).Port] = true
		if list := c.listOn(dc, "NLST"); !strings.Contains(string(list), "a.txt") {
			t.Fatalf("NLST: %q", list)
		}
	}
	for port := range used {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		stray, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("port %d was closed after its transfer: %v", port, err)
		}
		_ = stray.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := stray.Read(make([]byte, 1)); err == nil || n > 0 {
			t.Fatalf("port %d: a connection no transfer waits for was kept (%d bytes, %v)", port, n, err)
		}
		stray.Close()
		if other, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)), 5*time.Second); err == nil {
			other.Close()
			t.Fatalf("kept port %d answers on 127.0.0.2", port)
		}
	}
	// The stray connections took no reservation: transfers go on.
	if list := c.listOn(c.pasv(), "NLST"); !strings.Contains(string(list), "a.txt") {
		t.Fatalf("NLST after stray connections: %q", list)
	}
	// Explicit FTPS with PROT P: TLS data connections over the kept ports.
	g := e.dial("tina", ftp.DialWithExplicitTLS(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // self-signed test certificate
	data := randomBytes(t, 256<<10)
	if err := g.Stor("secure.bin", bytes.NewReader(data)); err != nil {
		t.Fatalf("STOR over FTPS: %v", err)
	}
	if got := retrAll(t, g, "secure.bin", 0); !bytes.Equal(got, data) {
		t.Fatal("FTPS round trip over kept ports differs")
	}
	c.must(221, "QUIT")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for port := range used {
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second); err == nil {
			conn.Close()
			t.Fatalf("kept port %d still open after Shutdown", port)
		}
	}
}
