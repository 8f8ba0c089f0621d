package ftpd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/partners"
	"github.com/ferryhq/ferry/store/storetest"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func retrAll(t *testing.T, c *ftp.ServerConn, name string, offset uint64) []byte {
	t.Helper()
	r, err := c.RetrFrom(name, offset)
	if err != nil {
		t.Fatalf("RETR %s from %d: %v", name, offset, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The Go client in EPSV and PASV mode: upload, list, download, resume both
// ways, append, size, times, rename, delete, folders.
func TestGoClientPassive(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, envOpts{backend: b})
			for _, mode := range []string{"EPSV", "PASV"} {
				t.Run(mode, func(t *testing.T) {
					c := e.dial("alice", ftp.DialWithDisabledEPSV(mode == "PASV"))
					dir := "/" + strings.ToLower(mode)
					if err := c.MakeDir(dir); err != nil {
						t.Fatal(err)
					}
					if err := c.ChangeDir(dir); err != nil {
						t.Fatal(err)
					}
					if cwd, _ := c.CurrentDir(); cwd != dir {
						t.Fatalf("PWD = %q", cwd)
					}
					data := randomBytes(t, 3<<20+17)
					if err := c.Stor("blob.bin", bytes.NewReader(data)); err != nil {
						t.Fatal(err)
					}
					onDisk, err := os.ReadFile(e.partnerFile("acme", dir+"/blob.bin"))
					if err != nil || !bytes.Equal(onDisk, data) {
						t.Fatalf("stored file differs (err %v)", err)
					}
					if got := retrAll(t, c, "blob.bin", 0); !bytes.Equal(got, data) {
						t.Fatal("downloaded bytes differ")
					}
					// Download resume (REST + RETR).
					if got := retrAll(t, c, "blob.bin", 1<<20); !bytes.Equal(got, data[1<<20:]) {
						t.Fatal("resumed download differs")
					}
					// Upload resume (REST + STOR) after a partial upload.
					if err := c.Stor("resumed.bin", bytes.NewReader(data[:1000])); err != nil {
						t.Fatal(err)
					}
					if err := c.StorFrom("resumed.bin", bytes.NewReader(data[1000:]), 1000); err != nil {
						t.Fatal(err)
					}
					if got := retrAll(t, c, "resumed.bin", 0); !bytes.Equal(got, data) {
						t.Fatal("resumed upload differs")
					}
					// APPE.
					if err := c.Append("resumed.bin", strings.NewReader("tail")); err != nil {
						t.Fatal(err)
					}
					size, err := c.FileSize("resumed.bin")
					if err != nil || size != int64(len(data)+4) {
						t.Fatalf("SIZE = %d, %v", size, err)
					}
					mtime := time.Date(2024, 2, 29, 12, 30, 0, 0, time.UTC)
					if err := c.SetTime("resumed.bin", mtime); err != nil {
						t.Fatalf("MFMT: %v", err)
					}
					got, err := c.GetTime("resumed.bin")
					if err != nil || !got.Equal(mtime) {
						t.Fatalf("MDTM = %v, %v", got, err)
					}
					entries, err := c.List(".")
					if err != nil {
						t.Fatal(err)
					}
					names := map[string]uint64{}
					for _, en := range entries {
						names[en.Name] = en.Size
					}
					if names["blob.bin"] != uint64(len(data)) || len(names) != 2 {
						t.Fatalf("listing %v", names)
					}
					if err := c.Rename("resumed.bin", "renamed.bin"); err != nil {
						t.Fatal(err)
					}
					if err := c.Delete("renamed.bin"); err != nil {
						t.Fatal(err)
					}
					if err := c.Delete("blob.bin"); err != nil {
						t.Fatal(err)
					}
					if err := c.ChangeDirToParent(); err != nil {
						t.Fatal(err)
					}
					if err := c.RemoveDir(dir); err != nil {
						t.Fatal(err)
					}
					if _, err := os.Stat(e.partnerFile("acme", dir)); !os.IsNotExist(err) {
						t.Fatalf("folder still on disk: %v", err)
					}
				})
			}
		})
	}
}

