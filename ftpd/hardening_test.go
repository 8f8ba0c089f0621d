package ftpd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/notify"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
	"github.com/ferryhq/ferry/vfs"
)

// staged sums the files in a partner's staging folder.
func staged(t *testing.T, e *env, partner string) (size int64, files int) {
	t.Helper()
	entries, err := os.ReadDir(e.partnerFile(partner, vfs.StagingDir))
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		fi, err := en.Info()
		if err != nil {
			continue // renamed meanwhile
		}
		size += fi.Size()
		files++
	}
	return size, files
}

func setQuota(t *testing.T, e *env, slug string, bytes, files int64) {
	t.Helper()
	p := partner(t, e, slug)
	p.QuotaBytes, p.QuotaFiles = bytes, files
	if err := e.svc.Store.UpdatePartner(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

// breakUpload starts STOR name, sends data, waits until the server has
// written all of it to the staging folder (beside what is staged already),
// and resets the data connection: the transfer broke.
func breakUpload(t *testing.T, e *env, c *ctl, name string, data []byte) {
	t.Helper()
	before, _ := staged(t, e, "acme")
	d := c.pasv()
	c.must(150, "STOR %s", name)
	if _, err := d.Write(data); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if n, _ := staged(t, e, "acme"); n < before+int64(len(data)) {
			return fmt.Errorf("%d bytes staged, want %d", n, before+int64(len(data)))
		}
		return nil
	})
	_ = d.(*net.TCPConn).SetLinger(0) // close with RST
	d.Close()
	if code, msg := c.read(); code/100 == 2 {
		t.Fatalf("a broken upload was acknowledged: %d %s", code, msg)
	}
}

// Issue 16 item 3: interrupted uploads count toward the quota while they
// are kept, and an upload refused for quota is not kept at all.
func TestInterruptedUploadsCountTowardQuota(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, envOpts{backend: b})
			const quota = 1 << 20
			setQuota(t, e, "acme", quota, 0)

			// Five uploads of 4 MiB to different names: each gets 552 and
			// leaves nothing staged (they left 5 MiB before).
			g := e.dial("alice")
			big := randomBytes(t, 4<<20)
			for i := range 5 {
				name := fmt.Sprintf("big%d.bin", i)
				err := g.Stor(name, bytes.NewReader(big))
				var pe *textproto.Error
				if !errors.As(err, &pe) || pe.Code != 552 {
					t.Fatalf("STOR %s over quota: %v, want 552", name, err)
				}
				if n, files := staged(t, e, "acme"); n != 0 || files != 0 {
					t.Fatalf("after a 552 on %s, %d bytes in %d files stay staged", name, n, files)
				}
				if _, err := os.Stat(e.partnerFile("acme", name)); !os.IsNotExist(err) {
					t.Fatalf("%s published: %v", name, err)
				}
			}

			// A broken upload is kept for a resume, and what it holds is
			// taken from what other uploads may write.
			c := e.raw(e.addr)
			c.login("alice")
			c.must(200, "TYPE I")
			first := randomBytes(t, 600<<10)
			breakUpload(t, e, c, "a.bin", first)
			if n, _ := staged(t, e, "acme"); n != int64(len(first)) {
				t.Fatalf("broken upload: %d bytes staged, want %d", n, len(first))
			}
			if msg := c.must(213, "AVBL"); strings.TrimSpace(msg) != strconv.Itoa(quota-len(first)) {
				t.Errorf("AVBL %q, want %d (the quota less the staged upload)", msg, quota-len(first))
			}
			// 600 KiB more does not fit beside it: 552, and not kept.
			d := c.pasv()
			c.must(150, "STOR b.bin")
			_, _ = d.Write(randomBytes(t, 600<<10))
			d.Close()
			if code, msg := c.read(); code != 552 {
				t.Fatalf("upload past the quota with a partial staged: %d %s, want 552", code, msg)
			}
			if n, _ := staged(t, e, "acme"); n != int64(len(first)) {
				t.Fatalf("%d bytes staged after the refused upload, want %d", n, len(first))
			}
			// A second broken upload is kept only if it fits beside the first.
			second := randomBytes(t, 300<<10)
			breakUpload(t, e, c, "c.bin", second)
			if n, files := staged(t, e, "acme"); n != int64(len(first)+len(second)) || files != 2 {
				t.Fatalf("%d bytes in %d staged files, want both partials", n, files)
			}
			if n, _ := staged(t, e, "acme"); n > quota {
				t.Fatalf("partials hold %d bytes, more than the quota", n)
			}

			// Resume still works: SIZE, then REST+STOR of the rest.
			full := append(append([]byte{}, first...), randomBytes(t, 100<<10)...)
			size, err := g.FileSize("a.bin")
			if err != nil || size != int64(len(first)) {
				t.Fatalf("SIZE of the partial: %d %v", size, err)
			}
			if err := g.StorFrom("a.bin", bytes.NewReader(full[size:]), uint64(size)); err != nil {
				t.Fatalf("resume: %v", err)
			}
			got, err := os.ReadFile(e.partnerFile("acme", "a.bin"))
			if err != nil || !bytes.Equal(got, full) {
				t.Fatalf("resumed file differs (%d bytes, %v)", len(got), err)
			}
			if p := partner(t, e, "acme"); p.UsedBytes != int64(len(full)) || p.UsedFiles != 1 {
				t.Fatalf("usage %d/%d after the resume", p.UsedBytes, p.UsedFiles)
			}
			if n, _ := staged(t, e, "acme"); n != int64(len(second)) {
				t.Fatalf("%d bytes staged after the resume, want the other partial's %d", n, len(second))
			}
		})
	}
}

