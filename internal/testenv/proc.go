package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a child process a test started (a `ferry serve`): its output is
// collected, cmd.Wait runs in a goroutine from the start, and every wait on
// it ends as soon as the process exits, with the tail of its log.
type Proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	logs Buffer
	done chan struct{}
	err  error // cmd.Wait's answer, set before done closes
}

// Start runs cmd (Stdout and Stderr go to the Proc's log). The process is
// killed and waited for when the test ends, and its log is shown if the
// test failed.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{t: t, name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.logs, &p.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.Logs())
		}
	})
	return p
}

// Cmd is the started command.
func (p *Proc) Cmd() *exec.Cmd { return p.cmd }

// Logs is everything the process wrote so far.
func (p *Proc) Logs() string { return p.logs.String() }

// Tail is the last lines of the log.
func (p *Proc) Tail() string {
	lines := strings.Split(strings.TrimRight(p.Logs(), "\n"), "\n")
	if len(lines) > 40 {
		lines = append([]string{"..."}, lines[len(lines)-40:]...)
	}
	return strings.Join(lines, "\n")
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitReady calls ready until it returns nil. It fails the test at once,
// with the tail of the log, when the process exits first, and with ready's
// last error and the tail when timeout passes.
func (p *Proc) WaitReady(timeout time.Duration, ready func() error) {
	p.t.Helper()
	err := poll(timeout, p.done, ready)
	switch {
	case err == nil:
	case errors.Is(err, errStopped):
		p.t.Fatalf("%s exited before it was ready (%v); last lines of its log:\n%s", p.name, p.err, p.Tail())
	default:
		p.t.Fatalf("%s not ready within %v: %v; last lines of its log:\n%s", p.name, timeout, err, p.Tail())
	}
}

// Stop sends sig and waits up to timeout for the exit; it returns the
// process's exit error (nil for a clean exit) or fails the test.
func (p *Proc) Stop(sig syscall.Signal, timeout time.Duration) error {
	p.t.Helper()
	if !p.Exited() {
		if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.t.Fatalf("signal %s: %v", p.name, err)
		}
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v of %v; last lines of its log:\n%s", p.name, timeout, sig, p.Tail())
		return nil
	}
}

// Kill ends the process with SIGKILL and waits for it.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// String names the process and its state for messages.
func (p *Proc) String() string {
	if p.Exited() {
		return fmt.Sprintf("%s (exited: %v)", p.name, p.err)
	}
	return p.name + " (running)"
}

// Buffer collects what a process or a server writes (its log) while the
// test reads it: safe for one writer and readers at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(b)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
