package ftpd_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/testenv"
)

// Each finished upload and download is one INFO line of the server log
// with partner, account, path, bytes and duration.
func TestTransfersLogOneLineEach(t *testing.T) {
	var log testenv.Buffer
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) {
		s.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}})
	c := e.dial("alice")
	if err := c.Stor("report.csv", strings.NewReader("a,b\n1,2\n")); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr("report.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	line := func(op string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^time=\S+ level=INFO msg="` + op + ` finished" protocol=ftp remote=127\.0\.0\.1:\d+ ` +
			`partner=acme account=alice path=/report\.csv bytes=8 duration=\d[\w.µ]*$`)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, op := range []string{"upload", "download"} {
			if n := len(line(op).FindAllString(log.String(), -1)); n != 1 {
				return errors.New(op + ": want one line")
			}
		}
		return nil
	})
	// A refused download is the refusal's line, not a finished transfer.
	if _, err := c.Retr("missing.csv"); err == nil {
		t.Fatal("RETR of a missing file succeeded")
	}
	if got := strings.Count(log.String(), `msg="download finished"`); got != 1 {
		t.Fatalf("%d download lines after a refused RETR, want 1:\n%s", got, log.String())
	}
}

// A kick (web admin, API) closes the session without a warning in the
// log, over plain FTP and over TLS.
func TestKickLogsNoWarning(t *testing.T) {
	var log testenv.Buffer
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) {
		s.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}})
	e.dial("alice")
	e.dial("alice", ftp.DialWithExplicitTLS(&tls.Config{InsecureSkipVerify: true}))
	if n := len(e.srv.Sessions()); n != 2 {
		t.Fatalf("%d sessions, want 2", n)
	}
	for _, s := range e.srv.Sessions() {
		if !e.srv.Kick(s.ID) {
			t.Fatalf("kick %d: no such session", s.ID)
		}
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := len(e.srv.Sessions()); n != 0 {
			return fmt.Errorf("%d sessions left", n)
		}
		return nil
	})
	if strings.Contains(log.String(), "level=WARN") || strings.Contains(log.String(), "level=ERROR") {
		t.Fatalf("a kick logged a warning:\n%s", log.String())
	}
}

// A passive data connection from another address than the client's is
// refused (FTP bounce protection) with 425, and logged as a refusal, not
// as a server error.
func TestBounceRefusalIsNoServerError(t *testing.T) {
	var log testenv.Buffer
	e := newEnv(t, envOpts{passive: freeRange(t, 5), configure: func(s *ftpd.Server) {
		s.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}})
	c := e.raw(e.addr)
	c.login("alice")
	port := epsvPort(t, c)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	intruder, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("dial from 127.0.0.2: %v", err)
	}
	defer intruder.Close()
	if code, msg := c.cmd("STOR stolen.txt"); code != 425 {
		t.Fatalf("STOR with a data connection from 127.0.0.2: %d %s, want 425", code, msg)
	}
	if _, err := os.Stat(e.partnerFile("acme", "stolen.txt")); err == nil {
		t.Fatal("stolen.txt was stored")
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(log.String(), `msg="FTP request refused"`) {
			return errors.New("refusal not logged yet")
		}
		return nil
	})
	if strings.Contains(log.String(), "level=ERROR") {
		t.Fatalf("a refused bounce logged an error:\n%s", log.String())
	}
}
