package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
)

// TestMain runs this package's tests, which start `ferry serve` processes,
// beside a Ferry on its README defaults (`go run ./cmd/ferry` in a fresh
// folder, no settings) when CI is set or FERRY_TEST_BESIDE_DEFAULTS=1: the
// developer's machine the suite must pass on. If the default ports are
// already taken (a developer's own Ferry), that is the same situation and
// the tests just run. It ends with the summary line of skipped tests.
func TestMain(m *testing.M) {
	var beside *defaultFerry
	if os.Getenv("CI") != "" || os.Getenv("FERRY_TEST_BESIDE_DEFAULTS") == "1" {
		var err error
		if beside, err = startDefaultFerry(); err != nil {
			fmt.Fprintf(os.Stderr, "a Ferry on its defaults beside the tests: %v\n", err)
			os.Exit(1)
		}
	}
	code := testenv.Run(m)
	if beside != nil {
		if err := beside.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "the Ferry on its defaults beside the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// defaultFerry is `ferry serve` with no settings in a fresh folder.
type defaultFerry struct {
	dir  string
	cmd  *exec.Cmd
	logs *testenv.Buffer
	done chan struct{}
}

// startDefaultFerry builds the binary and starts it on its defaults; it
// returns once the process listens on every default port, or nil (and no
// error) when it stopped because another program holds one of them.
func startDefaultFerry() (*defaultFerry, error) {
	dir, err := os.MkdirTemp("", "ferry-defaults-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "ferry")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	d := &defaultFerry{dir: dir, logs: &testenv.Buffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(bin, "serve")
	d.cmd.Dir = dir
	d.cmd.Env = childEnv() // no FERRY_* at all: the README defaults
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	// Ready when its HTTP listener (started last but one) answers and the
	// log shows every listener; an exit ends the wait.
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-d.done:
			if strings.Contains(d.logs.String(), "address already in use") {
				fmt.Fprintf(os.Stderr, "the default ports are taken already (a developer's Ferry?): the tests run beside that\n%s", d.logs.String())
				os.RemoveAll(dir)
				return nil, nil
			}
			return nil, fmt.Errorf("exited at start: %v\n%s", d.cmd.ProcessState, d.logs.String())
		case <-deadline:
			_ = d.cmd.Process.Kill()
			return nil, fmt.Errorf("not listening on its defaults within 30s\n%s", d.logs.String())
		case <-tick.C:
		}
		if strings.Count(d.logs.String(), "msg=listening") < 5 {
			continue
		}
		if resp, err := http.Get("http://127.0.0.1:8080/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Fprintf(os.Stderr, "a Ferry on its README defaults runs beside the tests (pid %d)\n", d.cmd.Process.Pid)
				return d, nil
			}
		}
	}
}

// stop fails if the Ferry exited while the tests ran (they must leave its
// ports alone), then stops it with SIGTERM.
func (d *defaultFerry) stop() error {
	defer os.RemoveAll(d.dir)
	select {
	case <-d.done:
		return fmt.Errorf("exited while the tests ran: %v\n%s", d.cmd.ProcessState, d.logs.String())
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		return fmt.Errorf("did not stop on SIGTERM\n%s", d.logs.String())
	}
	if !d.cmd.ProcessState.Success() {
		return fmt.Errorf("stopped with %v\n%s", d.cmd.ProcessState, d.logs.String())
	}
	return nil
}
