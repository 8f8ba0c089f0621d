package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
	"github.com/ferryhq/ferry/vfs"
)

// The Ferry process killed with SIGKILL in the middle of an upload and
// started again: no finished-looking file, no finished audit row, and the
// upload resumes where the data stopped.
func TestKillDuringUploadThenResume(t *testing.T) {
	bin := buildFerry(t)
	dir := t.TempDir()
	f := &ferryCmd{t: t, bin: bin, dir: dir}
	f.ok("", "partner", "create", "acme")
	f.ok("s3cret-password\n", "account", "create", "--partner", "acme", "alice", "--password-stdin")
	n := newNode(t, "crash", bin, dir)
	n.start()
	n.waitHealthy()
	ftpAddr := n.ftp

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
			t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
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
	// Kill once the server has put data of the upload on disk.
	testenv.Eventually(t, 10*time.Second, func() error {
		staged := int64(0)
		_ = filepath.WalkDir(filepath.Join(dir, "data", "files"), func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.Contains(p, vfs.StagingDir) {
				if fi, err := e.Info(); err == nil {
					staged += fi.Size()
				}
			}
			return nil
		})
		if staged == 0 {
			return errors.New("no data of the upload staged on disk")
		}
		return nil
	})
	n.proc.Kill() // SIGKILL
	d.Close()
	conn.Close()

	target := filepath.Join(dir, "data", "files", "acme", "big.bin")
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("a killed upload left a finished-looking file: %v", err)
	}
	n.start()
	n.waitHealthy()
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
		t.Fatalf("SIZE of the interrupted upload: %d %v", size, err)
	}
	if err := c.StorFrom("big.bin", bytes.NewReader(data[size:]), uint64(size)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(target)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("resumed upload differs (%d bytes, %v)", len(got), err)
	}
	// The node marks the upload done after its 226, in the background.
	storetest.WaitUploadsFinished(t, st)
	rows, err = st.ListTransfers(context.Background(), store.TransferFilter{Operation: store.OpUpload, Status: store.StatusOK})
	if err != nil || len(rows) != 1 || rows[0].FileSize != int64(len(data)) {
		t.Fatalf("upload rows after the resume: %+v %v", rows, err)
	}
}
