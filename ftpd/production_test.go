package ftpd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store"
	"github.com/ferryhq/ferry/store/storetest"
	"github.com/ferryhq/ferry/vfs"
)

func transfers(t *testing.T, e *env, f store.TransferFilter) []store.Transfer {
	t.Helper()
	rows, err := e.svc.Store.ListTransfers(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// settledTransfers waits until at least n rows match f (rows other than
// finished uploads are written in the background) and returns them.
func settledTransfers(t *testing.T, e *env, f store.TransferFilter, n int) []store.Transfer {
	t.Helper()
	var rows []store.Transfer
	testenv.Eventually(t, 5*time.Second, func() error {
		if rows = transfers(t, e, f); len(rows) < n {
			return fmt.Errorf("%d transfer rows match %+v, want %d: %+v", len(rows), f, n, rows)
		}
		return nil
	})
	return rows
}

// waitStaged waits until the server has put data of an upload in progress
// into partner's staging folder.
func waitStaged(t *testing.T, e *env, partner string) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, func() error {
		entries, _ := os.ReadDir(e.partnerFile(partner, vfs.StagingDir))
		for _, en := range entries {
			if fi, err := en.Info(); err == nil && fi.Size() > 0 {
				return nil
			}
		}
		return fmt.Errorf("no data staged in %s", e.partnerFile(partner, vfs.StagingDir))
	})
}

func partner(t *testing.T, e *env, slug string) *store.Partner {
	t.Helper()
	p, err := e.svc.Store.PartnerBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// An upload cut mid-way (the client resets the data connection, or sends
// ABOR) is never visible as a finished file, has no finished audit row, and
// can be resumed from where it stopped.
func TestInterruptedUploadIsInvisibleAndResumable(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, envOpts{backend: b})
			data := randomBytes(t, 3<<20)
			c := e.raw(e.addr)
			c.login("alice")
			c.must(200, "TYPE I")
			d := c.pasv()
			c.must(150, "STOR cut.bin")
			if _, err := d.Write(data[:1<<20]); err != nil {
				t.Fatal(err)
			}
			waitStaged(t, e, "acme")      // the server has written some of it
			d.(*net.TCPConn).SetLinger(0) // close with RST: the transfer broke
			d.Close()
			if code, msg := c.read(); code/100 == 2 {
				t.Fatalf("a broken upload was acknowledged: %d %s", code, msg)
			}
			if _, err := os.Stat(e.partnerFile("acme", "cut.bin")); !os.IsNotExist(err) {
				t.Fatalf("broken upload visible on disk: %v", err)
			}
			g := e.dial("alice")
			entries, err := g.List("/")
			if err != nil {
				t.Fatal(err)
			}
			for _, en := range entries {
				if en.Name == "cut.bin" || en.Name == vfs.StagingDir {
					t.Fatalf("listing shows %s", en.Name)
				}
			}
			// A published upload is marked done after its 226: wait, so
			// that one published by mistake would show here.
			storetest.WaitUploadsFinished(t, e.svc.Store)
			if rows := transfers(t, e, store.TransferFilter{Operation: store.OpUpload, Status: store.StatusOK}); len(rows) != 0 {
				t.Fatalf("finished audit row for a broken upload: %+v", rows)
			}
			if rows := settledTransfers(t, e, store.TransferFilter{Operation: store.OpUpload, Status: store.StatusFailed}, 1); len(rows) != 1 {
				t.Fatalf("want one failed upload row, got %+v", rows)
			}
			if p := partner(t, e, "acme"); p.UsedBytes != 0 || p.UsedFiles != 0 {
				t.Fatalf("usage counts a broken upload: %d bytes %d files", p.UsedBytes, p.UsedFiles)
			}
			// SIZE tells the client where to resume; REST+STOR continues.
			size, err := g.FileSize("cut.bin")
			if err != nil || size <= 0 || size > 1<<20 {
				t.Fatalf("SIZE of the partial upload: %d %v", size, err)
			}
			if err := g.StorFrom("cut.bin", bytes.NewReader(data[size:]), uint64(size)); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(e.partnerFile("acme", "cut.bin"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("resumed file differs (%d bytes, err %v)", len(got), err)
			}
			storetest.WaitUploadsFinished(t, e.svc.Store)
			rows := transfers(t, e, store.TransferFilter{Operation: store.OpUpload, Status: store.StatusOK})
			sum := sha256.Sum256(data)
			if len(rows) != 1 || rows[0].SHA256 != fmt.Sprintf("%x", sum) || rows[0].FileSize != int64(len(data)) ||
				rows[0].Bytes != int64(len(data))-size || rows[0].Path != "/cut.bin" {
				t.Fatalf("upload row %+v", rows)
			}
			if p := partner(t, e, "acme"); p.UsedBytes != int64(len(data)) || p.UsedFiles != 1 {
				t.Fatalf("usage after resume: %d bytes %d files", p.UsedBytes, p.UsedFiles)
			}

			// ABOR during an upload: same outcome.
			d = c.pasv()
			c.must(150, "STOR aborted.bin")
			d.Write(data[:100000])
			waitStaged(t, e, "acme")
			code, _ := c.cmd("ABOR")
			d.Close()
			for code != 226 && code != 225 && code/100 != 4 && code/100 != 5 {
				code, _ = c.read()
			}
			if _, err := os.Stat(e.partnerFile("acme", "aborted.bin")); !os.IsNotExist(err) {
				t.Fatalf("aborted upload visible: %v", err)
			}
		})
	}
}

