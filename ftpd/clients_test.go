package ftpd_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// servePassive is how `ferry serve` runs by default: a passive range whose
// ports are kept open on the control address (keepPassivePorts).
func servePassive(t *testing.T) envOpts {
	return envOpts{passive: freeRange(t, 50), configure: keepPassivePorts}
}

// curl in EPSV, PASV and active mode, over plain FTP, explicit FTPS with
// PROT P and implicit FTPS; uploads and downloads compared byte for byte.
func TestCurl(t *testing.T) {
	curl := need(t, "curl")
	e := newEnv(t, servePassive(t))
	dir := t.TempDir()
	data := randomBytes(t, 2<<20+3)
	src := filepath.Join(dir, "src.bin")
	mustWrite(t, src, data)
	_, iport := splitPort(e.implicit)
	for _, tc := range []struct {
		name string
		url  string
		user string
		args []string
	}{
		{"epsv", "ftp://127.0.0.1:" + e.port(), "alice", nil},
		{"pasv", "ftp://127.0.0.1:" + e.port(), "alice", []string{"--disable-epsv"}},
		{"active-port", "ftp://127.0.0.1:" + e.port(), "alice", []string{"--ftp-port", "127.0.0.1", "--disable-eprt"}},
		{"active-eprt", "ftp://127.0.0.1:" + e.port(), "alice", []string{"--ftp-port", "127.0.0.1"}},
		{"explicit-ftps", "ftp://127.0.0.1:" + e.port(), "tina", []string{"--ssl-reqd", "--insecure"}},
		{"implicit-ftps", "ftps://127.0.0.1:" + iport, "tina", []string{"--insecure"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := append([]string{"-sS", "--fail", "--max-time", "30", "-u", tc.user + ":" + pw}, tc.args...)
			remote := tc.url + "/curl/" + tc.name + "/file.bin"
			run(t, dir, curl, append(base, "--ftp-create-dirs", "-T", src, remote)...)
			if stored, err := os.ReadFile(e.partnerFile("acme", "curl/"+tc.name+"/file.bin")); err != nil || !bytes.Equal(stored, data) {
				t.Fatalf("uploaded file differs (err %v)", err)
			}
			out := filepath.Join(dir, tc.name+".out")
			run(t, dir, curl, append(base, "-o", out, remote)...)
			if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
				t.Fatal("downloaded file differs")
			}
			// Resume a download from the middle (REST).
			half := filepath.Join(dir, tc.name+".half")
			mustWrite(t, half, data[:len(data)/2])
			run(t, dir, curl, append(base, "-C", "-", "-o", half, remote)...)
			if got, _ := os.ReadFile(half); !bytes.Equal(got, data) {
				t.Fatal("resumed download differs")
			}
			listing := run(t, dir, curl, append(base, tc.url+"/curl/"+tc.name+"/")...)
			if !strings.Contains(listing, "file.bin") {
				t.Fatalf("listing %q", listing)
			}
		})
	}
	// Upload resume with curl: -C - -T appends what the server lacks.
	base := []string{"-sS", "--fail", "--max-time", "30", "-u", "alice:" + pw}
	remote := "ftp://127.0.0.1:" + e.port() + "/curl/resume.bin"
	mustWrite(t, e.partnerFile("acme", "curl/resume.bin"), data[:12345])
	run(t, dir, curl, append(base, "-C", "-", "-T", src, remote)...)
	if stored, _ := os.ReadFile(e.partnerFile("acme", "curl/resume.bin")); !bytes.Equal(stored, data) {
		t.Fatal("resumed upload differs")
	}
	// A plain-FTP login of a TLS-only account fails.
	if out, err := runErr(dir, curl, "-sS", "--fail", "-u", "tina:"+pw, "ftp://127.0.0.1:"+e.port()+"/"); err == nil {
		t.Fatalf("tina logged in without TLS: %s", out)
	}
}