// Issue 16 item 3, file quota: a kept partial holds a file of the quota.
func TestInterruptedUploadHoldsAFileOfTheQuota(t *testing.T) {
	e := newEnv(t, envOpts{})
	setQuota(t, e, "acme", 0, 1)
	c := e.raw(e.addr)
	c.login("alice")
	c.must(200, "TYPE I")
	breakUpload(t, e, c, "a.bin", randomBytes(t, 10<<10))
	d := c.pasv()
	code, msg := c.cmd("STOR b.bin")
	d.Close()
	if code != 552 {
		t.Fatalf("a second file beside a kept partial with a quota of one file: %d %s, want 552", code, msg)
	}
	// The partial itself may still be resumed.
	g := e.dial("alice")
	if err := g.StorFrom("a.bin", bytes.NewReader([]byte("end")), 10<<10); err != nil {
		t.Fatalf("resume within the file quota: %v", err)
	}
}

// Issue 16 item 5: a REST that cannot be honoured publishes nothing,
// records no finished upload and queues no alert.
func TestRefusedRestartPublishesNothing(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			var outbox *notify.Outbox
			e := newEnv(t, envOpts{backend: b, configure: func(s *ftpd.Server) {
				outbox = &notify.Outbox{Store: s.Store}
				s.OnUpload = outbox.OnUpload
			}})
			mustWrite(t, e.partnerFile("acme", "exists.txt"), []byte("hello"))
			c := e.raw(e.addr)
			c.login("alice")
			c.must(200, "TYPE I")
			// A position that is no byte offset is refused at REST (501).
			for _, rest := range []string{"-5", "-1", "abc", "1e3", ""} {
				c.must(501, "REST %s", rest)
			}
			// One past the end of the file is refused at the transfer (554).
			for _, tc := range []struct{ rest, name string }{
				{"99999999", "x.bin"}, {"99999999", "exists.txt"}, {"6", "exists.txt"}, {"1", "x.bin"},
			} {
				d := c.pasv()
				c.must(350, "REST %s", tc.rest)
				code, msg := c.cmd("STOR %s", tc.name)
				d.Close()
				if code != 554 {
					if code/100 == 1 {
						code, msg = c.read()
					}
					t.Fatalf("REST %s, STOR %s: %d %s; want 554", tc.rest, tc.name, code, msg)
				}
				if strings.Contains(msg, e.files) || strings.Contains(msg, vfs.StagingDir) {
					t.Errorf("REST %s, STOR %s: reply names a server path: %s", tc.rest, tc.name, msg)
				}
			}
			// Downloads are refused the same way.
			d := c.pasv()
			c.must(350, "REST 6")
			if code, msg := c.cmd("RETR exists.txt"); code != 554 {
				t.Errorf("REST 6, RETR: %d %s; want 554", code, msg)
			}
			d.Close()
			if _, err := os.Stat(e.partnerFile("acme", "x.bin")); !os.IsNotExist(err) {
				t.Fatalf("a refused restart published x.bin: %v", err)
			}
			if got, err := os.ReadFile(e.partnerFile("acme", "exists.txt")); err != nil || string(got) != "hello" {
				t.Fatalf("exists.txt changed: %q %v", got, err)
			}
			if n, files := staged(t, e, "acme"); n != 0 || files != 0 {
				t.Fatalf("a refused restart left %d bytes in %d staged files", n, files)
			}
			// An upload is marked done, and alerted, after its 226: had a
			// refused restart published anything, it would show below.
			storetest.WaitUploadsFinished(t, e.svc.Store)
			if rows := transfers(t, e, store.TransferFilter{Status: store.StatusOK, Operation: store.OpUpload}); len(rows) != 0 {
				t.Fatalf("finished upload rows for refused restarts: %+v", rows)
			}
			if rows := transfers(t, e, store.TransferFilter{Status: store.StatusOK, Operation: store.OpDownload}); len(rows) != 0 {
				t.Fatalf("finished download rows for a refused restart: %+v", rows)
			}
			n, err := e.svc.Store.ListNotifications(context.Background(), store.NotificationFilter{})
			if err != nil || len(n) != 0 {
				t.Fatalf("alerts queued for refused restarts: %+v %v", n, err)
			}
			// A valid restart still works and is alerted once.
			g := e.dial("alice")
			if err := g.StorFrom("exists.txt", strings.NewReader(" world"), 5); err != nil {
				t.Fatalf("REST 5, STOR: %v", err)
			}
			if got, _ := os.ReadFile(e.partnerFile("acme", "exists.txt")); string(got) != "hello world" {
				t.Fatalf("restarted upload: %q", got)
			}
			storetest.WaitUploadsFinished(t, e.svc.Store)
			if n, err := e.svc.Store.ListNotifications(context.Background(), store.NotificationFilter{}); err != nil || len(n) != 1 {
				t.Fatalf("alerts after one upload: %d %v", len(n), err)
			}
		})
	}
}

