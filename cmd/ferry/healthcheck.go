package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ferryhq/ferry/config"
)

// healthcheck is the container's HEALTHCHECK: the image has no shell, curl
// or nc, so the binary checks itself. With the HTTP listener on it asks
// GET /healthz there (serve stops every listener when one fails, so a live
// HTTP server means a live process with all its listeners). Without it, it
// connects to every plain listener that is not behind a PROXY-protocol load
// balancer and waits for the greeting (FTP/SMTP "220", IMAP "* OK", POP3
// "+OK"). Exit status 0 is healthy, 1 is not.
func (a *app) healthcheck(ctx context.Context, args []string) error {
	c := newCommand("healthcheck", a.stderr)
	timeout := c.fs.Duration("timeout", 5*time.Second, "give up on each check after this long")
	// Docker reserves exit status 2: every failure here is a plain 1.
	cfg, err := c.parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return errors.New("unhealthy: " + err.Error()) // not a *config.Error: exit 1
	}
	if len(c.pos) > 0 {
		return fmt.Errorf("unhealthy: healthcheck takes no arguments, got %q", c.pos)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if cfg.HTTPAddr != "" {
		url := "http://" + loopback(cfg.HTTPAddr) + "/healthz"
		if err := checkHTTP(ctx, url); err != nil {
			return fmt.Errorf("unhealthy: %s: %w", url, err)
		}
		fmt.Fprintln(a.stdout, "ok", url)
		return nil
	}
	checks := []struct{ name, addr, greeting string }{
		{"ftp", cfg.FTPAddr, "220"}, {"smtp", cfg.SMTPAddr, "220"},
		{"imap", cfg.IMAPAddr, "* OK"}, {"pop3", cfg.POP3Addr, "+OK"},
		{"ftps", cfg.FTPSAddr, ""}, // TLS from the first byte: a connection is all we ask
	}
	n := 0
	for _, ch := range checks {
		// A PROXY-protocol listener refuses anyone but the load balancer.
		if ch.addr == "" || cfg.ProxyProtocolOn(ch.name) {
			continue
		}
		n++
		addr := loopback(ch.addr)
		if err := checkGreeting(ctx, addr, ch.greeting); err != nil {
			return fmt.Errorf("unhealthy: %s on %s: %w", ch.name, addr, err)
		}
		fmt.Fprintln(a.stdout, "ok", ch.name, addr)
	}
	if n == 0 {
		return fmt.Errorf("unhealthy: nothing to check: set %s (GET /healthz) or a listener without the PROXY protocol",
			config.Env("http-addr"))
	}
	return nil
}

// loopback turns a listen address into one to dial on this machine:
// "0.0.0.0:8080" and ":8080" become "127.0.0.1:8080", "[::]:8080" "[::1]:8080".
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

func checkHTTP(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

func checkGreeting(ctx context.Context, addr, want string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if want == "" {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no greeting: %w", err)
	}
	if !strings.HasPrefix(line, want) {
		return fmt.Errorf("greeting %q, want %q", strings.TrimSpace(line), want)
	}
	return nil
}