func TestPassivePortRange(t *testing.T) {
	passive := freeRange(t, 20)
	e := newEnv(t, envOpts{passive: passive})
	c := e.raw(e.addr)
	c.login("alice")
	for i := 0; i < 5; i++ {
		if port := epsvPort(t, c); port < passive[0] || port > passive[1] {
			t.Fatalf("EPSV port %d outside the configured range", port)
		}
		msg := c.must(227, "PASV")
		f := strings.Split(strings.Trim(msg[strings.Index(msg, "("):], "()."), ",")
		p1, _ := strconv.Atoi(f[4])
		p2, _ := strconv.Atoi(f[5])
		if port := p1*256 + p2; port < passive[0] || port > passive[1] {
			t.Fatalf("PASV port %d outside the configured range", port)
		}
	}
}

func TestCommandReplies(t *testing.T) {
	e := newEnv(t, envOpts{})
	mustWrite(t, e.partnerFile("acme", "h.txt"), []byte("hello\n"))
	c := e.raw(e.addr)
	c.must(530, "LIST") // before login
	c.login("alice")
	for _, tc := range []struct {
		cmd  string
		code int
	}{
		{"TYPE I", 200}, {"TYPE A", 200}, {"TYPE A N", 200}, {"TYPE L 8", 200},
		{"TYPE L 7", 504}, // only byte size 8
		{"TYPE E", 200}, {"TYPE X", 501},
		{"MODE S", 200}, {"MODE B", 200}, {"MODE C", 200},
		{"MODE Z", 200}, // on by default (FERRY_FTP_DEFLATE_LEVEL 6): a zlib stream
		{"MODE S", 200},
		// STRU is answered by Ferry's control layer (the engine has 502
		// for every STRU); P is refused as RFC 1123 4.1.2.3 recommends.
		{"STRU F", 200}, {"STRU R", 200}, {"STRU P", 504}, {"STRU F", 200},
		{"SIZE h.txt", 550}, // RFC 3659 4: SIZE in TYPE A and E may be refused, and is
		{"TYPE I", 200},
		{"SIZE h.txt", 213}, {"MDTM h.txt", 213}, {"MLST h.txt", 250},
		{"AVBL", 550}, // no quota, and the operator did not allow reporting the disk (AVBLDiskSpace)
		{"HASH h.txt", 213}, {"OPTS HASH SHA-1", 200}, {"HASH h.txt", 213},
		{"SIZE missing.txt", 550}, {"XYZZY", 500},
	} {
		if code, msg := c.cmd("%s", tc.cmd); code != tc.code {
			t.Errorf("%s: got %d %s, want %d", tc.cmd, code, msg, tc.code)
		}
	}
	c.must(200, "OPTS HASH SHA-256")
	sum := sha256.Sum256([]byte("hello\n"))
	if msg := c.must(213, "HASH h.txt"); !strings.Contains(strings.ToLower(msg), hex.EncodeToString(sum[:])) {
		t.Errorf("HASH reply %q lacks the SHA-256 %x", msg, sum)
	}
	if msg := c.must(211, "FEAT"); !strings.Contains(msg, "MLST") || !strings.Contains(msg, "SHA-256") ||
		!strings.Contains(msg, "AUTH TLS") || !strings.Contains(msg, "REST STREAM") {
		t.Errorf("FEAT lacks features: %q", msg)
	}
	c.must(221, "QUIT")
}

