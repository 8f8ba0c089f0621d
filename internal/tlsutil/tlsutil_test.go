package tlsutil

import (
	"crypto/x509"
	"testing"
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
