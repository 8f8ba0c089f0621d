package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/store"
)

type proc struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan error
}

func startFerry(t *testing.T, bin, dir, ftpAddr string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--ftp-addr", ftpAddr, "--ftp-passive-ports", "42130-42149")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), quietListeners...), env...)
	p := &proc{cmd: cmd, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ftpAddr, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("ferry did not start: %v\n%s", err, p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The Ferry process killed with SIGKILL in the middle of an upload and
// started again: no finished-looking file, no finished audit row, and the
// upload resumes where the data stopped.
func TestKillDuringUploadThenResume(t *testing.T) {
	bin := buildFerry(t)
	dir := t.TempDir()
	f := &ferryCmd{t: t, bin: bin, dir: dir}
	f.ok("", "partner", "create", "acme")
	f.ok("s3cret-password\n", "account", "create", "--partner", "acme", "alice", "--password-stdin")
	ftpAddr := freePort(t)
	p := startFerry(t, bin, dir, ftpAddr)

	data := make([]byte, 4<<20)
	rand.Read(data)
	conn, err := net.Dial("tcp", ftpAddr)
	if err != nil {
		t.Fatal(err)
	}
	tp := textproto.NewConn(conn)
	expect := func(code int, format string, args ...any) string {
		t.Helper()
		if format != "" {
			tp.PrintfLine(format, args...)
		}
		_, msg, err := tp.ReadResponse(code)
		if err != nil {
			t.Fatalf("%s: %v\n%s", fmt.Sprintf(format, args...), err, p.logs)
		}
		return msg
	}
	expect(220, "")
	expect(331, "USER alice")
	expect(230, "PASS s3cret-password")
	expect(200, "TYPE I")
	msg := expect(229, "EPSV")
	port := strings.TrimSuffix(msg[strings.Index(msg, "(|||")+4:], "|)")
	d, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	expect(150, "STOR big.bin")
	if _, err := d.Write(data[:1<<20]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-p.done
	d.Close()
	conn.Close()

	target := filepath.Join(dir, "data", "files", "acme", "big.bin")
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("a killed upload left a finished-looking file: %v", err)
	}
	p = startFerry(t, bin, dir, ftpAddr)
	st, err := store.Open(context.Background(), "", store.Options{SQLitePath: filepath.Join(dir, "data", "ferry.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.ListTransfers(context.Background(), store.TransferFilter{Operation: store.OpUpload, Status: store.StatusOK})
	if err != nil || len(rows) != 0 {
		t.Fatalf("finished upload rows after the kill: %+v %v", rows, err)
	}

	c, err := ftp.Dial(ftpAddr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("alice", "s3cret-password"); err != nil {
		t.Fatal(err)
	}
	if names, _ := c.NameList("/"); len(names) != 0 {
		t.Fatalf("listing after the kill: %v", names)
	}
	size, err := c.FileSize("big.bin")
	if err != nil || size <= 0 || size > 1<<20 {
		t.Fatalf("SIZE of the interrupted upload: %d %v\n%s", size, err, p.logs)
	}
	if err := c.StorFrom("big.bin", bytes.NewReader(data[size:]), uint64(size)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(target)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("resumed upload differs (%d bytes, %v)", len(got), err)
	}
	rows, err = st.ListTransfers(context.Background(), store.TransferFilter{Operation: store.OpUpload, Status: store.StatusOK})
	if err != nil || len(rows) != 1 || rows[0].FileSize != int64(len(data)) {
		t.Fatalf("upload rows after the resume: %+v %v", rows, err)
	}
}
