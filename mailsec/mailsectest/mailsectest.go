// Package mailsectest drives the real tools that read what Ferry writes:
// GnuPG with a throw-away home, and OpenSSL for S/MIME. Tests of mailsec,
// notify, mailbox and files share it.
package mailsectest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
)

// GPG is a GnuPG home of its own (gpg-agent included, stopped at cleanup).
type GPG struct {
	t    testing.TB
	Home string
	bin  string
}

// NewGPG makes an empty GnuPG home. Its path is short: gpg-agent's socket
// must fit in a Unix socket name.
func NewGPG(t testing.TB) *GPG {
	t.Helper()
	bin := testenv.Need(t, "gpg")
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	g := &GPG{t: t, Home: home, bin: bin}
	t.Cleanup(func() {
		if p, err := exec.LookPath("gpgconf"); err == nil {
			c := exec.Command(p, "--kill", "all")
			c.Env = append(os.Environ(), "GNUPGHOME="+home)
			_ = c.Run()
		}
		os.RemoveAll(home)
	})
	return g
}

// Run runs gpg in the home with stdin and returns stdout and stderr; it
// fails the test on a non-zero exit.
func (g *GPG) Run(stdin []byte, args ...string) (stdout, stderr string) {
	g.t.Helper()
	out, errOut, err := g.Try(stdin, args...)
	if err != nil {
		g.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out, errOut
}

// Try is Run that returns the error instead.
func (g *GPG) Try(stdin []byte, args ...string) (stdout, stderr string, err error) {
	c := exec.Command(g.bin, append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	c.Env = append(os.Environ(), "GNUPGHOME="+g.Home)
	c.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err = c.Run()
	return o.String(), e.String(), err
}

// GenKey makes a key (Ed25519 signing, Cv25519 encryption) for the user
// ID, expiring after expire ("1y", "0" for never), and returns its
// fingerprint.
func (g *GPG) GenKey(uid, expire string) string {
	g.t.Helper()
	g.Run(nil, "--quick-gen-key", uid, "future-default", "default", expire)
	out, _ := g.Run(nil, "--with-colons", "--fingerprint", uid)
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			return f[9]
		}
	}
	g.t.Fatalf("no fingerprint for %s in\n%s", uid, out)
	return ""
}

// Export returns the armored public key.
func (g *GPG) Export(fpr string) string {
	g.t.Helper()
	out, _ := g.Run(nil, "--armor", "--export", fpr)
	return out
}

// ExportSecret returns the armored secret key (no passphrase).
func (g *GPG) ExportSecret(fpr string) string {
	g.t.Helper()
	out, _ := g.Run(nil, "--armor", "--export-secret-keys", fpr)
	return out
}

// Import imports an armored key and returns the fingerprints gpg read.
func (g *GPG) Import(armored string) []string {
	g.t.Helper()
	g.Run([]byte(armored), "--import")
	out, _ := g.Run([]byte(armored), "--with-colons", "--import-options", "show-only", "--import")
	var fprs []string
	seenPub := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, ":")
		switch f[0] {
		case "pub", "sec":
			seenPub = true
		case "fpr":
			if seenPub {
				fprs = append(fprs, f[9])
				seenPub = false
			}
		}
	}
	return fprs
}

// Trust marks a key ultimately trusted, so that gpg says "Good signature"
// without a trust warning in the way.
func (g *GPG) Trust(fpr string) {
	g.t.Helper()
	g.Run([]byte(fpr+":6:\n"), "--import-ownertrust")
}

// OpenSSL runs openssl in dir and returns its combined output; it fails
// the test on a non-zero exit unless allowFail.
func OpenSSL(t testing.TB, dir string, stdin []byte, allowFail bool, args ...string) (string, error) {
	t.Helper()
	bin := testenv.Need(t, "openssl")
	c := exec.Command(bin, args...)
	c.Dir = dir
	c.Stdin = bytes.NewReader(stdin)
	out, err := c.CombinedOutput()
	if err != nil && !allowFail {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), err
}

// SMIMECert makes a self-signed RSA certificate for email with openssl, in
// dir (cert.pem, key.pem), valid for e-mail protection unless ext says
// otherwise (an -addext value for extendedKeyUsage), for days (negative:
// already expired is not possible with req; use NotAfter tests in Go).
func SMIMECert(t testing.TB, dir, name, email, eku string) (certPath, keyPath string) {
	t.Helper()
	if eku == "" {
		eku = "emailProtection"
	}
	certPath, keyPath = filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem")
	OpenSSL(t, dir, nil, false, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath,
		"-days", "30", "-subj", "/CN="+name, "-addext", "subjectAltName=email:"+email,
		"-addext", "extendedKeyUsage="+eku, "-addext", "keyUsage=digitalSignature,keyEncipherment")
	return certPath, keyPath
}