// TYPE A converts line ends both ways (RFC 959 3.1.1.1); TYPE I never does.
func TestASCIIConversion(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.raw(e.addr)
	c.login("alice")
	c.must(200, "TYPE A")
	c.stor("ascii.txt", []byte("one\r\ntwo\r\nthree\r\n"))
	stored, _ := os.ReadFile(e.partnerFile("acme", "ascii.txt"))
	if string(stored) != "one\ntwo\nthree\n" {
		t.Fatalf("TYPE A upload stored %q", stored)
	}
	mustWrite(t, e.partnerFile("acme", "unix.txt"), []byte("a\nb\n"))
	if got := c.retr("unix.txt"); string(got) != "a\r\nb\r\n" {
		t.Fatalf("TYPE A download sent %q", got)
	}
	c.must(200, "TYPE I")
	if got := c.retr("unix.txt"); string(got) != "a\nb\n" {
		t.Fatalf("TYPE I download sent %q", got)
	}
	c.stor("bin.txt", []byte("x\r\ny\r\n"))
	if stored, _ := os.ReadFile(e.partnerFile("acme", "bin.txt")); string(stored) != "x\r\ny\r\n" {
		t.Fatalf("TYPE I upload stored %q", stored)
	}
}

// Every account is jailed in its partner's tree (or its home inside it).
func TestConfinement(t *testing.T) {
	e := newEnv(t, envOpts{})
	mustWrite(t, e.partnerFile("other", "secret.txt"), []byte("other's secret"))
	mustWrite(t, e.partnerFile("acme", "inbox/in.txt"), []byte("in"))
	mustWrite(t, e.partnerFile("acme", "top.txt"), []byte("top"))
	outside := filepath.Join(filepath.Dir(e.files), "outside.txt")
	mustWrite(t, outside, []byte("outside"))
	if err := os.Symlink(filepath.Join(e.files, "other"), e.partnerFile("acme", "to-other")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", e.partnerFile("acme", "passwd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside.txt", e.partnerFile("acme", "rel-out")); err != nil {
		t.Fatal(err)
	}

	c := e.raw(e.addr)
	c.login("alice")
	c.must(200, "TYPE I")
	for _, name := range []string{"../other/secret.txt", "/../other/secret.txt", "../../outside.txt",
		"..\\other\\secret.txt", "to-other/secret.txt", "passwd", "rel-out", "/inbox/../../other/secret.txt",
		"%2e%2e/other/secret.txt", "....//other/secret.txt"} {
		if code, msg := c.cmd("SIZE %s", name); code != 550 {
			t.Errorf("SIZE %s: %d %s, want 550", name, code, msg)
		}
		d := c.pasv()
		code, msg := c.cmd("RETR %s", name)
		d.Close()
		if code != 550 {
			t.Errorf("RETR %s: %d %s, want 550", name, code, msg)
		}
	}
	for _, dir := range []string{"..", "../..", "/..", "to-other", "../other"} {
		c.cmd("CWD %s", dir)
		if msg := c.must(257, "PWD"); !strings.HasPrefix(msg, `"/"`) && !strings.HasPrefix(msg, `"/inbox"`) {
			t.Errorf("after CWD %s: PWD %s", dir, msg)
		}
		c.cmd("CWD /")
	}
	// Writes through escaping names land inside the tree or fail.
	c.stor("../../escaped.txt", []byte("x"))
	if _, err := os.Stat(e.partnerFile("acme", "escaped.txt")); err != nil {
		t.Errorf("../../escaped.txt did not land in acme's root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(e.files), "escaped.txt")); err == nil {
		t.Error("a write escaped the tree")
	}
	if code, _ := c.cmd("MKD to-other/evil"); code/100 == 2 {
		t.Error("MKD through a symlink to another partner succeeded")
	}
	if _, err := os.Stat(e.partnerFile("other", "evil")); err == nil {
		t.Error("folder created in another partner's tree")
	}
	c.must(350, "RNFR top.txt")
	if code, _ := c.cmd("RNTO to-other/stolen.txt"); code/100 == 2 {
		t.Error("RNTO through a symlink to another partner succeeded")
	}
	if _, err := os.Stat(e.partnerFile("other", "stolen.txt")); err == nil {
		t.Error("file moved into another partner's tree")
	}

	// Listing the root shows acme's files only.
	g := e.dial("alice")
	names, err := g.NameList("/")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(names, " "), "secret") {
		t.Errorf("alice sees another partner's file: %v", names)
	}
	// ivan's home is /inbox: he sees in.txt as /in.txt and nothing above.
	iv := e.dial("ivan")
	got := retrAll(t, iv, "/in.txt", 0)
	if string(got) != "in" {
		t.Errorf("ivan reads %q", got)
	}
	if _, err := iv.FileSize("/top.txt"); err == nil {
		t.Error("ivan sees a file above his home")
	}
	if _, err := iv.FileSize("../top.txt"); err == nil {
		t.Error("ivan climbs above his home")
	}
	bob := e.dial("bob")
	if got := retrAll(t, bob, "secret.txt", 0); string(got) != "other's secret" {
		t.Errorf("bob reads %q", got)
	}
	if _, err := bob.FileSize("top.txt"); err == nil {
		t.Error("bob sees acme's file")
	}
}

