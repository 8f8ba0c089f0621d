package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
)

// node is one `ferry serve` process with every listener (FTP, FTPS, HTTP,
// SMTP, IMAP, POP3, the passive range) on its own free loopback port, given
// explicitly, so a node never falls back to a default port.
type node struct {
	t                                 *testing.T
	name                              string
	bin, dir                          string
	env                               []string // FERRY_* settings the process and `ferry healthcheck` share
	ftp, ftps, http, smtp, imap, pop3 string
	passive                           string
	proc                              *testenv.Proc
}

// newNode prepares a node; extra settings come last and win (an empty
// address switches that listener off).
func newNode(t *testing.T, name, bin, dir string, extra ...string) *node {
	t.Helper()
	n := &node{t: t, name: name, bin: bin, dir: dir, ftp: testenv.FreePort(t), ftps: testenv.FreePort(t),
		http: testenv.FreePort(t), smtp: testenv.FreePort(t), imap: testenv.FreePort(t), pop3: testenv.FreePort(t),
		passive: testenv.PortRange(t, 20)}
	n.env = append([]string{
		"FERRY_FTP_ADDR=" + n.ftp, "FERRY_FTPS_ADDR=" + n.ftps, "FERRY_HTTP_ADDR=" + n.http, "FERRY_SMTP_ADDR=" + n.smtp,
		"FERRY_IMAP_ADDR=" + n.imap, "FERRY_POP3_ADDR=" + n.pop3, "FERRY_FTP_PASSIVE_PORTS=" + n.passive,
	}, extra...)
	return n
}

// start runs `ferry serve` (again, after a stop, on the same ports); the
// process is killed when the test ends.
func (n *node) start() {
	n.t.Helper()
	cmd := exec.Command(n.bin, "serve")
	cmd.Dir = n.dir
	cmd.Env = childEnv(n.env...)
	n.proc = testenv.Start(n.t, "node "+n.name, cmd)
}

// waitHealthy runs `ferry healthcheck` with the node's settings until it
// passes (the container's HEALTHCHECK, used here as the readiness probe);
// it fails at once if the process exits.
func (n *node) waitHealthy() {
	n.t.Helper()
	n.proc.WaitReady(30*time.Second, func() error {
		cmd := exec.Command(n.bin, "healthcheck", "--timeout", "2s")
		cmd.Dir = n.dir
		cmd.Env = childEnv(n.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ferry healthcheck: %v: %s", err, out)
		}
		return nil
	})
}

// stop sends SIGTERM and returns the exit error (nil for a clean stop).
func (n *node) stop() error {
	n.t.Helper()
	return n.proc.Stop(syscall.SIGTERM, 20*time.Second)
}

// logs is what the current process wrote.
func (n *node) logs() string { return n.proc.Logs() }

// api calls the node's admin API with token and decodes a JSON answer.
func (n *node) api(method, path, token string, body any) (int, json.RawMessage) {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, "http://"+n.http+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s on node %s: %v", method, path, n.name, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// python runs a python3 script with env and returns its output; a failure
// fails the test.
func python(t *testing.T, script string, env ...string) string {
	t.Helper()
	cmd := exec.Command("python3", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// `ferry healthcheck`, the container's HEALTHCHECK: through GET /healthz,
// through the listeners' greetings when HTTP is off, and failing (exit 1,
// naming what did not answer) once the server is gone.
func TestHealthcheck(t *testing.T) {
	bin := buildFerry(t)
	dir := t.TempDir()
	check := func(env []string) (string, int) {
		f := &ferryCmd{t: t, bin: bin, dir: dir, env: env}
		return f.run("", "healthcheck", "--timeout", "2s")
	}
	n := newNode(t, "http", bin, dir)
	n.start()
	n.waitHealthy()
	if out, code := check(n.env); code != 0 || !strings.Contains(out, "ok http://"+n.http+"/healthz") {
		t.Fatalf("with HTTP: exit %d %s", code, out)
	}
	// Without HTTP it waits for each listener's greeting; a listener behind
	// the PROXY protocol is left out (it refuses anyone but the balancer).
	noHTTP := append(append([]string{}, n.env...), "FERRY_HTTP_ADDR=", "FERRY_PROXY_PROTOCOL=pop3", "FERRY_TRUSTED_PROXIES=10.0.0.1")
	out, code := check(noHTTP)
	if code != 0 {
		t.Fatalf("without HTTP: exit %d %s", code, out)
	}
	for _, want := range []string{"ok ftp " + n.ftp, "ok smtp " + n.smtp, "ok imap " + n.imap} {
		if !strings.Contains(out, want) {
			t.Errorf("without HTTP: %q missing in\n%s", want, out)
		}
	}
	if strings.Contains(out, "pop3") {
		t.Errorf("checked a PROXY-protocol listener:\n%s", out)
	}
	n.proc.Kill()
	if out, code := check(n.env); code != 1 || !strings.Contains(out, "unhealthy") {
		t.Fatalf("after the server stopped: exit %d %s", code, out)
	}
	if out, code := check(noHTTP); code != 1 || !strings.Contains(out, "unhealthy: ftp") {
		t.Fatalf("after the server stopped, without HTTP: exit %d %s", code, out)
	}
}
