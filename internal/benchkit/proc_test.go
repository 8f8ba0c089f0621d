package benchkit

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProc(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("220 ready\r\n"))
			c.Close()
		}
	}()
	if err := Greets(ln.Addr().String(), "220"); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	if err := Greets(ln.Addr().String(), "+OK"); err == nil || !strings.Contains(err.Error(), "220 ready") {
		t.Fatalf("a greeting with another prefix: %v", err)
	}

	// A running server: ready once its probe passes, stopped by Stop.
	p, err := StartProc(exec.Command("sh", "-c", "echo started; exec sleep 60"), filepath.Join(dir, "a.log"))
	if err != nil {
		t.Fatal(err)
	}
	tries := 0
	if err := p.Ready(5*time.Second, func() error {
		if tries++; tries < 3 {
			return net.ErrClosed
		}
		return nil
	}); err != nil || tries != 3 {
		t.Fatalf("ready after %d tries: %v", tries, err)
	}
	start := time.Now()
	p.Stop(5 * time.Second)
	if !p.Exited() || time.Since(start) > 3*time.Second {
		t.Fatalf("not stopped by SIGTERM (exited %v after %v)", p.Exited(), time.Since(start))
	}

	// A server that dies at start: Ready says so, with its log.
	p, err = StartProc(exec.Command("sh", "-c", "echo boom; exit 3"), filepath.Join(dir, "b.log"))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Ready(5*time.Second, func() error { return net.ErrClosed })
	if err == nil || !strings.Contains(err.Error(), "exited at start") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("a server that died: %v", err)
	}
}