func TestQuota(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, envOpts{backend: b})
			ctx := context.Background()
			p := partner(t, e, "acme")
			p.QuotaBytes, p.QuotaFiles = 1000, 2
			if err := e.svc.Store.UpdatePartner(ctx, p); err != nil {
				t.Fatal(err)
			}
			c := e.raw(e.addr)
			c.login("alice")
			c.must(200, "TYPE I")
			c.stor("a.bin", bytes.Repeat([]byte("a"), 600))
			// Over the byte quota: 552, nothing published, usage exact.
			d := c.pasv()
			c.must(150, "STOR b.bin")
			d.Write(bytes.Repeat([]byte("b"), 600))
			d.Close()
			if code, msg := c.read(); code != 552 {
				t.Fatalf("upload over quota: %d %s, want 552", code, msg)
			}
			if _, err := os.Stat(e.partnerFile("acme", "b.bin")); !os.IsNotExist(err) {
				t.Fatal("upload over quota published")
			}
			if p := partner(t, e, "acme"); p.UsedBytes != 600 || p.UsedFiles != 1 {
				t.Fatalf("usage %d/%d, want 600/1", p.UsedBytes, p.UsedFiles)
			}
			c.cmd("DELE b.bin") // drop the partial
			c.stor("c.bin", []byte("cc"))
			// Over the file quota: 552 at once.
			d = c.pasv()
			code, msg := c.cmd("STOR d.bin")
			d.Close()
			if code != 552 {
				t.Fatalf("third file: %d %s, want 552", code, msg)
			}
			// Replacing a file within quota is fine; usage follows.
			c.stor("a.bin", bytes.Repeat([]byte("A"), 900))
			if p := partner(t, e, "acme"); p.UsedBytes != 902 || p.UsedFiles != 2 {
				t.Fatalf("usage after replace %d/%d, want 902/2", p.UsedBytes, p.UsedFiles)
			}
			c.must(250, "DELE a.bin")
			c.must(350, "RNFR c.bin")
			c.must(250, "RNTO renamed.bin")
			// The delete's refund is written with its audit row, in the
			// background; AVBL, as any quota check, waits for it.
			if msg := c.must(213, "AVBL"); !strings.Contains(msg, "998") {
				t.Errorf("AVBL %q, want the 998 bytes left of the quota", msg)
			}
			if p := partner(t, e, "acme"); p.UsedBytes != 2 || p.UsedFiles != 1 {
				t.Fatalf("usage after delete %d/%d, want 2/1", p.UsedBytes, p.UsedFiles)
			}
			// At the file quota, a file deleted makes room for the next
			// upload at once, every time.
			p = partner(t, e, "acme")
			p.QuotaFiles = 1
			if err := e.svc.Store.UpdatePartner(ctx, p); err != nil {
				t.Fatal(err)
			}
			for i := range 30 {
				c.must(250, "DELE renamed.bin")
				d := c.pasv()
				if code, msg := c.cmd("STOR renamed.bin"); code != 150 {
					t.Fatalf("upload %d right after a delete at the file quota: %d %s", i, code, msg)
				}
				d.Write([]byte("rr"))
				d.Close()
				if code, msg := c.read(); code != 226 {
					t.Fatalf("upload %d right after a delete at the file quota: %d %s", i, code, msg)
				}
			}
			// Recalc from disk agrees.
			got, err := e.svc.RecalcUsage(ctx, "acme")
			if err != nil || got.UsedBytes != 2 || got.UsedFiles != 1 {
				t.Fatalf("recalc %+v %v", got, err)
			}
		})
	}
}

