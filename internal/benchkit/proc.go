package benchkit

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Proc is a server a benchmark started: in a process group of its own
// (so that stopping it reaches what it forked), its output in a log file.
type Proc struct {
	Cmd  *exec.Cmd
	Log  string // the log file's path
	done chan struct{}
}

// StartProc starts cmd with its output going to logPath.
func StartProc(cmd *exec.Cmd, logPath string) (*Proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &Proc{Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the server's main process.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Ready waits until every probe succeeds, polling each in turn. It fails
// if the process exits first, or stops it and fails when timeout passes.
func (p *Proc) Ready(timeout time.Duration, probes ...func() error) error {
	deadline := time.Now().Add(timeout)
	for _, probe := range probes {
		for {
			err := probe()
			if err == nil {
				break
			}
			select {
			case <-p.done:
				return fmt.Errorf("exited at start (%v); see %s:\n%s", p.Cmd.ProcessState, p.Log, Tail(p.Log, 3000))
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				p.Stop(10 * time.Second)
				return fmt.Errorf("not ready after %v (%v); see %s:\n%s", timeout, err, p.Log, Tail(p.Log, 3000))
			}
		}
	}
	return nil
}

// Stop sends SIGTERM to the process group and, if it has not ended within
// grace, SIGKILL; it waits for the process to end.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	}
}

// Greets connects to addr and checks that the server's first line starts
// with prefix (220 for FTP and SMTP, "* OK" for IMAP, "+OK" for POP3).
func Greets(addr, prefix string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, prefix) {
		return fmt.Errorf("greeting %q", strings.TrimSpace(line))
	}
	return nil
}