// Issue 16 item 7: RNTO after a failed RNFR does not rename the source of
// an earlier RNFR.
func TestFailedRNFRLeavesNoRenamePending(t *testing.T) {
	e := newEnv(t, envOpts{})
	mustWrite(t, e.partnerFile("acme", "keep.txt"), []byte("keep"))
	c := e.raw(e.addr)
	c.login("alice")
	c.must(350, "RNFR keep.txt")
	c.must(550, "RNFR missing.txt")
	c.must(503, "RNTO renamed.txt")
	if _, err := os.Stat(e.partnerFile("acme", "keep.txt")); err != nil {
		t.Fatalf("keep.txt was renamed: %v", err)
	}
	if _, err := os.Stat(e.partnerFile("acme", "renamed.txt")); !os.IsNotExist(err) {
		t.Fatalf("renamed.txt exists: %v", err)
	}
	// The refusal is not sticky: a fresh RNFR/RNTO works.
	c.must(350, "RNFR keep.txt")
	c.must(250, "RNTO renamed.txt")
	if _, err := os.Stat(e.partnerFile("acme", "renamed.txt")); err != nil {
		t.Fatalf("rename after a fresh RNFR: %v", err)
	}
	// Two renames in a row, the second RNFR failing in between.
	c.must(350, "RNFR renamed.txt")
	c.must(550, "RNFR nope.txt")
	c.must(350, "RNFR renamed.txt")
	c.must(250, "RNTO final.txt")
	// An RNFR is used once: a second RNTO, or one with no RNFR, is out of
	// sequence.
	c.must(503, "RNTO again.txt")
}