func TestSessionLimits(t *testing.T) {
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) { s.MaxSessionsPerIP = 2; s.MaxSessionsPerAccount = 1 }})
	a := e.raw(e.addr)
	a.login("alice")
	b := e.raw(e.addr)
	// The account limit: alice may not log in twice.
	b.must(331, "USER alice")
	if code, msg := b.cmd("PASS %s", pw); code != 530 || !strings.Contains(msg, "too many sessions") {
		t.Fatalf("second alice session: %d %s", code, msg)
	}
	b.waitClosed() // the server hangs up after a refused login, freeing the place
	b2 := e.raw(e.addr)
	b2.login("bob")
	// The per-IP limit: the third connection is turned away with 421.
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 200)
	n, _ := conn.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "421 ") {
		t.Fatalf("third connection from one address got %q, want 421", buf[:n])
	}
	a.must(221, "QUIT")
	// A place is free again once the server has closed alice's session.
	testenv.Eventually(t, 5*time.Second, func() error {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _ := conn.Read(buf)
		conn.Close()
		if !strings.HasPrefix(string(buf[:n]), "220 ") {
			return fmt.Errorf("no place after QUIT: %q; sessions %+v", buf[:n], e.srv.Sessions())
		}
		return nil
	})
}

func TestBanAfterFailedLogins(t *testing.T) {
	e := newEnv(t, envOpts{maxFails: 3})
	for i := 0; i < 3; i++ {
		c := e.raw(e.addr)
		c.must(331, "USER alice")
		c.must(530, "PASS wrong-%d", i)
	}
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 200)
	n, _ := conn.Read(buf)
	conn.Close()
	if !strings.HasPrefix(string(buf[:n]), "421 ") || !strings.Contains(string(buf[:n]), "banned") {
		t.Fatalf("banned address got %q", buf[:n])
	}
	list, err := e.guard.List(context.Background())
	if err != nil || len(list) != 1 || list[0].IP != "127.0.0.1" {
		t.Fatalf("bans %+v %v", list, err)
	}
	// The ban (2s in tests) expires: the guard's clock moves past it.
	e.clock.Advance(2100 * time.Millisecond)
	c := e.raw(e.addr)
	c.login("alice")
	if rows := settledTransfers(t, e, store.TransferFilter{Operation: store.OpLogin, Status: store.StatusFailed}, 3); len(rows) != 3 {
		t.Fatalf("failed logins in the audit log: %d", len(rows))
	}
}