func TestPermissions(t *testing.T) {
	e := newEnv(t, envOpts{})
	mustWrite(t, e.partnerFile("acme", "r.txt"), []byte("read me"))
	c := e.raw(e.addr)
	c.login("dana") // list,download
	c.must(200, "TYPE I")
	if got := c.retr("r.txt"); string(got) != "read me" {
		t.Fatalf("dana reads %q", got)
	}
	d := c.pasv()
	code, msg := c.cmd("STOR new.txt")
	d.Close()
	if code != 550 {
		t.Errorf("STOR without upload permission: %d %s", code, msg)
	}
	for _, cmd := range []string{"DELE r.txt", "MKD d", "MFMT 20240101000000 r.txt", "SITE CHMOD 777 r.txt"} {
		if code, msg := c.cmd("%s", cmd); code/100 == 2 {
			t.Errorf("%s allowed without permission: %d %s", cmd, code, msg)
		}
	}
	c.must(350, "RNFR r.txt")
	if code, _ := c.cmd("RNTO s.txt"); code/100 == 2 {
		t.Error("rename allowed without permission")
	}
	if _, err := os.Stat(e.partnerFile("acme", "new.txt")); err == nil {
		t.Error("file created without upload permission")
	}
	if data, _ := os.ReadFile(e.partnerFile("acme", "r.txt")); string(data) != "read me" {
		t.Error("file changed without permission")
	}
}

func TestLoginFailures(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	if _, err := e.svc.SetAccountEnabled(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.CreateAccount(ctx, partners.AccountInput{Partner: "other", Username: "carol", Password: pw}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetPartnerEnabled(ctx, "other", false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ user, pass string }{
		{"alice", "wrong password"}, {"nobody", pw}, {"bob", pw}, {"carol", pw},
	} {
		c := e.raw(e.addr)
		c.must(331, "USER %s", tc.user)
		if code, msg := c.cmd("PASS %s", tc.pass); code != 530 || !strings.Contains(msg, "login incorrect") {
			t.Errorf("%s/%s: %d %s, want 530 login incorrect", tc.user, tc.pass, code, msg)
		}
	}
}

// A login while the database cannot be reached is Ferry's failure, not the
// client's: 421 (service not available, closing the control connection),
// which clients retry later, instead of the 530 that says the credentials
// are wrong; the reply names no internal error, and no failure is counted
// against the address. USER (the TLS policy lookup) and PASS (the account
// lookup) both meet it.
func TestLoginDatabaseDown(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, envOpts{backend: b, maxFails: 1})
			passFirst := e.raw(e.addr)
			passFirst.must(331, "USER alice")
			if err := e.svc.Store.Close(); err != nil {
				t.Fatal(err)
			}
			check := func(what string, code int, msg string, c *ctl) {
				t.Helper()
				if code != 421 || !strings.Contains(msg, "try again later") {
					t.Errorf("%s with the database down: %d %s, want 421 ... try again later", what, code, msg)
				}
				if strings.Contains(msg, "closed") || strings.Contains(msg, "sql") || strings.Contains(msg, "alice") {
					t.Errorf("%s: the reply shows internals: %s", what, msg)
				}
				c.waitClosed()
			}
			code, msg := passFirst.cmd("PASS %s", pw)
			check("PASS", code, msg, passFirst)
			for range 3 { // more than maxFails: no ban either
				c := e.raw(e.addr)
				code, msg := c.cmd("USER alice")
				check("USER", code, msg, c)
			}
		})
	}
}

