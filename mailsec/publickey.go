package mailsec

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Kinds of public key.
const (
	KindOpenPGP = "openpgp"
	KindSMIME   = "smime"
)

// KeyError is a public key Ferry refuses, with the reason in words an
// operator can act on (the API's 422).
type KeyError struct{ Reason string }

func (e *KeyError) Error() string { return e.Reason }

func refuse(format string, args ...any) error { return &KeyError{Reason: fmt.Sprintf(format, args...)} }

// ErrExpired is the error of Usable for a key that expired since it was
// registered (a *KeyError wraps no error; test with errors.As and this).
var ErrExpired = errors.New("mailsec: key expired")

// PublicKey is a contact's OpenPGP public key or S/MIME certificate.
type PublicKey struct {
	Kind        string     // KindOpenPGP or KindSMIME
	Email       string     // the address it was registered for, lower case
	Fingerprint string     // OpenPGP: hex of the primary key; S/MIME: SHA-256 of the certificate
	ExpiresAt   *time.Time // nil: does not expire
	Text        string     // the armored key or PEM certificate, public only

	pgp  *openpgp.Entity
	cert *x509.Certificate
}

// ParsePublicKey reads a key an operator registers for email and applies
// the rules: it must be a public key (never a secret one) or certificate,
// name the address in a user ID or the certificate, be neither expired nor
// revoked, and be usable for e-mail (an encryption subkey; a certificate
// for e-mail protection with an RSA key, which S/MIME encryption needs).
// The errors are *KeyError.
func ParsePublicKey(kind, email, text string, now time.Time) (*PublicKey, error) {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != strings.TrimSpace(email) {
		return nil, refuse("email %q is not an e-mail address", email)
	}
	email = strings.ToLower(a.Address)
	var k *PublicKey
	switch kind {
	case KindOpenPGP:
		k, err = parsePGP(text, email, now)
	case KindSMIME:
		k, err = parseCert(text, email, now)
	default:
		return nil, refuse("key kind %q: want openpgp or smime", kind)
	}
	if err != nil {
		return nil, err
	}
	k.Email = email
	return k, nil
}

// LoadPublicKey reads a key registered earlier (already checked when it
// was added), for use; Usable tells whether it still is.
func LoadPublicKey(kind, email, text string) (*PublicKey, error) {
	var k *PublicKey
	var err error
	switch kind {
	case KindOpenPGP:
		k, err = readPGP(text)
	case KindSMIME:
		k, err = readCert(text)
	default:
		return nil, fmt.Errorf("mailsec: key kind %q", kind)
	}
	if err != nil {
		return nil, err
	}
	k.Email = strings.ToLower(email)
	return k, nil
}

// Usable says whether the key can still be used at now: ErrExpired (or a
// revocation) otherwise.
func (k *PublicKey) Usable(now time.Time) error {
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return fmt.Errorf("%w on %s", ErrExpired, k.ExpiresAt.UTC().Format(time.DateOnly))
	}
	if k.pgp != nil {
		if k.pgp.Revoked(now) {
			return errors.New("mailsec: key revoked")
		}
		if _, ok := k.pgp.EncryptionKey(now); !ok {
			return fmt.Errorf("%w: no valid encryption subkey", ErrExpired)
		}
	}
	if k.cert != nil && now.Before(k.cert.NotBefore) {
		return errors.New("mailsec: certificate not valid yet")
	}
	return nil
}

func readPGP(text string) (*PublicKey, error) {
	el, err := openpgp.ReadArmoredKeyRing(strings.NewReader(text))
	if err != nil {
		return nil, refuse("not an armored OpenPGP public key: %v", err)
	}
	if len(el) != 1 {
		return nil, refuse("want exactly one OpenPGP key, found %d", len(el))
	}
	e := el[0]
	if e.PrivateKey != nil {
		return nil, refuse("this is a secret key: register the public key only (gpg --armor --export)")
	}
	k := &PublicKey{Kind: KindOpenPGP, Fingerprint: pgpFingerprint(e), pgp: e}
	if sig, _ := e.PrimarySelfSignature(); sig != nil && sig.KeyLifetimeSecs != nil && *sig.KeyLifetimeSecs > 0 {
		t := e.PrimaryKey.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second).UTC()
		k.ExpiresAt = &t
	}
	// Store the public part only, armored again: whatever else was pasted
	// (comments, a second armor block) is dropped.
	if k.Text, err = armoredPublic(e); err != nil {
		return nil, err
	}
	return k, nil
}