// Every operation lands in the audit log with the listed fields.
func TestAuditLog(t *testing.T) {
	e := newEnv(t, envOpts{})
	g := e.dial("alice")
	if err := g.MakeDir("docs"); err != nil {
		t.Fatal(err)
	}
	if err := g.Stor("docs/a.txt", strings.NewReader("audit me")); err != nil {
		t.Fatal(err)
	}
	retrAll(t, g, "docs/a.txt", 0)
	if err := g.Rename("docs/a.txt", "docs/b.txt"); err != nil {
		t.Fatal(err)
	}
	if err := g.Delete("docs/b.txt"); err != nil {
		t.Fatal(err)
	}
	if err := g.RemoveDir("docs"); err != nil {
		t.Fatal(err)
	}
	iv := e.dial("ivan") // home /inbox: paths are recorded in the partner's tree
	if err := iv.Stor("x.txt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	// The uploads' rows are marked done after their 226s, the others
	// written, in the background.
	storetest.WaitUploadsFinished(t, e.svc.Store)
	rows := settledTransfers(t, e, store.TransferFilter{}, 9)
	byOp := map[string][]store.Transfer{}
	for _, r := range rows {
		byOp[r.Operation] = append(byOp[r.Operation], r)
		if r.Status != store.StatusOK || r.Protocol != "ftp" || r.PartnerID == nil || r.AccountID == nil ||
			!strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") || r.FinishedAt == nil {
			t.Errorf("row lacks fields: %+v", r)
		}
	}
	acme := partner(t, e, "acme")
	for op, want := range map[string]int{"login": 2, "mkdir": 1, "upload": 2, "download": 1, "rename": 1, "delete": 1, "rmdir": 1} {
		if len(byOp[op]) != want {
			t.Errorf("%d %s rows, want %d", len(byOp[op]), op, want)
		}
	}
	up := byOp["upload"][1] // oldest last: alice's upload
	sum := sha256.Sum256([]byte("audit me"))
	if up.Path != "/docs/a.txt" || up.Bytes != 8 || up.SHA256 != fmt.Sprintf("%x", sum) || *up.PartnerID != acme.ID || up.Username != "alice" {
		t.Errorf("upload row %+v", up)
	}
	if byOp["upload"][0].Path != "/inbox/x.txt" {
		t.Errorf("ivan's upload recorded at %q", byOp["upload"][0].Path)
	}
	if d := byOp["download"][0]; d.Bytes != 8 || d.Path != "/docs/a.txt" {
		t.Errorf("download row %+v", d)
	}
	if r := byOp["rename"][0]; r.Path != "/docs/a.txt" || r.TargetPath != "/docs/b.txt" {
		t.Errorf("rename row %+v", r)
	}
	if d := byOp["delete"][0]; d.Bytes != 8 || d.UsageBytes != -8 {
		t.Errorf("delete row %+v", d)
	}
}