// lftp mirrors a tree up and down, passive and active; both copies must be
// identical to the original.
func TestLftpMirror(t *testing.T) {
	lftp := need(t, "lftp")
	e := newEnv(t, servePassive(t))
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig")
	for i, name := range []string{"a.bin", "sub/b.bin", "sub/deeper/c.txt", "sub/deeper/empty", "x y/with space.bin", "ünï/cödé.txt"} {
		mustWrite(t, filepath.Join(orig, filepath.FromSlash(name)), randomBytes(t, (i*7919)%300000))
	}
	for _, passive := range []string{"on", "off"} {
		t.Run("passive-"+passive, func(t *testing.T) {
			target := "/mirror-" + passive
			down := filepath.Join(dir, "down-"+passive)
			script := "set ftp:ssl-allow no; set ftp:passive-mode " + passive + "; set net:max-retries 1; set net:timeout 20; " +
				"mirror -R --verbose=0 " + orig + " " + target + "; mirror --verbose=0 " + target + " " + down + "; quit"
			run(t, dir, lftp, "-u", "alice,"+pw, "-p", e.port(), "-e", script, "127.0.0.1")
			compareTrees(t, orig, e.partnerFile("acme", target))
			compareTrees(t, orig, down)
		})
	}
	t.Run("ftps", func(t *testing.T) {
		down := filepath.Join(dir, "down-tls")
		script := "set ssl:verify-certificate no; set ftp:ssl-force true; set ftp:ssl-protect-data true; " +
			"set net:max-retries 1; set net:timeout 20; mirror -R --verbose=0 " + orig + " /mirror-tls; mirror --verbose=0 /mirror-tls " + down + "; quit"
		run(t, dir, lftp, "-u", "tina,"+pw, "-p", e.port(), "-e", script, "127.0.0.1")
		compareTrees(t, orig, down)
	})
}

// Python's ftplib: ASCII lines (storlines/retrlines) and active mode.
func TestPythonFtplib(t *testing.T) {
	py := need(t, "python3")
	e := newEnv(t, envOpts{})
	dir := t.TempDir()
	script := `
import ftplib, io, sys
port = int(sys.argv[1]); pw = sys.argv[2]
for passive in (True, False):
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=20)
    f.login("alice", pw)
    f.set_pasv(passive)
    name = "py-%s.txt" % ("pasv" if passive else "active")
    f.storlines("STOR " + name, io.BytesIO(b"line one\nline two\n"))
    lines = []
    f.retrlines("RETR " + name, lines.append)
    assert lines == ["line one", "line two"], lines
    data = bytearray()
    f.retrbinary("RETR " + name, data.extend)
    assert bytes(data) == b"line one\nline two\n", bytes(data)
    names = f.nlst()
    assert name in names, names
    facts = dict(f.mlsd())
    assert facts[name]["type"] == "file", facts
    f.quit()
tls = ftplib.FTP_TLS()
import ssl
tls.context.check_hostname = False
tls.context.verify_mode = ssl.CERT_NONE
tls.connect("127.0.0.1", port, timeout=20)
tls.login("tina", pw)
tls.prot_p()
tls.storbinary("STOR py-tls.bin", io.BytesIO(b"\x00\x01secret"))
out = bytearray()
tls.retrbinary("RETR py-tls.bin", out.extend)
assert bytes(out) == b"\x00\x01secret"
tls.quit()
print("ok")
`
	sp := filepath.Join(dir, "client.py")
	mustWrite(t, sp, []byte(script))
	if out := run(t, dir, py, sp, e.port(), pw); !strings.Contains(out, "ok") {
		t.Fatalf("python: %s", out)
	}
	stored, _ := os.ReadFile(e.partnerFile("acme", "py-active.txt"))
	if string(stored) != "line one\nline two\n" {
		t.Fatalf("ASCII upload stored %q", stored)
	}
}

func compareTrees(t *testing.T, want, got string) {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		files[rel], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	err = filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(got, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, ok := files[rel]
		if !ok {
			t.Errorf("%s: unexpected file %s", got, rel)
		} else if !bytes.Equal(w, data) {
			t.Errorf("%s: %s differs", got, rel)
		}
		seen++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(files) {
		t.Errorf("%s has %d files, want %d", got, seen, len(files))
	}
}
