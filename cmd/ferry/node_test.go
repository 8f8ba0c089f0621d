package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// node is one `ferry serve` process with every listener on its own free
// loopback port, so tests never bind the default ports.
type node struct {
	t                           *testing.T
	name                        string
	bin, dir                    string
	env                         []string // FERRY_* settings the process and `ferry healthcheck` share
	ftp, http, smtp, imap, pop3 string
	logs                        *syncBuffer
	cmd                         *exec.Cmd
	done                        chan struct{}
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newNode prepares a node; passive is its FTP passive port range. extra
// settings come last and win.
func newNode(t *testing.T, name, bin, dir, passive string, extra ...string) *node {
	t.Helper()
	n := &node{t: t, name: name, bin: bin, dir: dir, ftp: freePort(t), http: freePort(t), smtp: freePort(t),
		imap: freePort(t), pop3: freePort(t), logs: &syncBuffer{}}
	n.env = append([]string{
		"FERRY_FTP_ADDR=" + n.ftp, "FERRY_FTPS_ADDR=", "FERRY_HTTP_ADDR=" + n.http, "FERRY_SMTP_ADDR=" + n.smtp,
		"FERRY_IMAP_ADDR=" + n.imap, "FERRY_POP3_ADDR=" + n.pop3, "FERRY_FTP_PASSIVE_PORTS=" + passive,
	}, extra...)
	return n
}

// start runs `ferry serve`; the process is killed when the test ends.
func (n *node) start() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, "serve")
	n.cmd.Dir = n.dir
	n.cmd.Env = append(os.Environ(), n.env...)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.done = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	n.t.Cleanup(func() {
		_ = n.cmd.Process.Kill()
		<-n.done
		if n.t.Failed() {
			n.t.Logf("node %s log:\n%s", n.name, n.logs.String())
		}
	})
}

// waitHealthy runs `ferry healthcheck` with the node's settings until it
// passes: the container's HEALTHCHECK, used here as the readiness probe.
func (n *node) waitHealthy() {
	n.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.Command(n.bin, "healthcheck", "--timeout", "2s")
		cmd.Dir = n.dir
		cmd.Env = append(os.Environ(), n.env...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return
		}
		select {
		case <-n.done:
			n.t.Fatalf("node %s exited: %v\n%s", n.name, n.cmd.ProcessState, n.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("node %s not healthy: %v %s\n%s", n.name, err, out, n.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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
	n := newNode(t, "http", bin, dir, "42230-42239")
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
	_ = n.cmd.Process.Kill()
	<-n.done
	if out, code := check(n.env); code != 1 || !strings.Contains(out, "unhealthy") {
		t.Fatalf("after the server stopped: exit %d %s", code, out)
	}
	if out, code := check(noHTTP); code != 1 || !strings.Contains(out, "unhealthy: ftp") {
		t.Fatalf("after the server stopped, without HTTP: exit %d %s", code, out)
	}
}
