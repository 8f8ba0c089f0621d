package ftpd_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/ftpd"
	"github.com/ferryhq/ferry/partners"
)

// lftp with ftp:use-mode-z mirrors a tree up and down in MODE Z (zlib),
// listings included, passive and over FTPS; both copies are identical.
func TestLftpModeZ(t *testing.T) {
	lftp := need(t, "lftp")
	e := newEnv(t, envOpts{configure: func(s *ftpd.Server) { s.DeflateLevel = 6 }})
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig")
	for i, name := range []string{"a.bin", "sub/b.txt", "sub/deeper/c.bin", "sub/empty", "x y/ünï.bin"} {
		data := randomBytes(t, (i*7919)%200000)
		if i == 1 {
			data = bytes.Repeat([]byte("compressible text line\n"), 5000)
		}
		mustWrite(t, filepath.Join(orig, filepath.FromSlash(name)), data)
	}
	for _, tc := range []struct{ name, user, opts string }{
		{"plain", "alice", "set ftp:ssl-allow no; "},
		{"ftps", "tina", "set ssl:verify-certificate no; set ftp:ssl-force true; set ftp:ssl-protect-data true; "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(dir, tc.name+".log")
			target := "/z-" + tc.name
			down := filepath.Join(dir, "down-"+tc.name)
			script := "debug -o " + log + " 5; " + tc.opts + "set ftp:use-mode-z true; set net:max-retries 1; set net:timeout 20; " +
				"mirror -R --verbose=0 " + orig + " " + target + "; mirror --verbose=0 " + target + " " + down + "; quit"
			run(t, dir, lftp, "-u", tc.user+","+pw, "-p", e.port(), "-e", script, "127.0.0.1")
			compareTrees(t, orig, e.partnerFile("acme", target))
			compareTrees(t, orig, down)
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "<--- 200 Mode set to Z") {
				t.Errorf("lftp did not use MODE Z:\n%s", b)
			}
		})
	}
}

// Python's ftplib with raw commands: TYPE E, STRU R (partner on IBM-037,
// which Python's cp037 codec speaks), MODE B; what the server stores is the
// text with LF line ends, and what it sends back is what was uploaded.
func TestPythonRepresentations(t *testing.T) {
	py := need(t, "python3")
	e := newEnv(t, envOpts{})
	cp := "IBM-037"
	if _, err := e.svc.UpdatePartner(context.Background(), "other", partners.PartnerPatch{EBCDICCodePage: &cp}, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := `
import ftplib, struct, sys
port = int(sys.argv[1]); pw = sys.argv[2]
f = ftplib.FTP()
f.connect("127.0.0.1", port, timeout=20)
f.login("bob", pw)
lines = ["FIRST RECORD", "second record [x]", "", "last"]

def put(name, data):
    conn = f.transfercmd("STOR " + name)
    conn.sendall(data)
    conn.close()
    f.voidresp()

def get(name):
    conn = f.transfercmd("RETR " + name)
    out = bytearray()
    while True:
        b = conn.recv(65536)
        if not b:
            break
        out += b
    conn.close()
    f.voidresp()
    return bytes(out)

assert f.sendcmd("TYPE E").startswith("200"), "TYPE E"
assert "IBM-037" in f.sendcmd("TYPE E")
assert f.sendcmd("STRU R").startswith("200"), "STRU R"
# STRU R in stream mode: each record ends with EOR (FF 01), the file with EOF (FF 02).
wire = b"".join(l.encode("cp037") + b"\xff\x01" for l in lines) + b"\xff\x02"
put("py-e-r.txt", wire)
assert get("py-e-r.txt") == wire, "E-R-S download"
# MODE B: one block per record with the EOR flag (0x80), then an EOF block (0x40).
assert f.sendcmd("MODE B").startswith("200"), "MODE B"
blocks = b"".join(struct.pack(">BH", 0x80, len(l)) + l.encode("cp037") for l in lines) + struct.pack(">BH", 0x40, 0)
put("py-e-r-b.txt", blocks)
assert get("py-e-r-b.txt") == blocks, "E-R-B download"
try:
    f.sendcmd("STRU P")
    raise SystemExit("STRU P accepted")
except ftplib.error_perm as err:
    assert str(err).startswith("504"), err
f.sendcmd("MODE S")
f.sendcmd("STRU F")
f.sendcmd("TYPE I")
f.quit()
print("ok")
`
	sp := filepath.Join(dir, "repr.py")
	mustWrite(t, sp, []byte(script))
	if out := run(t, dir, py, sp, e.port(), pw); !strings.Contains(out, "ok") {
		t.Fatalf("python: %s", out)
	}
	want := "FIRST RECORD\nsecond record [x]\n\nlast\n"
	for _, name := range []string{"py-e-r.txt", "py-e-r-b.txt"} {
		if stored, _ := os.ReadFile(e.partnerFile("other", name)); string(stored) != want {
			t.Errorf("%s stored %q", name, stored)
		}
	}
}
