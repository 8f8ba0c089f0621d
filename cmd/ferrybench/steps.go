package main

import (
	"fmt"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The steps workload times each step of a small upload and of a delete as
// the client sees it, on a plain protocol client: EPSV to its 229, STOR
// to 150, the end of the data (the client closing the data connection) to
// 226, and DELE to 250; the median over every file of the round. Where the
// small-file rows differ between servers it says in which step: a Ferry
// upload is published (its quota reserved, renamed into place, its audit
// row queued) between the end of the data and the 226.
func (b *bench) steps(t *target, round int) error {
	nc, err := net.DialTimeout("tcp", t.addr, time.Minute)
	if err != nil {
		return err
	}
	// A server that stops answering ends the workload, not the bench.
	if err := nc.SetDeadline(time.Now().Add(stepsTimeout)); err != nil {
		nc.Close()
		return err
	}
	c := textproto.NewConn(nc)
	defer c.Close()
	s := &stepConn{c: c}
	if _, err := s.read(2); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if msg, err := s.cmd(3, "USER %s", t.user); err != nil {
		return fmt.Errorf("USER: %s: %w", msg, err)
	}
	if msg, err := s.cmd(2, "PASS %s", t.pass); err != nil {
		return fmt.Errorf("PASS: %s: %w", msg, err)
	}
	dir := fmt.Sprintf("steps-r%d", round)
	for _, line := range []string{"TYPE I", "MKD " + dir} {
		if msg, err := s.cmd(2, "%s", line); err != nil {
			return fmt.Errorf("%s: %s: %w", line, msg, err)
		}
	}
	data := make([]byte, b.o.fileSize)
	host, _, err := net.SplitHostPort(t.addr)
	if err != nil {
		return err
	}
	b.settle(t)
	n := b.o.files
	epsv, stor, end, dele := make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n)
	for i := range n {
		t0 := time.Now()
		msg, err := s.cmd(2, "EPSV")
		if err != nil {
			return fmt.Errorf("EPSV: %s: %w", msg, err)
		}
		epsv[i] = time.Since(t0)
		port, err := epsvPort(msg)
		if err != nil {
			return err
		}
		dc, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), time.Minute)
		if err != nil {
			return err
		}
		if err := dc.SetDeadline(time.Now().Add(time.Minute)); err != nil {
			dc.Close()
			return err
		}
		t0 = time.Now()
		if msg, err := s.cmd(1, "STOR %s/f-%05d.dat", dir, i); err != nil {
			dc.Close()
			return fmt.Errorf("STOR: %s: %w", msg, err)
		}
		stor[i] = time.Since(t0)
		if _, err := dc.Write(data); err != nil {
			dc.Close()
			return err
		}
		dc.Close()
		t0 = time.Now()
		if msg, err := s.read(2); err != nil {
			return fmt.Errorf("STOR: %s: %w", msg, err)
		}
		end[i] = time.Since(t0)
	}
	b.settle(t)
	for i := range n {
		t0 := time.Now()
		if msg, err := s.cmd(2, "DELE %s/f-%05d.dat", dir, i); err != nil {
			return fmt.Errorf("DELE: %s: %w", msg, err)
		}
		dele[i] = time.Since(t0)
	}
	_, _ = s.cmd(2, "QUIT")
	for m, d := range map[string][]time.Duration{mStepEPSV: epsv, mStepSTOR: stor, mStepEnd: end, mStepDELE: dele} {
		slices.Sort(d)
		b.res.add(m, t.name, float64(d[len(d)/2])/float64(time.Microsecond))
	}
	return nil
}

// stepsTimeout bounds a round of the steps workload on one server.
const stepsTimeout = 10 * time.Minute

// stepConn is a control connection that reads each reply whole.
type stepConn struct{ c *textproto.Conn }

// cmd sends a command and reads its reply, which must be of the class
// (first digit) given.
func (s *stepConn) cmd(class int, format string, args ...any) (string, error) {
	if err := s.c.PrintfLine(format, args...); err != nil {
		return "", err
	}
	return s.read(class)
}

func (s *stepConn) read(class int) (string, error) {
	_, msg, err := s.c.ReadResponse(class)
	return msg, err
}

// epsvPort is the port of a 229 reply: "Entering Extended Passive Mode
// (|||port|)".
func epsvPort(msg string) (int, error) {
	i := strings.Index(msg, "(|||")
	if i < 0 {
		return 0, fmt.Errorf("EPSV reply %q", msg)
	}
	rest := msg[i+4:]
	j := strings.IndexByte(rest, '|')
	if j < 0 {
		return 0, fmt.Errorf("EPSV reply %q", msg)
	}
	return strconv.Atoi(rest[:j])
}
