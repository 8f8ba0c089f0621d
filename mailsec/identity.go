// Package mailsec is Ferry's e-mail and file cryptography: Ferry's own
// OpenPGP key and S/MIME certificate, the public keys operators register
// for contacts, signing and encrypting alerts (PGP/MIME, RFC 3156, and
// S/MIME, RFC 8551), verifying signed incoming mail, and encrypting and
// verifying partner files with OpenPGP. The cryptography itself is
// github.com/ProtonMail/go-crypto and github.com/smallstep/pkcs7; this
// package only assembles MIME and applies Ferry's rules (which key, which
// address, expired or revoked).
//
// notify, mailbox, files, api, web and cmd/ferry call it; it knows nothing
// of their protocols.
package mailsec

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Files of a generated identity, in <data dir>/mailsec.
const (
	DirName       = "mailsec"
	PGPKeyFile    = "openpgp-key.asc" // armored secret key, 0600
	SMIMECertFile = "smime-cert.pem"
	SMIMEKeyFile  = "smime-key.pem" // PKCS#8, 0600
)

// IdentityOptions say where Ferry's keys come from.
type IdentityOptions struct {
	// Email is the alert sender address the keys are made for; Name the
	// display name ("Ferry").
	Email, Name string
	// DataDir holds the generated keys (DataDir/mailsec) of any part
	// that is not configured.
	DataDir string
	// PGPKey is an armored OpenPGP secret key file (FERRY_PGP_KEY);
	// SMIMECert and SMIMEKey a PEM certificate and its key
	// (FERRY_SMIME_CERT, FERRY_SMIME_KEY). Empty: generated.
	PGPKey, SMIMECert, SMIMEKey string
}

// Identity is Ferry's own signing (and decryption) keys. Its secret
// halves stay in the value: nothing here prints or serializes them.
type Identity struct {
	Email  string
	pgp    *openpgp.Entity
	pgpPub string // armored public key
	cert   *x509.Certificate
	certPM []byte
	key    crypto.Signer
}

// LoadIdentity reads the configured keys, or the generated ones in
// DataDir, generating those on first start. created reports whether this
// call generated them.
func LoadIdentity(o IdentityOptions) (id *Identity, created bool, err error) {
	if o.Email == "" {
		return nil, false, errors.New("mailsec: no sender address for Ferry's keys")
	}
	dir := filepath.Join(o.DataDir, DirName)
	if o.PGPKey == "" || o.SMIMECert == "" {
		if _, statErr := os.Stat(filepath.Join(dir, PGPKeyFile)); errors.Is(statErr, os.ErrNotExist) {
			if created, err = generate(dir, o.Email, o.Name); err != nil {
				return nil, false, err
			}
		}
	}
	pgpFile, certFile, keyFile := o.PGPKey, o.SMIMECert, o.SMIMEKey
	if pgpFile == "" {
		pgpFile = filepath.Join(dir, PGPKeyFile)
	}
	if certFile == "" {
		certFile, keyFile = filepath.Join(dir, SMIMECertFile), filepath.Join(dir, SMIMEKeyFile)
	}
	id = &Identity{Email: o.Email}
	if id.pgp, err = readSecretKey(pgpFile); err != nil {
		return nil, false, err
	}
	if id.pgpPub, err = armoredPublic(id.pgp); err != nil {
		return nil, false, err
	}
	if id.cert, id.certPM, id.key, err = readCertKey(certFile, keyFile); err != nil {
		return nil, false, err
	}
	return id, created, nil
}

// OpenPGPPublicKey is Ferry's armored OpenPGP public key.
func (id *Identity) OpenPGPPublicKey() string { return id.pgpPub }

// OpenPGPFingerprint is the key's fingerprint, upper-case hex as gpg
// prints it.
func (id *Identity) OpenPGPFingerprint() string { return pgpFingerprint(id.pgp) }

// SMIMECertificate is Ferry's S/MIME certificate, PEM.
func (id *Identity) SMIMECertificate() string { return string(id.certPM) }

// SMIMEFingerprint is the certificate's SHA-256 fingerprint, upper-case
// hex pairs joined by colons as `openssl x509 -fingerprint -sha256` shows.
func (id *Identity) SMIMEFingerprint() string { return CertFingerprint(id.cert) }

// SMIMENotAfter is when the certificate expires.
func (id *Identity) SMIMENotAfter() time.Time { return id.cert.NotAfter }

// String names the identity without any secret, for logs.
func (id *Identity) String() string {
	return fmt.Sprintf("%s (OpenPGP %s, S/MIME %s)", id.Email, id.OpenPGPFingerprint(), id.SMIMEFingerprint())
}

func pgpFingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// CertFingerprint is a certificate's SHA-256 fingerprint in openssl's form.
func CertFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func readSecretKey(path string) (*openpgp.Entity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mailsec: OpenPGP key: %w", err)
	}
	defer f.Close()
	el, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		return nil, fmt.Errorf("mailsec: OpenPGP key %s: %w", path, err)
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("mailsec: OpenPGP key %s: want one key, found %d", path, len(el))
	}
	e := el[0]
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("mailsec: OpenPGP key %s: a public key; Ferry needs the secret key to sign", path)
	}
	if e.PrivateKey.Encrypted {
		return nil, fmt.Errorf("mailsec: OpenPGP key %s is protected by a passphrase; export it without one (the file is Ferry's, mode 0600)", path)
	}
	if _, ok := e.SigningKey(time.Now()); !ok {
		return nil, fmt.Errorf("mailsec: OpenPGP key %s has no valid signing key (expired or revoked?)", path)
	}
	return e, nil
}

func armoredPublic(e *openpgp.Entity) (string, error) {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		return "", err
	}
	if err := e.Serialize(w); err != nil {
		return "", fmt.Errorf("mailsec: serialize public key: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	b.WriteByte('\n')
	return b.String(), nil
}

func readCertKey(certFile, keyFile string) (*x509.Certificate, []byte, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mailsec: S/MIME certificate: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, nil, nil, fmt.Errorf("mailsec: S/MIME certificate %s: no PEM certificate in it", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mailsec: S/MIME certificate %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mailsec: S/MIME key: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, nil, fmt.Errorf("mailsec: S/MIME key %s: no PEM key in it", keyFile)
	}
	var key any
	switch kb.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mailsec: S/MIME key %s: %w", keyFile, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, nil, fmt.Errorf("mailsec: S/MIME key %s: not a signing key", keyFile)
	}
	if !publicEqual(signer.Public(), cert.PublicKey) {
		return nil, nil, nil, fmt.Errorf("mailsec: S/MIME key %s does not belong to certificate %s", keyFile, certFile)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), signer, nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// generate writes a new identity into dir. Several nodes may start at
// once on one shared data folder: each writes into a folder of its own and
// renames it into place, which only the first can do, so every node loads
// the same keys (the way the self-signed TLS certificate is made).
func generate(dir, email, name string) (won bool, err error) {
	if name == "" {
		name = "Ferry"
	}
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, DefaultHash: crypto.SHA256}
	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		return false, fmt.Errorf("mailsec: generate OpenPGP key: %w", err)
	}
	var sec bytes.Buffer
	w, err := armor.Encode(&sec, openpgp.PrivateKeyType, nil)
	if err != nil {
		return false, err
	}
	if err := e.SerializePrivate(w, cfg); err != nil {
		return false, fmt.Errorf("mailsec: serialize OpenPGP key: %w", err)
	}
	if err := w.Close(); err != nil {
		return false, err
	}
	sec.WriteByte('\n')
	certPEM, keyPEM, err := selfSignedSMIME(email, name)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return false, fmt.Errorf("mailsec: create data folder: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".mailsec-*") // mode 0700
	if err != nil {
		return false, fmt.Errorf("mailsec: create key folder: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after a successful rename anyway
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{PGPKeyFile, sec.Bytes(), 0o600}, {SMIMEKeyFile, keyPEM, 0o600}, {SMIMECertFile, certPEM, 0o644}} {
		if err := os.WriteFile(filepath.Join(tmp, f.name), f.data, f.mode); err != nil {
			return false, fmt.Errorf("mailsec: write %s: %w", f.name, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, PGPKeyFile)); statErr == nil {
			return false, nil // another node was first
		}
		return false, fmt.Errorf("mailsec: create key folder: %w", err)
	}
	return true, nil
}

// selfSignedSMIME makes an RSA-3072 certificate for email, valid for
// e-mail protection (signing and key encipherment) for five years.
func selfSignedSMIME(email, name string) (certPEM, keyPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return nil, nil, fmt.Errorf("mailsec: generate S/MIME key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("mailsec: serial: %w", err)
	}
	tmpl := x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: name + " <" + email + ">", Organization: []string{"Ferry"}},
		EmailAddresses: []string{email},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().AddDate(5, 0, 0),
		KeyUsage:       x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		// Self-signed: partners trust it by its fingerprint, as they
		// would a PGP key, or replace it with FERRY_SMIME_CERT.
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("mailsec: create S/MIME certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("mailsec: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// PublicKeys are Ferry's own keys as registered keys of its sender
// address, so that its alerts verify like any partner's mail.
func (id *Identity) PublicKeys() []*PublicKey {
	t := id.cert.NotAfter.UTC()
	return []*PublicKey{
		{Kind: KindOpenPGP, Email: strings.ToLower(id.Email), Fingerprint: id.OpenPGPFingerprint(), Text: id.pgpPub, pgp: id.pgp},
		{Kind: KindSMIME, Email: strings.ToLower(id.Email), Fingerprint: id.SMIMEFingerprint(), ExpiresAt: &t, Text: string(id.certPM), cert: id.cert},
	}
}