// Active mode: PORT and EPRT to the client's own address work; to another
// address they are refused before any connection is made (FTP bounce).
func TestActiveModeAndBounce(t *testing.T) {
	e := newEnv(t, envOpts{})
	mustWrite(t, e.partnerFile("acme", "a.txt"), []byte("active data"))
	c := e.raw(e.addr)
	c.login("alice")
	c.must(200, "TYPE I")

	port, got := activeReceiver(t)
	c.must(200, "PORT 127,0,0,1,%d,%d", port/256, port%256)
	c.must(150, "RETR a.txt")
	c.expect(226)
	if data := <-got; string(data) != "active data" {
		t.Fatalf("active download got %q", data)
	}

	// A third-party address is refused: a listener there must see nothing.
	third, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 is not usable here: %v", err)
	}
	defer third.Close()
	tport := third.Addr().(*net.TCPAddr).Port
	accepted := make(chan struct{}, 1)
	go func() {
		if conn, err := third.Accept(); err == nil {
			conn.Close()
			accepted <- struct{}{}
		}
	}()
	if code, msg := c.cmd("PORT 127,0,0,2,%d,%d", tport/256, tport%256); code != 501 {
		t.Errorf("bounce PORT: %d %s, want 501", code, msg)
	}
	if code, msg := c.cmd("EPRT |1|127.0.0.2|%d|", tport); code != 501 {
		t.Errorf("bounce EPRT: %d %s, want 501", code, msg)
	}
	c.cmd("RETR a.txt")
	select {
	case <-accepted:
		t.Fatal("the server connected to a third-party address")
	case <-time.After(300 * time.Millisecond):
	}
	if code, _ := c.cmd("PORT 1,2,3"); code != 501 {
		t.Errorf("malformed PORT: %d", code)
	}
}

