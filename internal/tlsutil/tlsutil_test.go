package tlsutil

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testenv"
)

func TestSelfSignedCreatedOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	cfg, created, err := Load("", "", dir, []string{"ftp.example.com", "203.0.113.7"})
	if err != nil || !created {
		t.Fatalf("first Load: created=%v err=%v", created, err)
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("ftp.example.com"); err != nil {
		t.Errorf("host name missing: %v", err)
	}
	if err := leaf.VerifyHostname("203.0.113.7"); err != nil {
		t.Errorf("IP missing: %v", err)
	}
	cfg2, created, err := Load("", "", dir, nil)
	if err != nil || created {
		t.Fatalf("second Load: created=%v err=%v", created, err)
	}
	if string(cfg2.Certificates[0].Certificate[0]) != string(cfg.Certificates[0].Certificate[0]) {
		t.Fatal("certificate was regenerated instead of reused")
	}
}

func TestConfiguredCertMissing(t *testing.T) {
	if _, _, err := Load("/nonexistent/cert.pem", "/nonexistent/key.pem", t.TempDir(), nil); err == nil {
		t.Fatal("want an error for a missing configured certificate")
	}
}

// Nodes starting at once on one shared data folder all end up with the
// same matching certificate and key; exactly one of them created it.
func TestSelfSignedConcurrentStarts(t *testing.T) {
	dir := t.TempDir()
	const nodes = 8
	type result struct {
		leaf    []byte
		created bool
		err     error
	}
	results := make(chan result, nodes)
	for range nodes {
		go func() {
			cfg, created, err := Load("", "", dir, nil)
			if err != nil {
				results <- result{err: err}
				return
			}
			results <- result{leaf: cfg.Certificates[0].Certificate[0], created: created}
		}()
	}
	var first []byte
	creators := 0
	for range nodes {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.created {
			creators++
		}
		if first == nil {
			first = r.leaf
		} else if string(first) != string(r.leaf) {
			t.Fatal("nodes loaded different certificates")
		}
	}
	if creators != 1 {
		t.Fatalf("%d nodes report creating the certificate, want 1", creators)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "tls" {
		t.Fatalf("left behind in the data folder: %v", entries)
	}
}

// The fingerprint Ferry prints is the one FileZilla shows and openssl
// computes: SHA-256, uppercase hex pairs with colons.
func TestFingerprintMatchesOpenSSL(t *testing.T) {
	openssl := testenv.Need(t, "openssl")
	dir := t.TempDir()
	cfg, _, err := Load("", "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "x509", "-noout", "-fingerprint", "-sha256", "-in", CertPath("", dir)).Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	_, want, _ := strings.Cut(strings.TrimSpace(string(out)), "=")
	if got := Fingerprint(cfg.Certificates[0].Certificate[0]); got != want || len(got) != 95 {
		t.Fatalf("Fingerprint = %q, openssl says %q", got, want)
	}
	if got, err := FileFingerprint(CertPath("", dir)); err != nil || got != want {
		t.Fatalf("FileFingerprint = %q, %v; want %q", got, err, want)
	}
	if _, err := FileFingerprint(filepath.Join(dir, "tls", "key.pem")); err == nil {
		t.Fatal("FileFingerprint of a key file: no error")
	}
}
