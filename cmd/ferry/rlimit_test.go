//go:build unix

package main

import (
	"bytes"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/ferryhq/ferry/config"
)

// ferry serve raises the soft descriptor limit to the hard one and warns
// when the connection limits allow more descriptors than that (1,010 mail
// connections once used up a 1,024 limit and FTP failed for everyone).
func TestCheckFileLimit(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
	if orig.Max < 512 {
		t.Skipf("hard descriptor limit %d is too low to lower the soft one", orig.Max)
	}
	low := orig
	low.Cur = orig.Max / 2
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}

	check := func(cfg config.Config) string {
		var buf bytes.Buffer
		checkFileLimit(slog.New(slog.NewTextHandler(&buf, nil)), cfg)
		return buf.String()
	}
	cfg := config.Default()
	cfg.FTPMaxSessions, cfg.MailMaxConnections = 10, 10
	out := check(cfg)
	var now syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now); err != nil {
		t.Fatal(err)
	}
	if now.Cur != orig.Max {
		t.Fatalf("soft limit %d after the check, want the hard limit %d", now.Cur, orig.Max)
	}
	if !strings.Contains(out, "level=INFO msg=\"open file limit\"") || strings.Contains(out, "level=WARN") {
		t.Fatalf("small limits:\n%s", out)
	}

	cfg.FTPMaxSessions = int(orig.Max) // three descriptors a session: more than the limit
	if out := check(cfg); !strings.Contains(out, "level=WARN msg=\"open file limit too low") {
		t.Fatalf("limits above the descriptor limit:\n%s", out)
	}
	cfg.FTPMaxSessions, cfg.MailMaxConnections = 10, 0
	if out := check(cfg); !strings.Contains(out, "listeners without a connection limit") || !strings.Contains(out, "listeners=smtp,imap,pop3") {
		t.Fatalf("unlimited mail listeners:\n%s", out)
	}
}