func parsePGP(text, email string, now time.Time) (*PublicKey, error) {
	k, err := readPGP(text)
	if err != nil {
		return nil, err
	}
	e := k.pgp
	if e.Revoked(now) {
		return nil, refuse("the OpenPGP key %s is revoked", k.Fingerprint)
	}
	if sig, _ := e.PrimarySelfSignature(); sig == nil || e.PrimaryKey.KeyExpired(sig, now) {
		when := "already"
		if k.ExpiresAt != nil {
			when = "on " + k.ExpiresAt.Format(time.DateOnly)
		}
		return nil, refuse("the OpenPGP key %s expired %s", k.Fingerprint, when)
	}
	var ids []string
	named := false
	for _, ident := range e.Identities {
		if ident.UserId == nil {
			continue
		}
		ids = append(ids, ident.Name)
		if strings.EqualFold(ident.UserId.Email, email) && !ident.Revoked(now) {
			named = true
		}
	}
	if !named {
		return nil, refuse("no user ID of the OpenPGP key %s names %s (it has: %s)", k.Fingerprint, email, strings.Join(ids, "; "))
	}
	if _, ok := e.EncryptionKey(now); !ok {
		return nil, refuse("the OpenPGP key %s has no valid encryption subkey (expired or revoked)", k.Fingerprint)
	}
	return k, nil
}

var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

func readCert(text string) (*PublicKey, error) {
	rest := []byte(text)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, refuse("no PEM certificate (-----BEGIN CERTIFICATE-----) in the text")
		}
		if strings.Contains(b.Type, "PRIVATE KEY") {
			return nil, refuse("this is a private key: register the certificate only")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, refuse("not an X.509 certificate: %v", err)
		}
		t := c.NotAfter.UTC()
		return &PublicKey{Kind: KindSMIME, Fingerprint: CertFingerprint(c), ExpiresAt: &t, cert: c,
			Text: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))}, nil
	}
}

// certEmails are the addresses a certificate names: its rfc822Name
// subject alternative names and the subject's emailAddress attribute.
func certEmails(c *x509.Certificate) []string {
	out := append([]string(nil), c.EmailAddresses...)
	for _, n := range c.Subject.Names {
		if n.Type.Equal(oidEmailAddress) {
			if s, ok := n.Value.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func parseCert(text, email string, now time.Time) (*PublicKey, error) {
	k, err := readCert(text)
	if err != nil {
		return nil, err
	}
	c := k.cert
	if now.After(c.NotAfter) {
		return nil, refuse("the certificate %s expired on %s", k.Fingerprint, c.NotAfter.UTC().Format(time.DateOnly))
	}
	if now.Before(c.NotBefore) {
		return nil, refuse("the certificate %s is not valid before %s", k.Fingerprint, c.NotBefore.UTC().Format(time.DateOnly))
	}
	emails := certEmails(c)
	if !slices.ContainsFunc(emails, func(s string) bool { return strings.EqualFold(s, email) }) {
		return nil, refuse("the certificate %s does not name %s (it names: %s)", k.Fingerprint, email, strings.Join(emails, ", "))
	}
	if len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 {
		if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageEmailProtection) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
			return nil, refuse("the certificate %s is not valid for e-mail protection (its extended key usage lacks emailProtection)", k.Fingerprint)
		}
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		return nil, refuse("the certificate %s is not valid for e-mail encryption (its key usage lacks keyEncipherment)", k.Fingerprint)
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return nil, refuse("the certificate %s has a %s key; Ferry encrypts S/MIME mail to RSA certificates only", k.Fingerprint, c.PublicKeyAlgorithm)
	}
	return k, nil
}

// String names the key for logs and messages.
func (k *PublicKey) String() string { return k.Kind + " " + k.Fingerprint + " <" + k.Email + ">" }