// Issue 16 item 10: no reply names a server path or an internal error
// chain, whatever the error.
func TestRepliesNameNoServerPath(t *testing.T) {
	e := newEnv(t, envOpts{})
	setQuota(t, e, "other", 100, 0)
	mustWrite(t, e.partnerFile("acme", "f.txt"), []byte("file"))
	mustWrite(t, e.partnerFile("acme", "dir/inner.txt"), []byte("inner"))
	if err := os.Symlink("/etc/passwd", e.partnerFile("acme", "out")); err != nil {
		t.Fatal(err)
	}
	var replies []string
	check := func(c *ctl, cmd string, transfer bool) {
		t.Helper()
		var d net.Conn
		if transfer {
			d = c.pasv()
		}
		code, msg := c.cmd("%s", cmd)
		if code/100 == 1 && d != nil {
			// Send a little and close: the transfer's final reply is the one of interest.
			_, _ = d.Write(bytes.Repeat([]byte("x"), 1000))
			d.Close()
			code, msg = c.read()
		} else if d != nil {
			d.Close()
		}
		if code/100 != 4 && code/100 != 5 {
			t.Errorf("%s: %d %s, want an error", cmd, code, msg)
		}
		replies = append(replies, fmt.Sprintf("%s -> %d %s", cmd, code, msg))
	}
	a := e.raw(e.addr)
	a.login("alice")
	a.must(200, "TYPE I")
	for _, cmd := range []string{
		"RETR missing.txt", "RETR dir", "RETR out", "STOR dir", "APPE dir", "STOR " + vfs.StagingDir + "/x",
		"STOR " + strings.Repeat("n", 300),
	} {
		check(a, cmd, true)
	}
	a.must(501, "REST -5")
	a.must(350, "REST 5")
	check(a, "STOR x.bin", true)
	a.must(350, "REST 99999999")
	check(a, "RETR f.txt", true)
	for _, cmd := range []string{
		"CWD missing", "CWD f.txt", "MKD dir", "RMD dir", "RMD missing", "DELE dir", "DELE missing.txt",
		"RNFR missing.txt", "SIZE missing.txt", "SIZE out", "MDTM missing.txt", "MLST missing.txt",
		"STAT missing", "MFMT 20200101000000 missing.txt", "SITE CHMOD 777 f.txt", "HASH missing.txt",
		"MKD " + vfs.StagingDir, "RNFR " + vfs.StagingDir, "AVBL missing",
	} {
		check(a, cmd, false)
	}
	a.must(350, "RNFR f.txt")
	check(a, "RNTO "+vfs.StagingDir+"/f.txt", false)
	a.must(350, "RNFR f.txt")
	check(a, "RNTO missing/f.txt", false)
	// A download-only account, and a partner over quota.
	dana := e.raw(e.addr)
	dana.login("dana")
	// A refused upload says what the account may not do, and only that.
	d := dana.pasv()
	if code, msg := dana.cmd("STOR refused.txt"); code != 550 || msg != "Permission denied: this account may not upload" {
		t.Errorf("STOR without the upload permission: %d %s", code, msg)
	}
	d.Close()
	for _, cmd := range []string{"STOR new.txt", "APPE f.txt"} {
		check(dana, cmd, true)
	}
	for _, cmd := range []string{"DELE f.txt", "MKD new", "MFMT 20200101000000 f.txt"} {
		check(dana, cmd, false)
	}
	dana.must(350, "RNFR f.txt")
	check(dana, "RNTO g.txt", false)
	bob := e.raw(e.addr)
	bob.login("bob")
	bob.must(200, "TYPE I")
	check(bob, "STOR big.bin", true)

	home := filepath.Dir(e.files)
	for _, r := range replies {
		// No path, no Go error chain, and not the engine's wrapping of the
		// driver's error either (the control layer takes it out).
		for _, bad := range []string{home, e.files, "/tmp", "driver error", "calling GetHandle", "open /", "stat /",
			"vfs:", "lstat", "truncate", "escapes", "no such file or directory", "permission denied", "writeto",
			"tcp ", "invalid argument", "quota exceeded:", "partner "} {
			if strings.Contains(r, bad) {
				t.Errorf("reply shows %q: %s", bad, r)
			}
		}
	}
	if testing.Verbose() {
		t.Logf("replies:\n%s", strings.Join(replies, "\n"))
	}
}

