// Package tlsutil loads Ferry's TLS certificate, or creates a self-signed one
// on first start so that FTPS and STARTTLS work before an operator installs
// a real certificate.
package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Load returns a server tls.Config (TLS 1.2 or newer). With certFile and
// keyFile empty it uses <dir>/tls/cert.pem and key.pem, creating a
// self-signed certificate for hosts there if they do not exist yet; created
// reports whether it did.
func Load(certFile, keyFile, dir string, hosts []string) (cfg *tls.Config, created bool, err error) {
	if certFile == "" {
		certFile = CertPath("", dir)
		keyFile = filepath.Join(dir, "tls", "key.pem")
		if _, statErr := os.Stat(certFile); errors.Is(statErr, os.ErrNotExist) {
			if created, err = writeSelfSigned(filepath.Dir(certFile), hosts); err != nil {
				return nil, false, err
			}
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, false, fmt.Errorf("load TLS certificate %s: %w", certFile, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}, created, nil
}

// CertPath is the certificate file Load reads: certFile, or with it empty
// the self-signed certificate in dir.
func CertPath(certFile, dir string) string {
	if certFile != "" {
		return certFile
	}
	return filepath.Join(dir, "tls", "cert.pem")
}

// Fingerprint is the SHA-256 fingerprint of a DER certificate the way
// FileZilla and `openssl x509 -fingerprint -sha256` show it: uppercase hex
// pairs joined by colons.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	out := make([]byte, 0, len(sum)*3)
	for i, b := range sum {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hexDigits[b>>4], hexDigits[b&0xf])
	}
	return string(out)
}

const hexDigits = "0123456789ABCDEF"

// FileFingerprint returns the Fingerprint of the first certificate in a PEM
// file (the server's own, ahead of its chain).
func FileFingerprint(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read TLS certificate: %w", err)
	}
	for len(data) > 0 {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			return Fingerprint(block.Bytes), nil
		}
	}
	return "", fmt.Errorf("read TLS certificate %s: no PEM certificate in it", path)
}

// writeSelfSigned creates tlsDir holding cert.pem and key.pem. Several
// nodes may start at once on one shared data folder: each writes its pair
// into a folder of its own and renames it into place, which only the first
// can do (a folder is not renamed over a non-empty one), so every node loads
// the same matching pair. won reports whether this call's pair is the one.
func writeSelfSigned(tlsDir string, hosts []string) (won bool, err error) {
	certPEM, keyPEM, err := SelfSigned(hosts)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(tlsDir), 0o750); err != nil {
		return false, fmt.Errorf("create data folder: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(tlsDir), ".tls-*") // mode 0700
	if err != nil {
		return false, fmt.Errorf("create TLS folder: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after a successful rename anyway
	if err := os.WriteFile(filepath.Join(tmp, "key.pem"), keyPEM, 0o600); err != nil {
		return false, fmt.Errorf("write key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "cert.pem"), certPEM, 0o644); err != nil {
		return false, fmt.Errorf("write certificate: %w", err)
	}
	if err := os.Rename(tmp, tlsDir); err != nil {
		if _, statErr := os.Stat(filepath.Join(tlsDir, "cert.pem")); statErr == nil {
			return false, nil // another node was first
		}
		return false, fmt.Errorf("create TLS folder: %w", err)
	}
	return true, nil
}

// SelfSigned returns a new self-signed certificate for localhost and hosts,
// and its key, PEM-encoded.
func SelfSigned(hosts []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("serial: %w", err)
	}
	tmpl := x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Ferry self-signed", Organization: []string{"Ferry"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range append([]string{"localhost", "127.0.0.1", "::1"}, hosts...) {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