// Explicit FTPS with PROT P, the TLS-required policy and implicit FTPS.
func TestFTPS(t *testing.T) {
	e := newEnv(t, envOpts{})
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // self-signed test certificate

	// tina requires TLS: on a plain connection USER is refused with 530
	// before a password can travel in clear.
	c := e.raw(e.addr)
	if code, msg := c.cmd("USER tina"); code != 530 || !strings.Contains(msg, "requires TLS") {
		t.Fatalf("plain USER tina: %d %s", code, msg)
	}

	// With AUTH TLS she logs in, but data must be protected too.
	c = e.raw(e.addr)
	c.startTLS()
	c.must(200, "PBSZ 0")
	c.must(200, "PROT C")
	c.login("tina")
	d := c.pasv()
	code, msg := c.cmd("LIST")
	d.Close()
	if code/100 != 5 && code/100 != 4 {
		t.Errorf("LIST over a clear data channel for a TLS-only account: %d %s", code, msg)
	}

	// The Go client with explicit TLS and PROT P.
	g, err := ftp.Dial(e.addr, ftp.DialWithExplicitTLS(insecure), ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Quit()
	if err := g.Login("tina", pw); err != nil {
		t.Fatal(err)
	}
	data := randomBytes(t, 1<<20)
	if err := g.Stor("secure.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got := retrAll(t, g, "secure.bin", 0); !bytes.Equal(got, data) {
		t.Fatal("FTPS round trip differs")
	}

	// Implicit FTPS.
	imp, err := ftp.Dial(e.implicit, ftp.DialWithTLS(insecure), ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Quit()
	if err := imp.Login("tina", pw); err != nil {
		t.Fatal(err)
	}
	if got := retrAll(t, imp, "secure.bin", 0); !bytes.Equal(got, data) {
		t.Fatal("implicit FTPS download differs")
	}
}

func TestSessionsAndKick(t *testing.T) {
	e := newEnv(t, envOpts{})
	g := e.dial("alice")
	var id uint32
	for _, s := range e.srv.Sessions() {
		if s.Username == "alice" && s.PartnerSlug == "acme" {
			id = s.ID
		}
	}
	if id == 0 {
		t.Fatalf("alice's session not listed: %+v", e.srv.Sessions())
	}
	acct, err := e.svc.Store.AccountByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.srv.KickAccount(acct.ID); n != 1 {
		t.Fatalf("KickAccount closed %d sessions", n)
	}
	// A kicked session is gone at once for the API, while the engine is
	// still closing it: not listed, not kicked again.
	if e.srv.Kick(id) {
		t.Error("Kick of a session already kicked reported a live session")
	}
	if n := e.srv.KickAccount(acct.ID); n != 0 {
		t.Errorf("KickAccount after the kick closed %d sessions, want 0", n)
	}
	for _, s := range e.srv.Sessions() {
		if s.ID == id {
			t.Errorf("kicked session still listed: %+v", s)
		}
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		if g.NoOp() == nil {
			return errors.New("kicked session still answers")
		}
		return nil
	})
}

// shutdownInBackground starts the server's Shutdown (10 s to finish) and
// returns where its result arrives.
func (e *env) shutdownInBackground() <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	return done
}

// Shutdown lets a running transfer finish, then closes the session.
func TestShutdownWaitsForTransfer(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.raw(e.addr)
	c.login("alice")
	c.must(200, "TYPE I")
	d := c.pasv()
	c.must(150, "STOR slow.bin")
	if _, err := d.Write([]byte("first half ")); err != nil {
		t.Fatal(err)
	}
	done := e.shutdownInBackground()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned before the transfer ended: %v", err)
	default:
	}
	if _, err := d.Write([]byte("second half")); err != nil {
		t.Fatal(err)
	}
	d.Close()
	c.expect(226)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if data, _ := os.ReadFile(e.partnerFile("acme", "slow.bin")); string(data) != "first half second half" {
		t.Fatalf("stored %q", data)
	}
	if _, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		t.Error("listener still accepts after Shutdown")
	}
}

// A transfer that ends while Shutdown waits still gets its final reply:
// the session counts as busy from the transfer's end until its 226 is
// written, however Shutdown's checks fall in between.
func TestShutdownKeepsTheFinalReply(t *testing.T) {
	ended, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) {
		ftpd.OnTransferClosed(s, func() {
			once.Do(func() { close(ended); <-release })
		})
	}})
	c := e.raw(e.addr)
	c.login("alice")
	c.must(200, "TYPE I")
	d := c.pasv()
	c.must(150, "STOR last.bin")
	if _, err := d.Write([]byte("all of it")); err != nil {
		t.Fatal(err)
	}
	done := e.shutdownInBackground()
	testenv.Eventually(t, 5*time.Second, func() error {
		if conn, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
			conn.Close()
			return errors.New("listener still accepts")
		}
		return nil
	})
	d.Close()
	<-ended
	// The transfer is counted out and its 226 not yet written: Shutdown's
	// checks, every 50 ms, see the session now.
	time.Sleep(300 * time.Millisecond)
	close(release)
	c.expect(226)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if data, _ := os.ReadFile(e.partnerFile("acme", "last.bin")); string(data) != "all of it" {
		t.Fatalf("stored %q", data)
	}
}