// STAT of a folder lists its entries without the engine's stray "%s";
// symlinks are listed as their targets inside the tree, and not at all
// when they lead out of it or dangle (LIST, MLSD, NLST, STAT alike).
func TestListingsOfFoldersAndSymlinks(t *testing.T) {
	e := newEnv(t, envOpts{})
	mustWrite(t, e.partnerFile("acme", "f.txt"), []byte("file"))
	mustWrite(t, e.partnerFile("acme", "dir/inner.txt"), []byte("inner"))
	for link, target := range map[string]string{
		"link-file": "f.txt", "link-dir": "dir", "link-out": "/etc/passwd", "link-rel-out": "../other",
		"dangling": "nothing-here",
	} {
		if err := os.Symlink(target, e.partnerFile("acme", link)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]ftp.EntryType{"f.txt": ftp.EntryTypeFile, "dir": ftp.EntryTypeFolder,
		"link-file": ftp.EntryTypeFile, "link-dir": ftp.EntryTypeFolder}

	c := e.raw(e.addr)
	c.login("alice")
	// 212 would be right for a folder; the engine's reply, see statListing.
	code, msg := c.cmd("STAT /")
	if code != 212 && code != 213 {
		t.Fatalf("STAT /: %d %s", code, msg)
	}
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	var statNames []string
	for _, l := range lines[1:] { // the first line is the reply's text
		if strings.Contains(l, "%s") {
			t.Errorf("STAT line with a stray %%s: %q", l)
		}
		f := strings.Fields(l)
		if len(f) > 0 {
			statNames = append(statNames, f[len(f)-1])
		}
	}
	for name := range want {
		if !containsName(statNames, name) {
			t.Errorf("STAT / lacks %s: %q", name, lines)
		}
	}
	if msg := c.must(213, "STAT f.txt"); strings.Contains(msg, "%s") || !strings.Contains(msg, "f.txt") {
		t.Errorf("STAT of a file: %q", msg)
	}

	// LIST, raw: no line is a link.
	d := c.pasv()
	c.must(150, "LIST")
	raw, _ := io.ReadAll(d)
	d.Close()
	c.expect(226)
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if strings.HasPrefix(strings.ToLower(l), "l") {
			t.Errorf("LIST shows a link: %q", l)
		}
	}

	// LIST and MLSD through the Go client.
	for _, mlsd := range []bool{true, false} {
		g := e.dial("alice", ftp.DialWithDisabledMLSD(!mlsd))
		entries, err := g.List("/")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]ftp.EntryType{}
		for _, en := range entries {
			got[en.Name] = en.Type
		}
		for name, typ := range want {
			if gt, ok := got[name]; !ok || gt != typ {
				t.Errorf("mlsd=%v: %s listed as %v (present %v), want %v", mlsd, name, gt, ok, typ)
			}
		}
		for _, hidden := range []string{"link-out", "link-rel-out", "dangling"} {
			if _, ok := got[hidden]; ok {
				t.Errorf("mlsd=%v: %s is listed", mlsd, hidden)
			}
		}
		names, err := g.NameList("/")
		if err != nil {
			t.Fatal(err)
		}
		if containsName(names, "link-out") || containsName(names, "dangling") || !containsName(names, "link-file") {
			t.Errorf("NLST %v", names)
		}
	}
}

func containsName(names []string, name string) bool {
	for _, n := range names {
		if strings.TrimPrefix(n, "/") == name {
			return true
		}
	}
	return false
}

// AVBL tells the partner what its quota leaves free; without a quota it is
// refused unless the operator allows reporting the data volume's space.
func TestAVBL(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.raw(e.addr)
	c.login("alice")
	if code, msg := c.cmd("AVBL"); code != 550 || !strings.Contains(msg, "No quota") {
		t.Errorf("AVBL without a quota: %d %s, want 550 no quota", code, msg)
	}
	setQuota(t, e, "acme", 5000, 0)
	c.must(200, "TYPE I")
	c.stor("a.bin", make([]byte, 1200))
	if msg := c.must(213, "AVBL"); strings.TrimSpace(msg) != "3800" {
		t.Errorf("AVBL %q, want 3800", msg)
	}

	disk := newEnv(t, envOpts{configure: func(s *ftpd.Server) { s.AVBLDiskSpace = true }})
	c = disk.raw(disk.addr)
	c.login("alice")
	msg := c.must(213, "AVBL")
	if n, err := strconv.ParseInt(strings.TrimSpace(msg), 10, 64); err != nil || n <= 0 {
		t.Errorf("AVBL with AVBLDiskSpace: %q", msg)
	}
}

