package mailsec_test

import (
	"testing"
	"time"

	"github.com/ferryhq/ferry/mailsec"
)

// FuzzVerifyMessage: whatever arrives by SMTP, the signature check ends
// with a result, never a panic.
func FuzzVerifyMessage(f *testing.F) {
	f.Add([]byte(plainMail))
	f.Add([]byte("Content-Type: multipart/signed; boundary=\"b\"; protocol=\"application/pgp-signature\"\r\n\r\n--b\r\nx\r\n--b\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\n-----END PGP SIGNATURE-----\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: multipart/signed; boundary=b; protocol=application/pkcs7-signature\r\n\r\n--b\r\n\r\nx\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIB\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		v := mailsec.VerifyMessage(raw, nil, time.Now())
		switch v.Status {
		case mailsec.SigNone, mailsec.SigInvalid, mailsec.SigUnknownKey:
		default:
			t.Fatalf("status %q without any key", v.Status)
		}
	})
}
