package mailsec_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/mailsec/mailsectest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func loadIdentity(t *testing.T, dir string) *mailsec.Identity {
	t.Helper()
	id, _, err := mailsec.LoadIdentity(mailsec.IdentityOptions{Email: "ferry@ferry.test", Name: "Ferry", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Ferry's keys are generated once into the data dir (secret halves 0600),
// read by gpg and openssl with the fingerprints Ferry shows, and the same
// after a restart.
func TestIdentityGeneratedOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	id, created, err := mailsec.LoadIdentity(mailsec.IdentityOptions{Email: "ferry@ferry.test", DataDir: dir})
	if err != nil || !created {
		t.Fatalf("first load: created=%v err=%v", created, err)
	}
	for name, mode := range map[string]os.FileMode{mailsec.PGPKeyFile: 0o600, mailsec.SMIMEKeyFile: 0o600, mailsec.SMIMECertFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, mailsec.DirName, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v mode %v, want %v", name, err, fi.Mode().Perm(), mode)
		}
	}
	again, created, err := mailsec.LoadIdentity(mailsec.IdentityOptions{Email: "ferry@ferry.test", DataDir: dir})
	if err != nil || created {
		t.Fatalf("second load: created=%v err=%v", created, err)
	}
	if again.OpenPGPFingerprint() != id.OpenPGPFingerprint() || again.SMIMEFingerprint() != id.SMIMEFingerprint() {
		t.Fatalf("fingerprints changed: %s / %s", id, again)
	}
	if strings.Contains(id.OpenPGPPublicKey(), "PRIVATE") || strings.Contains(id.SMIMECertificate(), "PRIVATE") ||
		strings.Contains(id.String(), "PRIVATE") {
		t.Fatal("a public half carries a private key")
	}

	g := mailsectest.NewGPG(t)
	if fprs := g.Import(id.OpenPGPPublicKey()); len(fprs) != 1 || fprs[0] != id.OpenPGPFingerprint() {
		t.Fatalf("gpg read fingerprints %v, Ferry shows %s", fprs, id.OpenPGPFingerprint())
	}
	out, _ := mailsectest.OpenSSL(t, dir, []byte(id.SMIMECertificate()), false, "x509", "-noout", "-fingerprint", "-sha256", "-ext", "extendedKeyUsage,subjectAltName")
	if !strings.Contains(out, id.SMIMEFingerprint()) || !strings.Contains(out, "E-mail Protection") || !strings.Contains(out, "email:ferry@ferry.test") {
		t.Fatalf("openssl shows\n%s\nFerry shows %s", out, id.SMIMEFingerprint())
	}
}

// Configured keys (FERRY_PGP_KEY, FERRY_SMIME_CERT/KEY) are used as they
// are; a public key or a key of another certificate is refused.
func TestIdentityConfigured(t *testing.T) {
	dir := t.TempDir()
	g := mailsectest.NewGPG(t)
	fpr := g.GenKey("Ops <ops@example.com>", "1y")
	keyFile := filepath.Join(dir, "pgp.asc")
	os.WriteFile(keyFile, []byte(g.ExportSecret(fpr)), 0o600)
	cert, key := mailsectest.SMIMECert(t, dir, "ops", "ops@example.com", "")
	id, created, err := mailsec.LoadIdentity(mailsec.IdentityOptions{Email: "ops@example.com", DataDir: dir,
		PGPKey: keyFile, SMIMECert: cert, SMIMEKey: key})
	if err != nil || created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	if id.OpenPGPFingerprint() != fpr {
		t.Fatalf("fingerprint %s, gpg's %s", id.OpenPGPFingerprint(), fpr)
	}
	if _, err := os.Stat(filepath.Join(dir, mailsec.DirName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("keys generated although both are configured: %v", err)
	}
	pubFile := filepath.Join(dir, "pub.asc")
	os.WriteFile(pubFile, []byte(g.Export(fpr)), 0o600)
	_, _, err = mailsec.LoadIdentity(mailsec.IdentityOptions{Email: "ops@example.com", DataDir: dir, PGPKey: pubFile, SMIMECert: cert, SMIMEKey: key})
	if err == nil || !strings.Contains(err.Error(), "secret key") {
		t.Fatalf("public key as FERRY_PGP_KEY: %v", err)
	}
	_, other := mailsectest.SMIMECert(t, dir, "other", "ops@example.com", "")
	_, _, err = mailsec.LoadIdentity(mailsec.IdentityOptions{Email: "ops@example.com", DataDir: dir, PGPKey: keyFile, SMIMECert: cert, SMIMEKey: other})
	if err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("mismatched S/MIME key: %v", err)
	}
}

// goCert makes a certificate the tools cannot make directly (expired, or
// with an ECDSA key).
func goCert(t *testing.T, email string, notAfter time.Time, ec bool) string {
	t.Helper()
	var pub, priv any
	if ec {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, priv = &k.PublicKey, k
	} else {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		pub, priv = &k.PublicKey, k
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "x"}, EmailAddresses: []string{email},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// Registered keys: what is refused, and why.
func TestParsePublicKey(t *testing.T) {
	dir := t.TempDir()
	g := mailsectest.NewGPG(t)
	good := g.GenKey("Alice <alice@example.com>", "1y")
	// A key made in 2020 that expired a day later.
	g.Run(nil, "--faked-system-time", "20200101T000000!", "--quick-gen-key", "Old <old@example.com>", "future-default", "default", "1d")
	revoked := g.GenKey("Rev <rev@example.com>", "1y")
	rev, err := os.ReadFile(filepath.Join(g.Home, "openpgp-revocs.d", revoked+".rev"))
	if err != nil {
		t.Fatal(err)
	}
	g.Run([]byte(strings.Replace(string(rev), ":-----BEGIN", "-----BEGIN", 1)), "--import")
	signOnly := g.GenKey("Sig <sig@example.com>", "1y")
	// Delete the encryption subkey: the first subkey of a future-default key.
	g.Run([]byte("key 1\ndelkey\ny\nsave\n"), "--command-fd", "0", "--edit-key", signOnly)
	smime, _ := mailsectest.SMIMECert(t, dir, "bob", "bob@example.com", "")
	serverOnly, _ := mailsectest.SMIMECert(t, dir, "web", "web@example.com", "serverAuth")
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	now := time.Now()

	for _, c := range []struct {
		name, kind, email, text, want string
	}{
		{"openpgp ok", mailsec.KindOpenPGP, "Alice@Example.com", g.Export(good), ""},
		{"smime ok", mailsec.KindSMIME, "bob@example.com", read(smime), ""},
		{"garbage", mailsec.KindOpenPGP, "alice@example.com", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n", "not an armored OpenPGP public key"},
		{"not a certificate", mailsec.KindSMIME, "bob@example.com", "hello", "no PEM certificate"},
		{"wrong email", mailsec.KindOpenPGP, "mallory@example.com", g.Export(good), "no user ID of the OpenPGP key"},
		{"wrong email smime", mailsec.KindSMIME, "mallory@example.com", read(smime), "does not name mallory@example.com"},
		{"expired", mailsec.KindOpenPGP, "old@example.com", g.Export("old@example.com"), "expired on 2020-01-02"},
		{"expired smime", mailsec.KindSMIME, "eve@example.com", goCert(t, "eve@example.com", now.Add(-time.Hour), false), "expired on"},
		{"revoked", mailsec.KindOpenPGP, "rev@example.com", g.Export(revoked), "is revoked"},
		{"no encryption subkey", mailsec.KindOpenPGP, "sig@example.com", g.Export(signOnly), "no valid encryption subkey"},
		{"server certificate", mailsec.KindSMIME, "web@example.com", read(serverOnly), "not valid for e-mail protection"},
		{"ecdsa certificate", mailsec.KindSMIME, "ec@example.com", goCert(t, "ec@example.com", now.Add(time.Hour*24*30), true), "RSA certificates only"},
		{"secret key", mailsec.KindOpenPGP, "alice@example.com", g.ExportSecret(good), "this is a secret key"},
		{"bad address", mailsec.KindOpenPGP, "not an address", g.Export(good), "is not an e-mail address"},
		{"bad kind", "x509", "alice@example.com", g.Export(good), "want openpgp or smime"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := mailsec.ParsePublicKey(c.kind, c.email, c.text, now)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if k.Email != strings.ToLower(c.email) || k.ExpiresAt == nil || k.Usable(now) != nil || strings.Contains(k.Text, "PRIVATE") {
					t.Fatalf("key %+v", k)
				}
				return
			}
			var ke *mailsec.KeyError
			if !errors.As(err, &ke) || !strings.Contains(ke.Reason, c.want) {
				t.Fatalf("err %v, want a KeyError with %q", err, c.want)
			}
		})
	}
	// The expiry shown is the one gpg set; Usable turns false after it.
	k, err := mailsec.ParsePublicKey(mailsec.KindOpenPGP, "alice@example.com", g.Export(good), now)
	if err != nil {
		t.Fatal(err)
	}
	if d := k.ExpiresAt.Sub(now); d < 360*24*time.Hour || d > 367*24*time.Hour {
		t.Fatalf("expires %v", k.ExpiresAt)
	}
	if err := k.Usable(k.ExpiresAt.Add(time.Minute)); !errors.Is(err, mailsec.ErrExpired) {
		t.Fatalf("after expiry: %v", err)
	}
	if !bytes.Contains([]byte(k.String()), []byte(good)) {
		t.Fatalf("String %q", k.String())
	}
}