// A crash between the two commit phases is repaired at start.
func TestRecoverUploads(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	acme := partner(t, e, "acme")
	// Published but not marked done: recovery finishes it (and runs the hook).
	mustWrite(t, e.partnerFile("acme", "done.bin"), []byte("12345"))
	t1 := &store.Transfer{PartnerID: &acme.ID, Protocol: "ftp", Operation: store.OpUpload, Path: "/done.bin",
		FileSize: 5, UsageBytes: 5, UsageFiles: 1, StagingPath: "/" + vfs.StagingDir + "/gone", StartedAt: time.Now()}
	// Reserved but never published: recovery aborts it and refunds the usage.
	mustWrite(t, e.partnerFile("acme", vfs.StagingDir+"/waiting"), []byte("123"))
	t2 := &store.Transfer{PartnerID: &acme.ID, Protocol: "ftp", Operation: store.OpUpload, Path: "/never.bin",
		FileSize: 3, UsageBytes: 3, UsageFiles: 1, StagingPath: "/" + vfs.StagingDir + "/waiting", StartedAt: time.Now()}
	for _, tr := range []*store.Transfer{t1, t2} {
		if err := e.svc.Store.BeginUpload(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	var hooked []string
	e.srv.OnUpload = func(_ context.Context, _ *store.Store, tr *store.Transfer) error {
		hooked = append(hooked, tr.Path)
		return nil
	}
	if f, a, err := e.srv.RecoverUploads(ctx, time.Hour); err != nil || f+a != 0 {
		t.Fatalf("young rows were touched: %d %d %v", f, a, err)
	}
	f, a, err := e.srv.RecoverUploads(ctx, 0)
	if err != nil || f != 1 || a != 1 {
		t.Fatalf("recover: finished %d aborted %d err %v", f, a, err)
	}
	if len(hooked) != 1 || hooked[0] != "/done.bin" {
		t.Fatalf("hook ran for %v", hooked)
	}
	if p := partner(t, e, "acme"); p.UsedBytes != 5 || p.UsedFiles != 1 {
		t.Fatalf("usage after recovery %d/%d, want 5/1", p.UsedBytes, p.UsedFiles)
	}
	if fi, err := e.svc.Store.TransferByID(ctx, t2.ID); err != nil || fi.Status != store.StatusFailed {
		t.Fatalf("unpublished upload row: %+v %v", fi, err)
	}
	if _, err := os.Stat(e.partnerFile("acme", vfs.PartialPath("/never.bin"))); err != nil {
		t.Fatalf("unpublished data not kept for a resume: %v", err)
	}
}

// 64 sessions at once, each logging in, uploading, listing, downloading.
func TestConcurrentSessions(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	const n = 64
	for i := 0; i < n; i++ {
		if _, _, err := e.svc.CreateAccount(ctx, partners.AccountInput{Partner: "acme", Username: fmt.Sprintf("u%02d", i),
			Password: pw, HomeDir: fmt.Sprintf("/u%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := ftp.Dial(e.addr, ftp.DialWithTimeout(30*time.Second))
			if err != nil {
				errs <- err
				return
			}
			defer c.Quit()
			if err := c.Login(fmt.Sprintf("u%02d", i), pw); err != nil {
				errs <- err
				return
			}
			data := bytes.Repeat([]byte{byte(i)}, 64<<10+i)
			if err := c.Stor("f.bin", bytes.NewReader(data)); err != nil {
				errs <- err
				return
			}
			if _, err := c.List("/"); err != nil {
				errs <- err
				return
			}
			r, err := c.Retr("f.bin")
			if err != nil {
				errs <- err
				return
			}
			var got bytes.Buffer
			got.ReadFrom(r)
			r.Close()
			if !bytes.Equal(got.Bytes(), data) {
				errs <- fmt.Errorf("session %d read back different bytes", i)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Without a quota, an upload's usage is added when it is finished,
	// after its 226.
	storetest.WaitUploadsFinished(t, e.svc.Store)
	if p := partner(t, e, "acme"); p.UsedFiles != n {
		t.Errorf("usage counts %d files, want %d", p.UsedFiles, n)
	}
}

// A partner disabled elsewhere (another node, the CLI) loses its live
// sessions at the next revalidation.
func TestRevalidateSessions(t *testing.T) {
	e := newEnv(t, envOpts{})
	g := e.dial("alice")
	bob := e.dial("bob")
	if n, err := e.srv.RevalidateSessions(context.Background()); err != nil || n != 0 {
		t.Fatalf("nothing changed, yet %d sessions closed (%v)", n, err)
	}
	// Straight in the database, as another node would.
	p := partner(t, e, "acme")
	p.Enabled = false
	if err := e.svc.Store.UpdatePartner(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if n, err := e.srv.RevalidateSessions(context.Background()); err != nil || n != 1 {
		t.Fatalf("closed %d sessions (%v), want alice's 1", n, err)
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		if g.NoOp() == nil {
			return errors.New("alice's session survived her partner being disabled")
		}
		return nil
	})
	if err := bob.NoOp(); err != nil {
		t.Fatalf("bob's session (another partner) was closed: %v", err)
	}
	// A password rotation elsewhere ends the sessions that used the old one.
	if _, err := e.svc.SetPassword(context.Background(), "bob", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.srv.RevalidateSessions(context.Background()); err != nil || n != 1 {
		t.Fatalf("after a password change closed %d sessions (%v), want bob's 1", n, err)
	}
}

// TestQuitFreesPlaceBeforeReply: a client that reconnects the moment it
// reads 221 finds its place free; the session is counted out before the
// reply is sent, not when the engine gets round to closing the socket.
func TestQuitFreesPlaceBeforeReply(t *testing.T) {
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) { s.MaxSessionsPerIP = 1 }})
	c := e.raw(e.addr)
	for i := 0; i < 100; i++ {
		c.login("alice")
		c.must(221, "QUIT")
		conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c = &ctl{t: t, conn: conn, tp: textproto.NewConn(conn)}
		t.Cleanup(func() { conn.Close() })
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if code, msg, err := c.tp.ReadResponse(0); err != nil || code != 220 {
			t.Fatalf("reconnect %d right after 221: %d %s %v", i, code, msg, err)
		}
		conn.SetReadDeadline(time.Time{})
	}
}

// TestBurstAtTheAddressLimit: as many clients as the per-address limit,
// each running sessions back to back with a client that does not wait for
// the reply to QUIT (jlaffaye/ftp), are never refused: a new connection
// waits for the place the last session frees.
func TestBurstAtTheAddressLimit(t *testing.T) {
	const workers, runs = 8, 10
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) { s.MaxSessionsPerIP = workers }})
	var wg sync.WaitGroup
	errs := make(chan error, workers*runs)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range runs {
				c, err := ftp.Dial(e.addr, ftp.DialWithTimeout(10*time.Second))
				if err != nil {
					errs <- err
					continue
				}
				if err := c.Login("alice", pw); err != nil {
					errs <- err
				} else if _, err := c.CurrentDir(); err != nil {
					errs <- err
				}
				c.Quit()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
