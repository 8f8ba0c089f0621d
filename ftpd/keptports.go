package ftpd

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"
)

// keptPorts are the passive ports of a server whose control listener is
// bound to one address (127.0.0.1 in a dev run, one address of a
// multi-homed host), kept listening on that address between transfers. The
// engine's own kept ports (Settings.PassiveTransferPortMultiplexing) listen
// on all interfaces, and nothing can move them; without kept ports each
// transfer cost two listening sockets (the engine's on all interfaces, and
// Ferry's on the control address in its place, see rebind): a socket,
// bind, listen, epoll registration and close each, about a tenth of a small
// upload's CPU.
//
// For each PASV/EPSV the engine still listens on a port the kernel chooses
// (no range is handed to it) and calls WrapPassiveListener, which stops
// that listener at once (it stays open until the transfer ends: the engine
// sets the transfer's accept deadline on it) and reserves a free port of
// the range here. A port serves one reservation at a time: the driver does
// not know the client's address when it reserves (the engine checks it on
// the data connection, as for a listener of the transfer's own), so ports
// are not shared by address as the engine's are. A reservation takes the
// first connection to its port; the port is free again as soon as that
// connection is handed over, or when the reservation is closed unused.
// Connections to a port that no one has reserved are closed at once.
//
// A port is opened the first time it is drawn and stays open until close
// (the server's Shutdown).
type keptPorts struct {
	ip         net.IP
	first, end int           // inclusive range
	wait       time.Duration // how long a reservation waits for its connection
	logger     *slog.Logger

	mu     sync.Mutex
	ports  map[int]*keptPort
	closed bool
	loops  sync.WaitGroup // the ports' accept loops
}

type keptPort struct {
	ln     *net.TCPListener
	holder *keptReservation // on keptPorts.mu; nil: free
}

func newKeptPorts(ip net.IP, first, end int, logger *slog.Logger) *keptPorts {
	return &keptPorts{ip: ip, first: first, end: end, wait: dataConnTimeout, logger: logger, ports: map[int]*keptPort{}}
}

// reserve takes a free port of the range for one transfer, in place of
// the engine's listener, which it stops (and closes with the reservation).
func (k *keptPorts) reserve(engine *net.TCPListener) (net.Listener, error) {
	if err := stopListening(engine); err != nil {
		engine.Close()
		return nil, fmt.Errorf("stop the engine's passive listener: %w", err)
	}
	size := k.end - k.first + 1
	start := rand.IntN(size)
	for i := range min(size, passiveCandidates) {
		// Successive ports from a random one: the first free port after it
		// is as hard to guess, and every port is tried once.
		port := k.first + (start+i)%size
		r, err := k.take(port, engine)
		if err != nil {
			engine.Close()
			return nil, err
		}
		if r != nil {
			return r, nil
		}
	}
	engine.Close()
	return nil, errPassivePort
}

// take reserves port if it is free (opening it the first time); nil, nil
// when it is in use, by another transfer or by another program.
func (k *keptPorts) take(port int, engine *net.TCPListener) (*keptReservation, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, net.ErrClosed
	}
	p := k.ports[port]
	if p == nil {
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: k.ip, Port: port})
		if err != nil {
			return nil, nil // another program's, or a transfer's own listener
		}
		p = &keptPort{ln: ln}
		k.ports[port] = p
		k.loops.Add(1)
		go k.serve(p)
	}
	if p.holder != nil {
		return nil, nil
	}
	p.holder = &keptReservation{kept: k, port: p, engine: engine,
		conn: make(chan net.Conn, 1), done: make(chan struct{})}
	return p.holder, nil
}

// serve hands each connection to a port to the reservation that holds it.
func (k *keptPorts) serve(p *keptPort) {
	defer k.loops.Done()
	var pause time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			k.mu.Lock()
			closed := k.closed
			k.mu.Unlock()
			if closed {
				return
			}
			// Out of file descriptors, say: wait a little, as net/http does.
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			k.logger.Warn("passive port accept", "port", p.ln.Addr(), "err", err, "retry_in", pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		k.mu.Lock()
		r := p.holder
		if r != nil {
			p.holder = nil // the port is free for the next transfer
			r.conn <- c    // never blocks: one connection per reservation
		}
		k.mu.Unlock()
		if r == nil {
			c.Close()
		}
	}
}

// close closes every port and waits for their loops. Reservations still
// waiting get net.ErrClosed.
func (k *keptPorts) close() {
	k.mu.Lock()
	k.closed = true
	for _, p := range k.ports {
		p.ln.Close()
		if p.holder != nil {
			p.holder.endLocked()
		}
	}
	k.mu.Unlock()
	k.loops.Wait()
}

// keptReservation is one transfer's passive listener on a kept port.
type keptReservation struct {
	kept   *keptPorts
	port   *keptPort
	engine *net.TCPListener // the engine's, stopped; its deadline is ignored
	conn   chan net.Conn    // the connection, once it came
	done   chan struct{}    // closed by Close
	ended  bool             // on kept.mu
}

// Accept returns the first connection to the port, waiting as long as the
// engine would for a data connection.
func (r *keptReservation) Accept() (net.Conn, error) {
	t := time.NewTimer(r.kept.wait)
	defer t.Stop()
	select {
	case c := <-r.conn:
		return c, nil
	case <-r.done:
		return nil, net.ErrClosed
	case <-t.C:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: r.Addr(), Err: os.ErrDeadlineExceeded}
	}
}

// Close gives the port back (if its connection did not come) and closes
// a connection that came but was not accepted.
func (r *keptReservation) Close() error {
	r.kept.mu.Lock()
	r.endLocked()
	r.kept.mu.Unlock()
	select {
	case c := <-r.conn:
		c.Close()
	default:
	}
	return r.engine.Close()
}

func (r *keptReservation) endLocked() {
	if r.ended {
		return
	}
	r.ended = true
	if r.port.holder == r {
		r.port.holder = nil
	}
	close(r.done)
}

func (r *keptReservation) Addr() net.Addr { return r.port.ln.Addr() }
