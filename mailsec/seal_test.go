package mailsec_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/mailsec"
	"github.com/ferryhq/ferry/mailsec/mailsectest"
)

const plainMail = "From: Ferry <ferry@ferry.test>\r\nTo: alice@example.com\r\nSubject: Upload: report.csv\r\n" +
	"Message-Id: <abc@ferry.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n\r\nreport.csv arrived =E2=9C=93\r\nsecond line\r\n"

// signedParts returns the signed entity and the signature part's body of
// a multipart/signed message, as RFC 1847 defines them.
func signedParts(t *testing.T, msg string) (entity, sig string) {
	t.Helper()
	m := regexp.MustCompile(`boundary="([^"]+)"`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("no boundary in\n%s", msg)
	}
	parts := strings.Split(msg, "\r\n--"+m[1])
	// preamble, entity, signature, "--" epilogue
	if len(parts) != 4 || parts[3] != "--\r\n" {
		t.Fatalf("%d parts in\n%s", len(parts), msg)
	}
	entity = strings.TrimPrefix(parts[1], "\r\n")
	sig = parts[2][strings.Index(parts[2], "\r\n\r\n")+4:]
	return entity, sig
}

func TestSealOpenPGPReadByGPG(t *testing.T) {
	id := loadIdentity(t, t.TempDir())
	g := mailsectest.NewGPG(t)
	g.Import(id.OpenPGPPublicKey())
	g.Trust(id.OpenPGPFingerprint())
	dir := t.TempDir()

	// Signed only: gpg verifies the detached signature over the entity.
	out, err := id.Seal([]byte(plainMail), mailsec.SignOpenPGP, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(out)
	for _, want := range []string{"Subject: Upload: report.csv\r\n", "Message-Id: <abc@ferry.test>\r\n",
		`protocol="application/pgp-signature"`, "micalg=pgp-sha256"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("no %q in\n%s", want, msg)
		}
	}
	entity, sig := signedParts(t, msg)
	if !strings.HasPrefix(entity, "Content-Type: text/plain") || !strings.Contains(entity, "second line") {
		t.Fatalf("entity\n%s", entity)
	}
	os.WriteFile(filepath.Join(dir, "entity"), []byte(entity), 0o600)
	os.WriteFile(filepath.Join(dir, "sig.asc"), []byte(sig), 0o600)
	_, stderr := g.Run(nil, "--verify", filepath.Join(dir, "sig.asc"), filepath.Join(dir, "entity"))
	if !strings.Contains(stderr, `Good signature from "Ferry <ferry@ferry.test>"`) {
		t.Fatalf("gpg --verify:\n%s", stderr)
	}
	// One byte changed: bad signature.
	os.WriteFile(filepath.Join(dir, "entity"), []byte(strings.Replace(entity, "second", "Second", 1)), 0o600)
	if _, stderr, err := g.Try(nil, "--verify", filepath.Join(dir, "sig.asc"), filepath.Join(dir, "entity")); err == nil || !strings.Contains(stderr, "BAD signature") {
		t.Fatalf("tampered entity verified: %v\n%s", err, stderr)
	}

	// Encrypted to Alice: gpg with her secret key decrypts and reports a
	// good signature from Ferry's published key.
	alice := g.GenKey("Alice <alice@example.com>", "1y")
	key, err := mailsec.ParsePublicKey(mailsec.KindOpenPGP, "alice@example.com", g.Export(alice), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, err = id.Seal([]byte(plainMail), mailsec.SignOpenPGP, key)
	if err != nil {
		t.Fatal(err)
	}
	msg = string(out)
	if !strings.Contains(msg, `Content-Type: multipart/encrypted;`) || strings.Contains(msg, "second line") {
		t.Fatalf("not encrypted:\n%s", msg)
	}
	armored := msg[strings.Index(msg, "-----BEGIN PGP MESSAGE-----") : strings.Index(msg, "-----END PGP MESSAGE-----")+25]
	plain, stderr := g.Run([]byte(armored), "--decrypt")
	if !strings.Contains(stderr, `Good signature from "Ferry <ferry@ferry.test>"`) || !strings.Contains(stderr, id.OpenPGPFingerprint()[30:]) {
		t.Fatalf("gpg --decrypt:\n%s", stderr)
	}
	if !strings.HasPrefix(plain, "Content-Type: text/plain; charset=utf-8\r\n") || !strings.Contains(plain, "report.csv arrived =E2=9C=93\r\nsecond line") {
		t.Fatalf("decrypted:\n%s", plain)
	}
}

func TestSealSMIMEReadByOpenSSL(t *testing.T) {
	id := loadIdentity(t, t.TempDir())
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ferry.pem"), []byte(id.SMIMECertificate()), 0o600)

	out, err := id.Seal([]byte(plainMail), mailsec.SignSMIME, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "signed.eml"), out, 0o600)
	for _, tool := range []string{"smime", "cms"} {
		res, _ := mailsectest.OpenSSL(t, dir, nil, false, tool, "-verify", "-in", "signed.eml", "-CAfile", "ferry.pem")
		if !strings.Contains(res, "Verification successful") || !strings.Contains(res, "second line") {
			t.Fatalf("openssl %s -verify:\n%s", tool, res)
		}
	}
	os.WriteFile(filepath.Join(dir, "tampered.eml"), []byte(strings.Replace(string(out), "second line", "second linE", 1)), 0o600)
	if res, err := mailsectest.OpenSSL(t, dir, nil, true, "cms", "-verify", "-in", "tampered.eml", "-CAfile", "ferry.pem"); err == nil {
		t.Fatalf("tampered mail verified:\n%s", res)
	}

	cert, keyFile := mailsectest.SMIMECert(t, dir, "bob", "bob@example.com", "")
	pemText, _ := os.ReadFile(cert)
	key, err := mailsec.ParsePublicKey(mailsec.KindSMIME, "bob@example.com", string(pemText), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, err = id.Seal([]byte(plainMail), mailsec.SignSMIME, key)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "second line") || !strings.Contains(string(out), "smime-type=enveloped-data") {
		t.Fatalf("not encrypted:\n%s", out)
	}
	os.WriteFile(filepath.Join(dir, "enc.eml"), out, 0o600)
	mailsectest.OpenSSL(t, dir, nil, false, "smime", "-decrypt", "-in", "enc.eml", "-recip", cert, "-inkey", keyFile, "-out", "dec.eml")
	res, _ := mailsectest.OpenSSL(t, dir, nil, false, "cms", "-verify", "-in", "dec.eml", "-CAfile", "ferry.pem")
	if !strings.Contains(res, "Verification successful") || !strings.Contains(res, "second line") {
		t.Fatalf("decrypted and verified:\n%s", res)
	}
}