// The engine answers PROT itself (200 for any level); for an account that
// requires TLS, a transfer after PROT C is refused by the driver with a
// reply that says what to do, not with the engine's 421 (which clients
// read as the server closing the session), and nothing is transferred.
func TestClearDataRefusedForTLSAccounts(t *testing.T) {
	e := newEnv(t, envOpts{})
	mustWrite(t, e.partnerFile("acme", "f.txt"), []byte("file"))
	c := e.raw(e.addr)
	c.startTLS()
	c.login("tina")
	c.must(200, "PBSZ 0")
	for _, level := range []string{"C", "S", "E"} {
		c.cmd("PROT %s", level) // the engine's 200; see errProtRequired
		for _, cmd := range []string{"LIST", "RETR f.txt", "STOR g.txt"} {
			d := c.pasv()
			code, msg := c.cmd("%s", cmd)
			d.Close()
			if code/100 == 1 || code/100 == 2 || code == 421 || !strings.Contains(msg, "PROT P") {
				t.Errorf("PROT %s, %s: %d %s; want a refusal asking for PROT P", level, cmd, code, msg)
			}
		}
	}
	if _, err := os.Stat(e.partnerFile("acme", "g.txt")); !os.IsNotExist(err) {
		t.Fatalf("an upload over a clear data connection was stored: %v", err)
	}
	c.must(200, "PROT P")
	c.must(221, "QUIT")
}

// The same refusals seen by Python's ftplib: a REST past the end or
// negative (storbinary's rest=), RNTO after a failed RNFR, STAT of a
// folder, and no reply naming a server path.
func TestHardeningWithFtplib(t *testing.T) {
	py := need(t, "python3")
	e := newEnv(t, envOpts{})
	mustWrite(t, e.partnerFile("acme", "keep.txt"), []byte("keep"))
	dir := t.TempDir()
	script := `
import ftplib, io, sys
port, pw, files = int(sys.argv[1]), sys.argv[2], sys.argv[3]
f = ftplib.FTP()
f.connect("127.0.0.1", port, timeout=20)
f.login("alice", pw)
replies = []
for rest in (99999999, -5):
    try:
        f.storbinary("STOR x.bin", io.BytesIO(b"data"), rest=rest)
        raise SystemExit("REST %d accepted" % rest)
    except ftplib.error_perm as e:
        replies.append(str(e))
f.sendcmd("RNFR keep.txt")
try:
    f.sendcmd("RNFR missing.txt")
    raise SystemExit("RNFR of a missing file accepted")
except ftplib.error_perm as e:
    replies.append(str(e))
try:
    f.sendcmd("RNTO renamed.txt")
    raise SystemExit("RNTO after a failed RNFR accepted")
except ftplib.error_perm as e:
    replies.append(str(e))
stat = f.sendcmd("STAT /")
assert "%s" not in stat and "keep.txt" in stat, stat
assert "x.bin" not in f.nlst(), f.nlst()
for r in replies:
    assert files not in r and ".ferry-partial" not in r, r
f.quit()
print("ok")
`
	sp := filepath.Join(dir, "client.py")
	mustWrite(t, sp, []byte(script))
	if out := run(t, dir, py, sp, e.port(), pw, e.files); !strings.Contains(out, "ok") {
		t.Fatalf("python: %s", out)
	}
	if _, err := os.Stat(e.partnerFile("acme", "keep.txt")); err != nil {
		t.Fatalf("keep.txt renamed: %v", err)
	}
	if _, err := os.Stat(e.partnerFile("acme", "x.bin")); !os.IsNotExist(err) {
		t.Fatalf("x.bin published: %v", err)
	}
}
