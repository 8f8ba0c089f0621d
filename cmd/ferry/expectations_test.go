package main

import (
	"regexp"
	"strings"
	"testing"
)

// The expectation and webhook commands apply the rules the API applies:
// bad input is exit 2 naming the fields; a webhook's made-up secret is
// shown once; a dead delivery is the only one that can be re-driven.
func TestExpectationAndWebhookCommands(t *testing.T) {
	c := newCLI(t)
	c.ok("partner", "create", "acme", "--contact", "ops@acme.example")
	out := c.ok("expectation", "create", "--partner", "acme", "--folder", "in", "--pattern", "*.csv",
		"--schedule", "every weekday by 06:00", "--time-zone", "Europe/Berlin", "--grace", "30m", "--notify-email", "ops@ferry.example")
	m := regexp.MustCompile(`created expectation (\S+) of acme: 1 × \*\.csv in /in by "every weekday by 06:00" \(Europe/Berlin\), grace 30m0s; next deadline \S+ 06:00 CES?T`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create: %s", out)
	}
	id := m[1]
	_, errOut, code := c.run("", "expectation", "create", "--partner", "acme", "--folder", "/in", "--pattern", "[",
		"--schedule", "0 6 * *", "--time-zone", "Berlin")
	if code != 2 || !strings.Contains(errOut, "pattern:") || !strings.Contains(errOut, "schedule:") || !strings.Contains(errOut, "time_zone:") {
		t.Fatalf("bad input: exit %d %s", code, errOut)
	}
	if out := c.ok("expectation", "set", "--partner", "acme", id, "--count", "3"); !strings.Contains(out, "3 × *.csv") {
		t.Fatalf("set: %s", out)
	}
	if out := c.ok("expectation", "list", "--partner", "acme"); !strings.Contains(out, id) || !strings.Contains(out, "Europe/Berlin") {
		t.Fatalf("list: %s", out)
	}
	if out := c.ok("expectation", "show", "--partner", "acme", id); !strings.Contains(out, "notify emails: ops@ferry.example") {
		t.Fatalf("show: %s", out)
	}
	if out := c.ok("expectation", "evaluations", "--partner", "acme"); !strings.HasPrefix(out, "DEADLINE") {
		t.Fatalf("evaluations: %s", out)
	}

	_, errOut, code = c.run("", "webhook", "create", "--url", "http://127.0.0.1:9/", "--event", "upload.finished")
	if code != 2 || !strings.Contains(errOut, "loopback") {
		t.Fatalf("loopback webhook: exit %d %s", code, errOut)
	}
	out = c.ok("webhook", "create", "--url", "https://hooks.example.com/ferry", "--event", "upload.finished,expectation.missed", "--partner", "acme")
	m = regexp.MustCompile(`webhook (\S+): .*\nsecret \(shown once\): (whsec_[0-9a-f]{48})\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("webhook create: %q", out)
	}
	if out := c.ok("webhook", "show", m[1]); strings.Contains(out, m[2]) {
		t.Fatalf("show prints the secret: %s", out)
	}
	out, _, _ = c.run("a-secret-of-sixteen+\n", "webhook", "create", "--url", "https://hooks.example.com/2", "--event", "file.deleted", "--secret-stdin")
	if strings.Contains(out, "secret") {
		t.Fatalf("a given secret is printed: %s", out)
	}
	if out := c.ok("webhook", "list"); strings.Count(out, "https://hooks.example.com/") != 2 {
		t.Fatalf("list: %s", out)
	}
	if out := c.ok("webhook", "deliveries", m[1], "--status", "dead"); !strings.HasPrefix(out, "ID") {
		t.Fatalf("deliveries: %s", out)
	}
	c.ok("webhook", "delete", m[1])
	c.ok("expectation", "delete", "--partner", "acme", id)
}
